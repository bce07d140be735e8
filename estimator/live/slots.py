"""A user's live streams: at most ``AGEWEB_LIVE_MAX_CONNECTIONS`` at once, across web processes.

Slots live in the cache (Redis in production), so the limit holds across web processes; a
slot whose process died frees itself after its timeout.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


def _slot_key(user_id: int, slot: int) -> str:
    return f"live:{user_id}:{slot}"


def _slot_timeout() -> int:
    return settings.AGEWEB_LIVE_IDLE_SECONDS * 2  # outlives a dead process by this much at most


async def slot_take(*, user_id: int, channel: str) -> int | None:
    """One of the user's live slots, or None when all are taken."""
    for slot in range(settings.AGEWEB_LIVE_MAX_CONNECTIONS):
        if await cache.aadd(_slot_key(user_id, slot), channel, timeout=_slot_timeout()):
            return slot
    return None


async def slot_keep(*, user_id: int, slot: int) -> None:
    await cache.atouch(_slot_key(user_id, slot), timeout=_slot_timeout())


async def slot_free(*, user_id: int, slot: int, channel: str) -> None:
    key = _slot_key(user_id, slot)
    if await cache.aget(key) == channel:
        await cache.adelete(key)
