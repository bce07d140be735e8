"""API tokens that expire: DRF's token authentication, refusing tokens older than ``AGEWEB_TOKEN_TTL_DAYS``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


def token_expired(*, token: Token) -> bool:
    """Older than the time to live; never, while ``AGEWEB_TOKEN_TTL_DAYS`` is 0 (the default)."""
    days: int = settings.AGEWEB_TOKEN_TTL_DAYS
    return days > 0 and token.created < timezone.now() - dt.timedelta(days=days)


class ExpiringTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, refused with 401 ``token_expired`` once the token is too old."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user, token = super().authenticate_credentials(key)
        if token_expired(token=token):
            days = settings.AGEWEB_TOKEN_TTL_DAYS
            message = (
                f"This API token is older than {days} days and has expired; get a new one from your profile "
                "or from POST /api/v1/auth/token/."
            )
            raise AuthenticationFailed(message, code="token_expired")
        return user, token
