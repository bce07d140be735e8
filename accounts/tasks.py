"""Celery interface to the accounts services: mail from the queue, periodic clean-ups."""

from __future__ import annotations

from celery import shared_task

from .mail import email_in_use_send, password_reset_send
from .services import login_records_delete_expired


@shared_task(name="accounts.tasks.send_password_reset", ignore_result=True)
def send_password_reset(email: str, domain: str, use_https: bool) -> None:
    password_reset_send(email=email, domain=domain, use_https=use_https)


@shared_task(name="accounts.tasks.send_email_in_use", ignore_result=True)
def send_email_in_use(user_id: int, domain: str, use_https: bool) -> None:
    email_in_use_send(user_id=user_id, domain=domain, use_https=use_https)


@shared_task(name="accounts.tasks.delete_expired_login_records", ignore_result=True)
def delete_expired_login_records() -> int:
    """Run by Celery beat (``CELERY_BEAT_SCHEDULE``): log-in records last as long as the lock-out."""
    return login_records_delete_expired()
