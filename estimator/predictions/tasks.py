"""Celery interface to the prediction services: fetch by id, run, record any failure a person can read.

Task names stay ``estimator.tasks.*``: queued messages and the beat schedule name them."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init, worker_ready
from django.conf import settings
from django.db import InterfaceError, OperationalError, connections

from ..loader import load_estimator
from .retention import photos_delete_expired
from .services import StorageUnavailable, prediction_fail, prediction_run, predictions_reap, predictions_take_back

logger = logging.getLogger(__name__)

TOO_SLOW = "Estimating the ages took too long; try a smaller photo."
# Never "try again": the same photo would fail the same way.
UNEXPECTED = "Something went wrong while estimating the ages in this photo; it has been logged. Try another photo."
DATABASE_DOWN = (OperationalError, InterfaceError)  # PostgreSQL restarting: wait and run again
STORAGE_DOWN = "The stored photo could not be read: the storage was unreachable for several minutes. Upload it again."


@shared_task(bind=True, name="estimator.tasks.predict_age", acks_late=True, reject_on_worker_lost=True)
def predict_age(self: Any, prediction_id: str) -> None:
    """Idempotent: a redelivered task finds the prediction finished and does nothing.

    While the database or the object store is unreachable the task is retried (same task
    id, growing pauses). Should every retry fail: with the database down the row is left
    queued or running and the reaper queues it again; with the store down it fails, saying so.
    """
    pk = UUID(prediction_id)
    try:
        prediction_run(prediction_id=pk, task_id=self.request.id, worker=self.request.hostname or "")
    except SoftTimeLimitExceeded:
        prediction_fail(prediction_id=pk, reason=TOO_SLOW)
    except DATABASE_DOWN as error:
        logger.warning("Database unreachable for %s; retrying: %s", prediction_id, error)
        countdown = min(2**self.request.retries, 30)
        raise self.retry(exc=error, countdown=countdown, max_retries=settings.AGEWEB_DATABASE_RETRIES) from None
    except StorageUnavailable as error:
        if self.request.retries >= settings.AGEWEB_DATABASE_RETRIES:
            logger.error("The storage stayed unreachable for %s: %s", prediction_id, error)
            prediction_fail(prediction_id=pk, reason=STORAGE_DOWN)
            return
        logger.warning("Storage unreachable for %s; retrying: %s", prediction_id, error)
        raise self.retry(countdown=min(2**self.request.retries, 30), max_retries=None) from None
    except Exception:
        logger.exception("predict_age failed for %s", prediction_id)
        prediction_fail(prediction_id=pk, reason=UNEXPECTED)
        raise


@shared_task(name="estimator.tasks.reap_stale_predictions", ignore_result=True)
def reap_stale_predictions() -> dict[str, int]:
    """Run by Celery beat (``CELERY_BEAT_SCHEDULE``): nothing stays queued or running for good."""
    reaped = predictions_reap()
    return {"requeued": reaped.requeued, "failed": reaped.failed}


@worker_ready.connect
def take_back_what_died_with_this_worker(sender: Any, **kwargs: Any) -> None:
    """A worker started again under its node name queues again, at once, the photos it was
    running when it was killed whole (``predictions_take_back``); the reaper is the fallback."""
    try:
        predictions_take_back(worker=sender.hostname)
    except DATABASE_DOWN as error:  # the reaper queues them later
        logger.warning("Could not take back this worker's unfinished photos: %s", error)
    finally:
        connections.close_all()  # the pool processes have forked already; none inherits it


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
