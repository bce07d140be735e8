"""harness.steps: a step past its limit fails with its name and where it was stuck."""

from __future__ import annotations

import threading

import pytest

from harness.steps import StepTimeout, run_step


def test_a_step_past_its_limit_names_itself_and_the_line_it_is_stuck_on() -> None:
    release = threading.Event()

    def restart_that_never_returns() -> None:
        release.wait()

    try:
        with pytest.raises(StepTimeout) as raised:
            run_step("soak step 'restart Redis'", restart_that_never_returns, 0.2)
    finally:
        release.set()
    message = str(raised.value)
    assert message.startswith("soak step 'restart Redis' did not finish in 0.2 s: stuck in")
    assert "restart_that_never_returns" in message and "threading.py" not in message


def test_a_step_that_fails_in_time_raises_its_own_error() -> None:
    def refuse() -> None:
        raise ValueError("Address already in use")

    with pytest.raises(ValueError, match="Address already in use"):
        run_step("stack step 'start redis'", refuse, 5)


def test_a_step_that_ends_in_time_returns() -> None:
    ran: list[bool] = []
    run_step("soak step 'kill a worker process'", lambda: ran.append(True), 5)
    assert ran == [True]
