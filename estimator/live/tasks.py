"""Celery interface of live frames: estimate one, send the answer to its stream."""

from __future__ import annotations

import base64

from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer

from .frames import frame_estimate


# A live frame is worth something for a moment only: never retried or redelivered (a lost
# frame is simply replaced by the next), and it expires unread (live.frame_dispatch).
@shared_task(name="estimator.tasks.live_frame", acks_late=False, reject_on_worker_lost=False, ignore_result=True)
def live_frame(frame: str, reply_to: str, seq: int) -> None:
    """Estimate one base64 frame and send the answer to the stream's consumer."""
    answer = frame_estimate(frame=base64.b64decode(frame))
    async_to_sync(get_channel_layer().send)(reply_to, {"type": "live.result", "seq": seq, **answer})
