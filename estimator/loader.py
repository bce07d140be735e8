"""The estimator that runs the models, loaded once per process and then reused.

Nothing here imports TensorFlow: the factory named by ``settings.AGEWEB_ESTIMATOR``
(``ml.inference.Estimator`` in production) is imported and called on first use, so
a Celery pool child loads the models after fork, never the parent, and Django starts
without them.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:  # the tests' fakes stand in for it (tests/fakes.py)
    from ml.inference import Estimator

_lock = threading.Lock()


def load_estimator() -> Estimator:
    with _lock:  # two first requests at once must not load the models twice
        return _load(settings.AGEWEB_ESTIMATOR)


@functools.cache
def _load(path: str) -> Estimator:
    factory = import_string(path)
    estimator: Estimator = factory()
    return estimator
