"""Reconcile the storage with the database: delete stored files no row points to.

A deletion that failed before pending deletions were durable, a process killed between
storing a photo and committing its row, or a bucket restored from a backup can leave
objects behind; this finds them. Run daily by Celery beat (``estimator.tasks.reconcile_storage``)
or by ``python manage.py reconcile_storage``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import Storage, default_storage
from django.utils import timezone

from .models import Feedback, Prediction

logger = logging.getLogger(__name__)

FOLDERS = ("predictions", "faces")  # where photos, thumbnails and kept crops are stored
BATCH = 500  # names looked up in the database at once


@dataclass(frozen=True)
class Reconciled:
    listed: int  # objects under FOLDERS
    orphans: int  # of those, no row points to them and they are past the grace period
    deleted: int
    failed: int

    @property
    def summary(self) -> str:
        return (
            f"Reconciled the storage: {self.listed} object(s) listed, {self.orphans} orphan(s), "
            f"{self.deleted} deleted, {self.failed} failed"
        )


def storage_reconcile(*, now: dt.datetime | None = None) -> Reconciled:
    """Delete every object under ``predictions/`` and ``faces/`` that no row points to and
    that is older than ``AGEWEB_ORPHAN_GRACE_HOURS``: a younger one may be a photo or crop
    whose row is not committed yet (the file is stored first)."""
    cutoff = (now or timezone.now()) - dt.timedelta(hours=settings.AGEWEB_ORPHAN_GRACE_HOURS)
    listed = orphans = deleted = 0
    for names in _batches(default_storage):
        listed += len(names)
        for name in _unreferenced(names):
            if default_storage.get_modified_time(name) >= cutoff:
                continue
            orphans += 1
            deleted += _delete(name)
    report = Reconciled(listed=listed, orphans=orphans, deleted=deleted, failed=orphans - deleted)
    logger.info(report.summary)
    return report


def _batches(storage: Storage) -> Iterator[list[str]]:
    for folder in FOLDERS:
        names: list[str] = []
        for name in _walk(storage, folder):
            names.append(name)
            if len(names) == BATCH:
                yield names
                names = []
        if names:
            yield names


def _walk(storage: Storage, folder: str) -> Iterator[str]:
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:  # a local folder nothing was ever stored in
        return
    for name in files:
        yield f"{folder}/{name}"
    for sub in folders:
        yield from _walk(storage, f"{folder}/{sub}")


def _unreferenced(names: list[str]) -> list[str]:
    referenced = set(Prediction.objects.filter(image__in=names).values_list("image", flat=True))
    referenced |= set(Prediction.objects.filter(thumbnail__in=names).values_list("thumbnail", flat=True))
    referenced |= set(Feedback.objects.filter(crop__in=names).values_list("crop", flat=True))
    return [name for name in names if name not in referenced]


def _delete(name: str) -> bool:
    try:
        default_storage.delete(name)
    except Exception:
        logger.exception("Could not delete orphaned stored file %s", name)
        return False
    logger.info("Deleted orphaned stored file %s", name)
    return True
