"""Who is on the other end of a websocket: the session (browsers) or an API token (programs).

A handshake that carries ``Authorization: Token <key>`` is authenticated by the token alone
and needs no Origin header (programs send none, and a browser page cannot set that
header, so cross-site pages cannot ride on it). Every other handshake goes through the
session, behind the Origin check that keeps other sites' pages from using the cookie.

A consumer that serves a user joins that user's group; when the password changes or the
account is deactivated or deleted (accounts.signals), the group hears ``account.revoked``
and every such websocket closes with ``ACCESS_REVOKED``.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser
from rest_framework.authtoken.models import Token

from .authentication import token_expired

ASGIApp = Any

ACCESS_REVOKED = 4403  # close code: the password changed, or the account was deactivated or deleted


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
    if token is None or not token.user.is_active or token_expired(token=token):
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


def user_group(user_id: int) -> str:
    """The channel-layer group of every websocket serving this user."""
    return f"user.{user_id}"


class RevocableConsumer(AsyncWebsocketConsumer):
    """A consumer that closes with ``ACCESS_REVOKED`` once its user's access is revoked."""

    revocable_group: str | None = None

    async def user_group_join(self, user_id: int) -> None:
        self.revocable_group = user_group(user_id)
        await self.channel_layer.group_add(self.revocable_group, self.channel_name)

    async def user_group_leave(self) -> None:
        if self.revocable_group is not None:
            await self.channel_layer.group_discard(self.revocable_group, self.channel_name)

    async def account_revoked(self, event: dict[str, Any]) -> None:
        await self.close(code=ACCESS_REVOKED, reason="Your password changed or your account was closed; log in again.")
