"""Who is on the other end of a websocket: the session (browsers) or an API token (programs).

A handshake that carries ``Authorization: Token <key>`` is authenticated by the token alone
and needs no Origin header (programs send none, and a browser page cannot set that
header, so cross-site pages cannot ride on it). Every other handshake goes through the
session, behind the Origin check that keeps other sites' pages from using the cookie.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser
from rest_framework.authtoken.models import Token

ASGIApp = Any


def _token_key(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            header: str = value.decode("latin1")
            scheme, _, key = header.partition(" ")
            if scheme.lower() == "token":
                return key.strip()
    return None


def _token_user(key: str) -> Any:
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return AnonymousUser()
    return token.user


class TokenOrSessionAuth:
    """ASGI middleware: sets ``scope["user"]`` from the token header or the session."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner
        self.by_session = AllowedHostsOriginValidator(AuthMiddlewareStack(inner))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        key = _token_key(scope)
        if key is None:
            return await self.by_session(scope, receive, send)
        return await self.inner({**scope, "user": await database_sync_to_async(_token_user)(key)}, receive, send)
