"""Celery interface to the accounts services: periodic clean-ups."""

from __future__ import annotations

from celery import shared_task

from .services import login_records_delete_expired


@shared_task(name="accounts.tasks.delete_expired_login_records", ignore_result=True)
def delete_expired_login_records() -> int:
    """Run by Celery beat (``CELERY_BEAT_SCHEDULE``): log-in records last as long as the lock-out."""
    return login_records_delete_expired()
