"""``python manage.py delete_expired_photos``: photo retention where no Celery beat runs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from estimator.predictions.retention import photos_delete_expired


class Command(BaseCommand):
    help = (
        "Delete uploaded photos older than AGEWEB_PHOTO_RETENTION_DAYS; results and face crops kept "
        "with consent stay. Run it daily (e.g. from cron) where no Celery beat runs."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = photos_delete_expired()
        days = settings.AGEWEB_PHOTO_RETENTION_DAYS
        self.stdout.write(f"Deleted {deleted} photo(s) older than {days} days.")
