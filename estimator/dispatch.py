"""Run a Celery task on its queue, or, in `make run` (no Redis, no worker), on a thread here.

The one way the site hands work off: uploads (``predict_age``) and live frames
(``live_frame``) both go through :func:`dispatch`, by task name, so no module that queues
work imports the module that runs it.

In-process, the thread is started from the ASGI server's event loop, so the task's
channel-layer messages are delivered on that loop, where the in-memory channel layer and
the page's websocket live (a plain thread would post them to a loop nobody listens on).
Uploads get one thread, so photos run one at a time; live frames get a pool of their own,
so a frame never waits behind a photo. That loop must outlive the work: a message posted
to a loop that has stopped waits for good, and so would the thread posting it, and the
process at its exit. The server's shutdown therefore awaits :func:`settle` (the ASGI
lifespan in ``ageweb.asgi``), and so does a test before its event loop ends.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from asgiref.sync import async_to_sync, sync_to_async
from celery import signature
from django.conf import settings
from django.db import close_old_connections, connection

Lane = Literal["inference", "live"]

_running: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks


def dispatch(task: str, *, args: Sequence[Any], lane: Lane = "inference", expires: float | None = None) -> None:
    """Run the task named ``task`` with ``args`` in the background; returns at once.

    On Celery the task goes to the queue its route names (``expires``: seconds after which
    an unread message is dropped); a broker that cannot be reached raises kombu's
    ``OperationalError`` for the caller to handle."""
    work = signature(task, args=list(args))
    if settings.AGEWEB_RUN_TASKS_IN_PROCESS:
        async_to_sync(_start)(work, lane)
    else:
        work.apply_async(expires=expires)


@functools.cache
def _executor(lane: Lane) -> ThreadPoolExecutor:
    workers = 1 if lane == "inference" else os.cpu_count() or 1
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=lane)


async def _start(work: Any, lane: Lane) -> None:
    run = sync_to_async(_run, thread_sensitive=False, executor=_executor(lane))
    task = asyncio.create_task(run(work))
    _running.add(task)
    task.add_done_callback(_running.discard)


async def settle() -> None:
    """Return once the work this event loop started in-process has finished, work started
    while waiting included (a frame that came in meanwhile). Nothing to wait for on Celery."""
    loop = asyncio.get_running_loop()
    while mine := [task for task in _running if task.get_loop() is loop]:
        await asyncio.wait(mine)  # not gather: cancelling the wait leaves the work be


def _run(work: Any) -> None:
    close_old_connections()
    try:
        work.apply()
    finally:
        connection.close()
