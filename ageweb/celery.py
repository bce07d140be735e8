"""Celery wiring: configuration comes from Django settings (``CELERY_*``), tasks from the apps.

Without DJANGO_SETTINGS_MODULE workers and beat run the production settings, never the local ones.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ageweb.settings.production")

app = Celery("ageweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["estimator.predictions", "estimator.live", "estimator.versions"])  # their tasks.py modules
