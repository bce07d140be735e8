"""Project-wide pytest set-up: every test writes uploaded photos (and fetched model versions)
to its own temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings


@pytest.fixture(autouse=True)
def _media_root(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if settings.configured:  # tests/ml need no Django; leave them be when it is not set up
        overrides = request.getfixturevalue("settings")
        overrides.MEDIA_ROOT = tmp_path / "media"
        overrides.AGEWEB_MODEL_CACHE = tmp_path / "model-cache"
