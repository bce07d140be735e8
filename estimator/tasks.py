"""Celery interface to the services: fetch by id, run, record any failure a person can read."""

from __future__ import annotations

import base64
import logging
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from channels.layers import get_channel_layer

from .feedback.services import photos_delete_expired
from .live import frame_estimate
from .loader import load_estimator
from .services import prediction_fail, prediction_run

logger = logging.getLogger(__name__)

TOO_SLOW = "Estimating the ages took too long; try a smaller photo."
UNEXPECTED = "Something went wrong while estimating the ages; please try again."


@shared_task(name="estimator.tasks.predict_age", acks_late=True, reject_on_worker_lost=True)
def predict_age(prediction_id: str) -> None:
    """Idempotent: a redelivered task finds the prediction finished and does nothing."""
    pk = UUID(prediction_id)
    try:
        prediction_run(prediction_id=pk)
    except SoftTimeLimitExceeded:
        prediction_fail(prediction_id=pk, reason=TOO_SLOW)
    except Exception:
        logger.exception("predict_age failed for %s", prediction_id)
        prediction_fail(prediction_id=pk, reason=UNEXPECTED)
        raise


# A live frame is worth something for a moment only: never retried or redelivered (a lost
# frame is simply replaced by the next), and it expires unread (live.frame_dispatch).
@shared_task(name="estimator.tasks.live_frame", acks_late=False, reject_on_worker_lost=False, ignore_result=True)
def live_frame(frame: str, reply_to: str, seq: int) -> None:
    """Estimate one base64 frame and send the answer to the stream's consumer."""
    answer = frame_estimate(frame=base64.b64decode(frame))
    async_to_sync(get_channel_layer().send)(reply_to, {"type": "live.result", "seq": seq, **answer})


@worker_process_init.connect
def load_models_after_fork(**kwargs: Any) -> None:
    # Each pool child loads the models itself, after fork: a runtime's threads started
    # before fork (TensorFlow's hang the children) do not survive it. Loading here makes
    # the first task as fast as the rest.
    try:
        load_estimator()
    except Exception:  # the first task will try again and record the failure on its photo
        logger.exception("Could not load the estimator in worker process")


@shared_task(name="estimator.tasks.delete_expired_photos", acks_late=True)
def delete_expired_photos() -> int:
    """Periodic (Celery beat): photos past the retention period are deleted. Idempotent."""
    deleted = photos_delete_expired()
    logger.info("Deleted %d photo(s) past the retention period", deleted)
    return deleted
