"""``python manage.py reconcile_storage``: delete stored files no row points to."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from estimator.reconcile import storage_reconcile


class Command(BaseCommand):
    help = (
        "Delete objects under predictions/ and faces/ that no row points to and that are older than "
        "AGEWEB_ORPHAN_GRACE_HOURS. Celery beat runs it daily; run it from cron where no beat runs."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(storage_reconcile().summary)
