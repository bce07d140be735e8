"""The real stack for integration tests: PostgreSQL, Redis, a Celery worker, an ASGI server.

Past one machine, as production runs: photos in a real S3 server (SeaweedFS), and the web
server, the workers and beat each in a folder of its own with a MEDIA_ROOT of its own, so
nothing passes between them through a disk. Skips only when PostgreSQL or Redis cannot be
reached (CI starts both, so there it runs).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.stack import Stack, running_stack, unreachable_services

REAL_ESTIMATOR = "ml.inference.Estimator"


def _stack(tmp_path_factory: pytest.TempPathFactory, estimator: str, **env: str) -> Iterator[Stack]:
    reason = unreachable_services()
    if reason:
        pytest.skip(reason)
    with running_stack(
        workdir=tmp_path_factory.mktemp("stack"), estimator=estimator, env=env, object_store=True, separate_folders=True
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def fake_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack with a fake estimator that takes half a second: tests the plumbing."""
    yield from _stack(tmp_path_factory, "tests.fakes.SlowFakeEstimator", AGEWEB_FAKE_DELAY="0.5")


@pytest.fixture(scope="session")
def real_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack with the trained models, as in production."""
    yield from _stack(tmp_path_factory, REAL_ESTIMATOR)
