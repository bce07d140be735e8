"""Accounts logic: create users, manage their API token, revoke access, keep log-in records
no longer than the lock-out needs, delete users with all their data."""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from ageweb.broadcast import group_notify

from .authentication import token_expired
from .models import User
from .websocket_auth import user_group

logger = logging.getLogger(__name__)

# django-axes' records of log-ins (address, browser, username tried). Only the failures'
# are written (AXES_DISABLE_ACCESS_LOG); the other two are emptied of anything older.
LOGIN_RECORDS = (AccessAttempt, AccessLog, AccessFailureLog)


def user_create(*, username: str, email: str, password: str) -> User:
    return User.objects.create_user(username=username, email=email, password=password)


def user_token(*, user: User) -> Token:
    """The user's token, made on demand; an expired one is replaced."""
    token, _ = Token.objects.get_or_create(user=user)
    if token_expired(token=token):
        return user_token_regenerate(user=user)
    return token


@transaction.atomic
def user_token_regenerate(*, user: User) -> Token:
    """A new key; the old one stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


def user_access_revoke(*, user_id: int) -> None:
    """After a new password, a deactivation or a deletion: the API token goes at once, and the
    user's open websockets close once this is committed.

    Sessions need nothing here: Django refuses a session whose password hash no longer
    matches, or whose user is inactive or gone (``update_session_auth_hash`` keeps the one
    that changed the password)."""
    Token.objects.filter(user_id=user_id).delete()
    transaction.on_commit(partial(user_websockets_close, user_id=user_id))


def user_websockets_close(*, user_id: int) -> None:
    group_notify(user_group(user_id), "account.revoked")


def login_records_delete_expired(*, now: dt.datetime | None = None) -> int:
    """Delete the log-in records older than the lock-out (``AXES_COOLOFF_TIME``): the lock-out
    is all they are kept for. Returns how many rows went. Idempotent."""
    cutoff = (now or timezone.now()) - settings.AXES_COOLOFF_TIME
    return sum(model.objects.filter(attempt_time__lt=cutoff).delete()[0] for model in LOGIN_RECORDS)


def user_login_records_delete(*, username: str) -> None:
    """With the account: nothing of its log-ins stays, nor waits for a new owner of the name."""
    for model in LOGIN_RECORDS:
        model.objects.filter(username=username).delete()


def user_delete(*, user: User) -> None:
    # Predictions cascade with the user; each one's photo and kept crops go on the list of
    # pending deletions in this transaction and are deleted after commit, or retried until
    # the storage has deleted them (estimator.files), so nothing of the person is left. The
    # token goes with the user, its websockets close and its log-in records go (accounts.signals).
    user.delete()
