"""The container test's one-line summary, printed after pytest's own (its last line)."""

from __future__ import annotations

import time

import pytest

from tests.containers import summary

_counts = {"passed": 0, "failed": 0, "skipped": 0}
_started = time.monotonic()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/containers/" not in report.nodeid:
        return
    if report.failed:
        _counts["failed"] += 1  # a failed set-up or tear-down counts too
    elif report.skipped:
        _counts["skipped"] += 1
    elif report.when == "call":
        _counts["passed"] += 1


def pytest_unconfigure(config: pytest.Config) -> None:
    if any(_counts.values()):
        print(summary.line(_counts["passed"], _counts["failed"], _counts["skipped"], time.monotonic() - _started))
