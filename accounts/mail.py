"""Mail to the owners of e-mail addresses, always sent from the queue.

A request only queues the work, the same work whoever the address belongs to, so neither
its answer nor its time tells whether the address has an account. The worker looks the
address up and sends what is due (Celery; in `make run`, a thread: estimator.dispatch).
"""

from __future__ import annotations

import logging

from django.contrib.auth.forms import PasswordResetForm
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from kombu.exceptions import OperationalError as BrokerError

from estimator.dispatch import dispatch

from .models import User

logger = logging.getLogger(__name__)


def password_reset_queue(*, email: str, domain: str, use_https: bool) -> None:
    """Queue a reset link for every active account with this address (there may be none)."""
    dispatch("accounts.tasks.send_password_reset", args=[email, domain, use_https])


def password_reset_send(*, email: str, domain: str, use_https: bool) -> None:
    """Django's reset mail (registration/password_reset_*), one per account with a usable password."""
    form = PasswordResetForm({"email": email})
    if form.is_valid():
        form.save(domain_override=domain, use_https=use_https)


def email_in_use_queue(*, user: User, domain: str, use_https: bool) -> None:
    """After a sign-up with an e-mail address: the owner hears if another account already has it.

    Best effort: the account exists either way, so a broker outage is logged, not shown."""
    if not user.email:
        return
    try:
        dispatch("accounts.tasks.send_email_in_use", args=[user.pk, domain, use_https])
    except BrokerError:
        logger.warning("Could not queue the e-mail-in-use notice for user %s", user.pk, exc_info=True)


def email_in_use_send(*, user_id: int, domain: str, use_https: bool) -> None:
    """Tell the address's owner that a new account uses it, and which accounts already did."""
    user = User.objects.filter(pk=user_id).first()
    if user is None or not user.email:
        return
    earlier = User.objects.filter(email__iexact=user.email, is_active=True).exclude(pk=user.pk).order_by("pk")
    usernames = [other.get_username() for other in earlier]
    if not usernames:
        return
    protocol = "https" if use_https else "http"
    context = {
        "new_username": user.get_username(),
        "usernames": usernames,
        "reset_url": f"{protocol}://{domain}{reverse('password_reset')}",
    }
    subject = render_to_string("registration/email_in_use_subject.txt", context).strip()
    body = render_to_string("registration/email_in_use_email.txt", context)
    send_mail(subject, body, None, [user.email])
