"""Celery interface of the shadow: fetch by id, call the service.

A shadow estimate is owed to nobody: it is never retried or redelivered (a worker that dies
on it loses one face's comparison, not a photo), and a failure is logged, never recorded on
the person's prediction."""

from __future__ import annotations

import logging
from uuid import UUID

from celery import shared_task

from .shadow import shadow_run

logger = logging.getLogger(__name__)


@shared_task(name="estimator.tasks.shadow_estimate", acks_late=False, reject_on_worker_lost=False, ignore_result=True)
def shadow_estimate(prediction_id: str, version: str) -> None:
    try:
        scored = shadow_run(prediction_id=UUID(prediction_id), version=version)
    except Exception:
        logger.exception("The shadow version %s failed on prediction %s", version, prediction_id)
        return
    logger.info("Shadow %s scored %d face(s) of prediction %s", version, scored, prediction_id)
