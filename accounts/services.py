"""Accounts logic: create users, manage their API token, delete them with all their data."""

from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token

from .models import User


def user_create(*, username: str, email: str, password: str) -> User:
    return User.objects.create_user(username=username, email=email, password=password)


def user_token(*, user: User) -> Token:
    token, _ = Token.objects.get_or_create(user=user)
    return token


@transaction.atomic
def user_token_regenerate(*, user: User) -> Token:
    """A new key; the old one stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


def user_delete(*, user: User) -> None:
    # Predictions cascade with the user; each one's photo and kept crops go on the list of
    # pending deletions in this transaction and are deleted after commit, or retried until
    # the storage has deleted them (estimator.files), so nothing of the person is left.
    user.delete()
