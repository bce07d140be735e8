"""Celery interface to the stored files, run by Celery beat: pending deletions retried until
the storage has deleted them, and the storage reconciled with the database daily."""

from __future__ import annotations

import logging

from celery import shared_task

from .files import pending_deletions_retry
from .reconcile import storage_reconcile

logger = logging.getLogger(__name__)


@shared_task(name="estimator.tasks.delete_pending_files", ignore_result=True)
def delete_pending_files() -> dict[str, int]:
    """Every few minutes: a deletion the storage refused (unreachable, say) is tried again."""
    retried = pending_deletions_retry()
    if retried.failed:
        logger.warning("Pending deletions: %d deleted, %d still failing", retried.deleted, retried.failed)
    elif retried.deleted:
        logger.info("Pending deletions: %d deleted", retried.deleted)
    return {"deleted": retried.deleted, "failed": retried.failed}


@shared_task(name="estimator.tasks.reconcile_storage", ignore_result=True)
def reconcile_storage() -> dict[str, int]:
    """Daily: objects no row points to, past the grace period, are deleted."""
    report = storage_reconcile()
    return {"listed": report.listed, "orphans": report.orphans, "deleted": report.deleted, "failed": report.failed}
