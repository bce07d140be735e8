"""Live webcam: the frames behind ``/ws/live/`` (``consumer.LiveConsumer``).

The flow: the consumer checks each binary frame (:func:`frame_problem`), keeps one frame in
flight and hands it to :func:`frame_dispatch`, which runs :func:`frame_estimate` in a worker
process (Celery queue ``live``) or, without Redis, on a thread of this process. Either way
the answer comes back to the consumer's channel as a ``live.result`` message; the consumer
then tracks and smooths the faces (:func:`frame_answer`) and sends the result.

Frames are never stored: they live in memory from the moment they arrive until answered.
"""

from __future__ import annotations

import base64
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError

from ml import ages
from ml.tracking import Tracker

from ..dispatch import dispatch
from ..images import image_header
from ..loader import load_estimator

logger = logging.getLogger(__name__)

FORMATS = {"JPEG", "PNG", "WEBP"}
LIVE_TASK = "estimator.tasks.live_frame"  # sent by name, as uploads are
SHOW_AGE_AFTER = 3  # frames a track must have been seen in before the page shows its age


@dataclass(frozen=True)
class FrameProblem:
    """Why a frame is refused: a code for programs, a sentence for people."""

    code: str
    message: str


def frame_problem(data: bytes) -> FrameProblem | None:
    """Why this frame cannot be estimated (read from its header only), or None."""
    limit = settings.AGEWEB_LIVE_MAX_FRAME_BYTES
    if len(data) > limit:
        return FrameProblem("too_large", f"The frame is {len(data) / 2**20:.1f} MB; the limit is {limit // 2**20} MB.")
    try:
        with image_header(data) as image:
            kind, (width, height) = image.format, image.size
    except ValidationError:
        return FrameProblem("not_an_image", "The frame is not an image; send JPEG, PNG or WebP.")
    if kind not in FORMATS:
        return FrameProblem("unsupported_type", f"{kind} frames are not supported; send JPEG, PNG or WebP.")
    longest, shortest = settings.AGEWEB_LIVE_MAX_FRAME_SIDES
    if max(width, height) > longest or min(width, height) > shortest:
        return FrameProblem(
            "too_many_pixels", f"The frame is {width}x{height}; the limit is {longest}x{shortest} (either way round)."
        )
    return None


DAMAGED = {"code": "damaged", "message": "The frame could not be decoded; it may be damaged."}
FAILED = {"code": "failed", "message": "Something went wrong with this frame."}


def frame_estimate(*, frame: bytes) -> dict[str, Any]:
    """Faces and 101-way distributions of one frame, as the worker sends them back; an
    ``error`` instead when the frame cannot be estimated, so the stream hears at once."""
    start = time.perf_counter()
    try:
        estimate = load_estimator().estimate_frame(frame)
    except ValueError:  # ml.inference.ImageError: the header was fine, the pixels are not
        return {"error": DAMAGED}
    except Exception:
        logger.exception("A live frame failed")
        return {"error": FAILED}
    return {
        "width": estimate.width,
        "height": estimate.height,
        "faces": [
            {"box": list(face.box), "distribution": list(face.distribution), "appearance": face.appearance}
            for face in estimate.faces
        ],
        "model_version": estimate.model_version,
        "inference_ms": round((time.perf_counter() - start) * 1000, 1),
    }


async def frame_dispatch(*, frame: bytes, seq: int, reply_to: str) -> None:
    """Estimate a frame in the background; the answer arrives on ``reply_to`` as a
    ``live.result`` message. Returns at once: inference never runs on the event loop."""
    payload = base64.b64encode(frame).decode("ascii")
    send = functools.partial(
        dispatch, LIVE_TASK, args=[payload, reply_to, seq], lane="live", expires=settings.AGEWEB_LIVE_FRAME_TIMEOUT
    )
    await sync_to_async(send, thread_sensitive=False)()


def frame_answer(*, tracker: Tracker, seq: int, answer: dict[str, Any], ms: float) -> dict[str, Any]:
    """The message the client gets for a frame's answer: faces tracked, ages smoothed."""
    if "error" in answer:
        return {"type": "error", "seq": seq, **answer["error"]}
    found = answer["faces"]
    tracks = tracker.update(
        [tuple(f["box"]) for f in found], [f["distribution"] for f in found], [f.get("appearance") for f in found]
    )
    faces = []
    for face, track in zip(found, tracks, strict=True):
        x, y, width, height = face["box"]
        summary = ages.summarize(track.distribution)
        faces.append(
            {
                "track": track.id,
                "box": {"x": x, "y": y, "width": width, "height": height},
                "age": round(summary.age, 1),
                "interval": [round(summary.low, 1), round(summary.high, 1)],
                "groups": [{"label": label, "probability": round(p, 4)} for label, p in summary.groups.items()],
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
