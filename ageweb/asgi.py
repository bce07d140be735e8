"""ASGI entry point: HTTP goes to Django, websockets to the estimator's consumers.

Without DJANGO_SETTINGS_MODULE it runs the production settings (which refuse to start
without their secrets), never the local debug ones; ``manage.py`` and the Makefile choose
the local settings explicitly.
"""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ageweb.settings.production")
django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.generic.websocket import WebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from accounts.websocket_auth import TokenOrSessionAuth  # noqa: E402
from estimator.dispatch import settle  # noqa: E402
from estimator.routing import websocket_urlpatterns  # noqa: E402


class NoSuchPath(WebsocketConsumer):  # type: ignore[misc]
    """Any other websocket path: refused at the handshake (403), not an HTTP 500 with a traceback."""

    def connect(self) -> None:
        self.close()


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The server's start and stop (ASGI lifespan, which uvicorn speaks and daphne does not):
    before its event loop ends, the stop waits for photos and frames still being estimated in
    this process (``AGEWEB_RUN_TASKS_IN_PROCESS``), whose answers would otherwise wait for good
    on a loop that no longer runs, and hold up the process's exit."""
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await settle()
    await send({"type": "lifespan.shutdown.complete"})


routes = [*websocket_urlpatterns, re_path(r"", NoSuchPath.as_asgi())]
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": TokenOrSessionAuth(URLRouter(routes)),
        "lifespan": lifespan,
    }
)
