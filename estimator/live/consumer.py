"""``/ws/live/``: binary webcam frames in, one JSON answer per frame out (README: "Live webcam")."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from typing import Any

from django.conf import settings

from accounts.websocket_auth import RevocableConsumer
from ageweb.metrics import LIVE_FRAMES
from ml.tracking import Tracker

from . import frames, slots

logger = logging.getLogger(__name__)

# Close codes (README: "Live webcam"); 4403 (access revoked) is accounts.websocket_auth's.
UNAUTHENTICATED = 4401
IDLE = 4408
TOO_MANY_CONNECTIONS = 4409
TOO_FAST = 4429
NOT_A_FRAME = {"code": "not_a_frame", "message": "Send each frame as a binary message (JPEG, PNG or WebP)."}
BUSY = {"code": "busy", "message": "The server is busy and dropped this frame; the next one may fare better."}


class LiveConsumer(RevocableConsumer):
    """``/ws/live/``: binary frames in, one JSON answer per frame out (README: "Live webcam").

    One frame is in flight at a time; a frame that arrives meanwhile waits as the newest,
    and a newer one replaces it (the replaced one is answered "skipped"). Every state
    change happens in a handler, one message at a time; the watchdog only sends messages."""

    slot: int | None = None
    watchdog: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        await self.accept()  # accepted first, so that a refusal can carry its close code
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED, reason="Log in (or send an API token) to stream.")
            return
        self.user_id: int = user.pk
        self.slot = await slots.slot_take(user_id=self.user_id, channel=self.channel_name)
        if self.slot is None:
            limit = settings.AGEWEB_LIVE_MAX_CONNECTIONS
            await self.close(code=TOO_MANY_CONNECTIONS, reason=f"At most {limit} live streams at once per user.")
            return
        await self.user_group_join(self.user_id)
        self.tracker = Tracker()
        self.next_seq = 0
        self.in_flight: tuple[int, float] | None = None  # seq, when it arrived
        self.waiting: tuple[int, float, bytes] | None = None  # the newest frame not yet sent on
        self.budget = float(settings.AGEWEB_LIVE_MAX_FPS)  # a token bucket of frames per second
        self.last_frame = self.budget_at = time.monotonic()
        self.watchdog = asyncio.create_task(self.watch())

    async def disconnect(self, code: int) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
        if self.slot is not None:
            await slots.slot_free(user_id=self.user_id, slot=self.slot, channel=self.channel_name)
        await self.user_group_leave()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        now = time.monotonic()
        if not self.take_budget(now):  # every message counts: a text costs an answer too
            limit = settings.AGEWEB_LIVE_MAX_FPS
            await self.close(code=TOO_FAST, reason=f"More than {limit} frames a second; send fewer.")
            return
        if bytes_data is None:  # not a frame: answered, but it does not keep the stream open
            await self.send_json({"type": "error", "seq": None, **NOT_A_FRAME})
            return
        self.last_frame = now
        seq, self.next_seq = self.next_seq, self.next_seq + 1
        problem = frames.frame_problem(bytes_data)
        if problem is not None:
            await self.send_json({"type": "error", "seq": seq, "code": problem.code, "message": problem.message})
            return
        if self.in_flight is None:
            await self.start(seq, now, bytes_data)
            return
        if self.waiting is not None:  # replaced by a newer frame before its turn came
            LIVE_FRAMES.labels(outcome="skipped").inc()
            await self.send_json({"type": "skipped", "seq": self.waiting[0]})
        self.waiting = (seq, now, bytes_data)

    def take_budget(self, now: float) -> bool:
        rate = settings.AGEWEB_LIVE_MAX_FPS
        self.budget = min(float(rate), self.budget + (now - self.budget_at) * rate)
        self.budget_at = now
        if self.budget < 1:
            return False
        self.budget -= 1
        return True

    async def start(self, seq: int, arrived: float, frame: bytes) -> None:
        self.in_flight = (seq, arrived)
        try:
            await frames.frame_dispatch(frame=frame, seq=seq, reply_to=self.channel_name)
        except Exception:  # the broker is down: say so and take the next frame
            logger.warning("Could not queue a live frame", exc_info=True)
            await self.live_result({"seq": seq, "error": BUSY})

    async def live_result(self, event: dict[str, Any]) -> None:
        """A worker's answer (or the watchdog's "given up") for the frame in flight."""
        if self.in_flight is None or event["seq"] != self.in_flight[0]:
            return  # a late answer to a frame already given up
        seq, arrived = self.in_flight
        self.in_flight = None
        answer = {k: v for k, v in event.items() if k not in ("type", "seq")}
        ms = (time.monotonic() - arrived) * 1000
        message = frames.frame_answer(tracker=self.tracker, seq=seq, answer=answer, ms=ms)
        LIVE_FRAMES.labels(outcome=message["type"]).inc()  # counted, never kept
        await self.send_json(message)
        if self.waiting is not None:
            seq, arrived, frame = self.waiting
            self.waiting = None
            await self.start(seq, arrived, frame)

    async def live_idle(self, event: dict[str, Any]) -> None:
        seconds = settings.AGEWEB_LIVE_IDLE_SECONDS
        await self.close(code=IDLE, reason=f"No frame for {seconds} seconds; reconnect to go on.")

    async def watch(self) -> None:
        """Gives up a frame the workers have not answered in time, closes an idle stream and
        keeps the connection's slot alive."""
        timeout, idle = settings.AGEWEB_LIVE_FRAME_TIMEOUT, settings.AGEWEB_LIVE_IDLE_SECONDS
        layer, me = self.channel_layer, self.channel_name
        for tick in itertools.count(1):
            await asyncio.sleep(0.5)
            now = time.monotonic()
            if self.in_flight is not None and now - self.in_flight[1] > timeout:
                await layer.send(me, {"type": "live.result", "seq": self.in_flight[0], "error": BUSY})
            if now - self.last_frame > idle:
                await layer.send(me, {"type": "live.idle"})
                return
            if self.slot is not None and tick % 20 == 0:  # every 10 s
                await slots.slot_keep(user_id=self.user_id, slot=self.slot)

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))
