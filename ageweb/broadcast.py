"""Tell every websocket in a channel-layer group that something changed: a type-only event."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def group_notify(group: str, event_type: str) -> None:
    """Send ``{"type": event_type}`` to ``group``. Best effort: with the channel layer down
    the event is logged and dropped (pages poll the API; websockets go with their
    connections), never raised to the caller, whose work is already committed."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": event_type})
    except Exception:
        logger.warning("Could not send %s to %s", event_type, group, exc_info=True)
