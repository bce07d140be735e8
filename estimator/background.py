"""`make run` without Redis: run a task on a thread of the web process, one at a time.

The thread is started from the ASGI server's event loop, so the task's channel-layer
messages are delivered on that loop, where the in-memory channel layer and the page's
websocket live (a plain thread would post them to a loop nobody is listening on).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import async_to_sync, sync_to_async
from django.db import close_old_connections, connection

_running: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks


@functools.cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")


def run_in_background(func: Callable[[], object]) -> None:
    async_to_sync(_start)(func)


async def _start(func: Callable[[], object]) -> None:
    run = sync_to_async(_run, thread_sensitive=False, executor=_executor())
    task = asyncio.create_task(run(func))
    _running.add(task)
    task.add_done_callback(_running.discard)


def _run(func: Callable[[], object]) -> None:
    close_old_connections()
    try:
        func()
    finally:
        connection.close()
