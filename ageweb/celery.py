"""Celery wiring: configuration comes from Django settings (``CELERY_*``), tasks from the apps.

Without DJANGO_SETTINGS_MODULE workers and beat run the production settings, never the local ones.
"""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ageweb.settings.production")

app = Celery("ageweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each package's tasks.py: the web process queues them by name, the workers run them.
app.autodiscover_tasks(["estimator", "estimator.predictions", "estimator.live", "estimator.versions", "accounts"])


@worker_init.connect
def serve_metrics(**_: Any) -> None:
    """A worker on another host serves its own metrics (AGEWEB_WORKER_METRICS_PORT, off by
    default: on the web's host the web's /metrics adds the workers' samples up)."""
    from django.conf import settings

    if settings.AGEWEB_WORKER_METRICS_PORT:
        from ageweb.metrics import serve_worker_metrics

        serve_worker_metrics(settings.AGEWEB_WORKER_METRICS_PORT)
