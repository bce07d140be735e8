"""Project-wide pytest set-up: every test writes uploaded photos (and fetched model versions)
to its own temp folder, and a finished run that cannot exit says why and ends."""

from __future__ import annotations

import faulthandler
import sys
from pathlib import Path

import pytest
from django.conf import settings


@pytest.fixture(autouse=True)
def _media_root(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if settings.configured:  # tests/ml need no Django; leave them be when it is not set up
        overrides = request.getfixturevalue("settings")
        overrides.MEDIA_ROOT = tmp_path / "media"
        overrides.AGEWEB_MODEL_CACHE = tmp_path / "model-cache"


EXIT_S = 120  # a finished run's exit takes a few seconds


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """A run that has finished but cannot exit (a thread left waiting for good, which the
    interpreter joins at exit) would hold CI until its time limit: after EXIT_S seconds every
    thread's stack goes to stderr and the process ends with status 1."""
    faulthandler.dump_traceback_later(EXIT_S, exit=True, file=sys.__stderr__)
