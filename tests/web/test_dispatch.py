"""Work run in the web process (``make run``): the loop that started it outlives it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from celery import shared_task
from channels.testing import ApplicationCommunicator

from ageweb.asgi import application
from estimator import dispatch

RELEASE = threading.Event()
posted: list[tuple[str, asyncio.AbstractEventLoop]] = []


@shared_task(name="tests.dispatch.wait_then_post")
def wait_then_post(tag: str) -> None:
    """As a frame's task does: work on the thread, then a message posted on the starting loop."""
    assert RELEASE.wait(10)
    async_to_sync(_post)(tag)


async def _post(tag: str) -> None:
    posted.append((tag, asyncio.get_running_loop()))


def test_the_servers_stop_waits_for_work_started_in_process_and_its_message_reaches_the_loop(settings: Any) -> None:
    settings.AGEWEB_RUN_TASKS_IN_PROCESS = True
    RELEASE.clear()
    posted.clear()

    async def server_started_and_stopped() -> None:
        server = ApplicationCommunicator(application, {"type": "lifespan"})
        await server.send_input({"type": "lifespan.startup"})
        assert await server.receive_output(5) == {"type": "lifespan.startup.complete"}
        # As a consumer does: from a thread of this loop's, the work goes to the dispatch's thread.
        await sync_to_async(dispatch.dispatch)("tests.dispatch.wait_then_post", args=["photo"])
        await server.send_input({"type": "lifespan.shutdown"})
        assert await server.receive_nothing(0.3)  # the photo is still being estimated
        RELEASE.set()
        assert await server.receive_output(10) == {"type": "lifespan.shutdown.complete"}
        assert posted == [("photo", asyncio.get_running_loop())]  # posted before the loop ended

    async_to_sync(server_started_and_stopped)()


def test_settle_returns_at_once_when_nothing_runs_here() -> None:
    async def settled() -> bool:
        await asyncio.wait_for(dispatch.settle(), timeout=1)
        return True

    assert async_to_sync(settled)()
