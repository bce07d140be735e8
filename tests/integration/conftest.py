"""The real stack for integration tests: PostgreSQL, Redis, a Celery worker, an ASGI server.

Skips only when PostgreSQL or Redis cannot be reached, or (for the tests that need it)
while the trained model behind ``ml.inference.get_estimator`` is not there yet.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.stack import Stack, running_stack, unreachable_services

REAL_ESTIMATOR = "ml.inference.get_estimator"


def real_estimator_missing() -> str | None:
    try:
        inference = importlib.import_module("ml.inference")
    except ImportError as error:
        return f"ml.inference cannot be imported: {error}"
    if not hasattr(inference, "get_estimator"):
        return "ml.inference.get_estimator does not exist yet"
    models = getattr(inference, "MODELS_DIR", None)
    default = getattr(inference, "DEFAULT_MODEL", None)
    if models is not None and default is not None and not (Path(models) / default / "model.keras").exists():
        return f"the trained model is not shipped yet ({Path(models) / default / 'model.keras'} is missing)"
    return None


def _stack(tmp_path_factory: pytest.TempPathFactory, estimator: str, **env: str) -> Iterator[Stack]:
    reason = unreachable_services()
    if reason:
        pytest.skip(reason)
    with running_stack(workdir=tmp_path_factory.mktemp("stack"), estimator=estimator, env=env) as stack:
        yield stack


@pytest.fixture(scope="module")
def fake_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack with a fake estimator that takes half a second: tests the plumbing."""
    yield from _stack(tmp_path_factory, "tests.fakes.SlowFakeEstimator", AGEWEB_FAKE_DELAY="0.5")


@pytest.fixture(scope="session")
def real_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack with the trained models, as in production."""
    reason = real_estimator_missing()
    if reason:
        pytest.skip(reason)
    yield from _stack(tmp_path_factory, REAL_ESTIMATOR)
