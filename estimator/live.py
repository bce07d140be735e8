"""Live webcam: the services behind ``/ws/live/`` (consumers.LiveConsumer).

The flow: the consumer checks each binary frame (:func:`frame_problem`), keeps one frame in
flight and hands it to :func:`frame_dispatch`, which runs :func:`frame_estimate` in a worker
process (Celery queue ``live``) or, without Redis, on a thread of this process. Either way
the answer comes back to the consumer's channel as a ``live.result`` message; the consumer
then tracks and smooths the faces (:func:`frame_answer`) and sends the result.

Frames are never stored: they live in memory from the moment they arrive until answered.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from PIL import Image, UnidentifiedImageError

from ml import ages
from ml.inference import AGE_GROUPS
from ml.tracking import Tracker

from .loader import load_estimator

logger = logging.getLogger(__name__)

FORMATS = {"JPEG", "PNG", "WEBP"}
SHOW_AGE_AFTER = 3  # frames a track must have been seen in before the page shows its age


class FrameProblem(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def frame_problem(data: bytes) -> FrameProblem | None:
    """Why this frame cannot be estimated (read from its header only), or None."""
    limit = settings.AGEWEB_LIVE_MAX_FRAME_BYTES
    if len(data) > limit:
        return FrameProblem("too_large", f"The frame is {len(data) / 2**20:.1f} MB; the limit is {limit // 2**20} MB.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return FrameProblem("not_an_image", "The frame is not an image; send JPEG, PNG or WebP.")
    if kind not in FORMATS:
        return FrameProblem("unsupported_type", f"{kind} frames are not supported; send JPEG, PNG or WebP.")
    longest, shortest = settings.AGEWEB_LIVE_MAX_FRAME_SIDES
    if max(width, height) > longest or min(width, height) > shortest:
        return FrameProblem(
            "too_many_pixels", f"The frame is {width}x{height}; the limit is {longest}x{shortest} (either way round)."
        )
    return None


def frame_estimate(*, frame: bytes) -> dict[str, Any]:
    """Faces and 101-way distributions of one frame, as the worker sends them back."""
    start = time.perf_counter()
    try:
        estimate = load_estimator().estimate_frame(frame)
    except ValueError:  # ml.inference.ImageError: the header was fine, the pixels are not
        return {"error": {"code": "damaged", "message": "The frame could not be decoded; it may be damaged."}}
    return {
        "width": estimate.width,
        "height": estimate.height,
        "faces": [{"box": list(face.box), "distribution": list(face.distribution)} for face in estimate.faces],
        "model_version": estimate.model_version,
        "inference_ms": round((time.perf_counter() - start) * 1000, 1),
    }


@functools.cache
def _executor() -> ThreadPoolExecutor:
    # Live frames in `make run` get threads of their own: never behind uploads' thread.
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="live")


async def frame_dispatch(*, frame: bytes, seq: int, reply_to: str) -> None:
    """Estimate a frame in the background; the answer arrives on ``reply_to`` as a
    ``live.result`` message. Returns at once: inference never runs on the event loop."""
    if settings.AGEWEB_RUN_TASKS_IN_PROCESS:
        task = asyncio.create_task(_estimate_here(frame, seq, reply_to))
        _running.add(task)
        task.add_done_callback(_running.discard)
        return
    from .tasks import live_frame

    payload = base64.b64encode(frame).decode("ascii")
    send = functools.partial(
        live_frame.apply_async, args=[payload, reply_to, seq], expires=settings.AGEWEB_LIVE_FRAME_TIMEOUT
    )
    await sync_to_async(send, thread_sensitive=False)()


_running: set[Any] = set()  # the event loop keeps only weak references to tasks


async def _estimate_here(frame: bytes, seq: int, reply_to: str) -> None:
    run = sync_to_async(frame_estimate, thread_sensitive=False, executor=_executor())
    try:
        answer = await run(frame=frame)
    except Exception:
        logger.exception("A live frame failed")
        answer = {"error": {"code": "failed", "message": "Something went wrong with this frame."}}
    await get_channel_layer().send(reply_to, {"type": "live.result", "seq": seq, **answer})


def frame_answer(*, tracker: Tracker, seq: int, answer: dict[str, Any], ms: float) -> dict[str, Any]:
    """The message the client gets for a frame's answer: faces tracked, ages smoothed."""
    if "error" in answer:
        return {"type": "error", "seq": seq, **answer["error"]}
    found = answer["faces"]
    tracks = tracker.update([tuple(f["box"]) for f in found], [f["distribution"] for f in found])
    faces = []
    for face, track in zip(found, tracks, strict=True):
        x, y, width, height = face["box"]
        dist = track.distribution
        low, high = ages.interval(dist)
        faces.append(
            {
                "track": track.id,
                "box": {"x": x, "y": y, "width": width, "height": height},
                "age": round(float(ages.expected_age(dist)), 1),
                "interval": [round(float(low), 1), round(float(high), 1)],
                "groups": [
                    {"label": label, "probability": round(float(p), 4)}
                    for label, p in zip(AGE_GROUPS, ages.group_probs(dist), strict=True)
                ],
                "frames": track.frames,
                "steady": track.frames >= SHOW_AGE_AFTER,
            }
        )
    return {
        "type": "result",
        "seq": seq,
        "width": answer["width"],
        "height": answer["height"],
        "faces": faces,
        "ms": round(ms, 1),
        "inference_ms": answer["inference_ms"],
        "model_version": answer["model_version"],
    }


def _slot_key(user_id: int, slot: int) -> str:
    return f"live:{user_id}:{slot}"


def _slot_timeout() -> int:
    return settings.AGEWEB_LIVE_IDLE_SECONDS * 2  # outlives a dead process by this much at most


async def slot_take(*, user_id: int, channel: str) -> int | None:
    """One of the user's ``AGEWEB_LIVE_MAX_CONNECTIONS`` live slots, or None when all are
    taken. Slots live in the cache (Redis in production), so the limit holds across web
    processes; a slot whose process died frees itself after its timeout."""
    for slot in range(settings.AGEWEB_LIVE_MAX_CONNECTIONS):
        if await cache.aadd(_slot_key(user_id, slot), channel, timeout=_slot_timeout()):
            return slot
    return None


async def slot_keep(*, user_id: int, slot: int) -> None:
    await cache.atouch(_slot_key(user_id, slot), timeout=_slot_timeout())


async def slot_free(*, user_id: int, slot: int, channel: str) -> None:
    key = _slot_key(user_id, slot)
    if await cache.aget(key) == channel:
        await cache.adelete(key)
