"""Steps with a time limit: a step that hangs fails with its name, its limit and where it hung.

A test run against real processes has many waits (a restart, a port, a log line, a
result); any one of them hanging would otherwise surface only as pytest's timeout, with no
word on which.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable


class StepTimeout(TimeoutError):
    """A step did not finish in its time; the message names the step and what it was doing."""


def step_timeout(step: str, seconds: float, detail: str = "") -> StepTimeout:
    """The error for ``step`` past its ``seconds``, in one wording everywhere."""
    shown = round(seconds) if seconds >= 10 else round(seconds, 1)
    return StepTimeout(f"{step} did not finish in {shown} s" + (f": {detail}" if detail else ""))


def run_step(step: str, action: Callable[[], None], seconds: float) -> None:
    """Run ``action`` on a thread of its own and wait at most ``seconds`` for it.

    Raises what ``action`` raised, or :class:`StepTimeout` with the stack it is stuck in.
    A stuck action cannot be stopped from outside: its thread is a daemon and is left behind.
    """
    errors: list[BaseException] = []

    def target() -> None:
        try:
            action()
        except BaseException as error:  # handed to the caller's thread
            errors.append(error)

    thread = threading.Thread(target=target, name=step, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise step_timeout(step, seconds, f"stuck in\n{where(thread)}")
    if errors:
        raise errors[0]


def where(thread: threading.Thread, depth: int = 6) -> str:
    """The innermost ``depth`` frames ``thread`` is running now, less the threading machinery's."""
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return "(finished)"
    machinery = (threading.__file__, __file__)
    frames = [entry for entry in traceback.extract_stack(frame) if entry.filename not in machinery]
    return "".join(traceback.format_list(frames[-depth:]))
