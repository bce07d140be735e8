"""The estimators that run the models: one per model version in this process, built on first
use and then reused; only the active version's and the shadow's are kept.

Nothing here imports TensorFlow: the factory named by ``settings.AGEWEB_ESTIMATOR``
(``ml.inference.Estimator`` in production) is imported and called on first use with the
version's folder (``model_dir=``), so a Celery pool child loads the models after fork, never
the parent, and Django starts without them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

from .models import ModelVersion
from .versions.files import version_folder
from .versions.services import Served, model_serving

if TYPE_CHECKING:  # the tests' fakes stand in for it (tests/fakes.py)
    from ml.inference import Estimator


def load_estimator(served: Served | None = None) -> Estimator:
    """The estimator of ``served`` (a version :func:`model_serving` named), by default of the
    active version; a version another process promoted is picked up within the cache's TTL."""
    serving = model_serving()
    return _estimators.get(settings.AGEWEB_ESTIMATOR, served or serving.active, keep={serving.active, serving.shadow})


class _Estimators:
    """This process's estimators by (factory, version); the one cached loader of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: dict[tuple[str, Served], Estimator] = {}
        self._loading: dict[tuple[str, Served], threading.Lock] = {}

    def get(self, factory: str, served: Served, *, keep: set[Served | None]) -> Estimator:
        key = (factory, served)
        with self._lock:
            if key in self._built:
                return self._built[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # two first requests at once must not load one version twice
            with self._lock:
                if key in self._built:
                    return self._built[key]
            estimator = _build(factory, served)
            with self._lock:  # a version no longer served is let go: its memory comes back
                self._built = {k: e for k, e in self._built.items() if k[0] == factory and k[1] in keep}
                self._built[key] = estimator
                self._loading.pop(key, None)
        return estimator


def _build(factory: str, served: Served) -> Estimator:
    files = ModelVersion.objects.values_list("files", flat=True).get(version=served.version)
    estimator: Estimator = import_string(factory)(model_dir=version_folder(version=served.version, files=files))
    return estimator


_estimators = _Estimators()
