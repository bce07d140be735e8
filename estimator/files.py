"""Stored files (photos, thumbnails, kept face crops) through Django's storage API only.

The same calls work on the local filesystem (``make run``) and on an S3 object store, so no
code here or elsewhere uses a file's ``.path``: an object has none. Both backends raise
``FileNotFoundError`` when a file is gone, which becomes a clear 404 here, never a 500.

Deleting is durable: a file to delete is written to the list of pending deletions
(``PendingDeletion``) in the transaction that drops its row, and leaves the list only once
the storage has deleted it; ``estimator.tasks.delete_pending_files`` retries what is left.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from django.core.files.storage import Storage, default_storage, storages
from django.db import transaction
from django.db.models import F
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404
from django.utils import timezone

from .models import PendingDeletion

logger = logging.getLogger(__name__)

MISSING = "The stored file could not be found; it may have been deleted."


def file_read(field: FieldFile) -> bytes:
    """The stored file's bytes; ``FileNotFoundError`` when it is gone from the storage."""
    if not field:
        raise FileNotFoundError("No file is stored for this field.")
    with field.storage.open(str(field.name), "rb") as handle:
        data: bytes = handle.read()
    return data


def file_response(field: FieldFile, *, gone: str) -> FileResponse:
    """Stream a stored JPEG to the one client allowed to see it; 404 with ``gone`` when the
    row has no file, and a 404 saying so when the row has one but the storage lost it.

    Never cached: a copy in a browser or proxy would outlive the photo's deletion, the
    retention period and a log-out on a shared computer."""
    if not field:
        raise Http404(gone)
    try:
        handle = field.storage.open(str(field.name), "rb")
    except FileNotFoundError:
        logger.error("Stored file %s is missing from the storage", field.name)
        raise Http404(MISSING) from None
    response = FileResponse(handle, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    return response


def files_delete_on_commit(*fields: FieldFile) -> None:
    """Delete the fields' stored files once the surrounding transaction commits (a rolled-back
    change keeps its files). Each goes on the list of pending deletions in that transaction,
    so a deletion the storage refuses now is retried later, never forgotten."""
    for field in fields:
        if field.name:
            pending = PendingDeletion.objects.create(name=str(field.name), storage=_alias(field.storage))
            # robust: the row is already gone, so not even a database error here may become a 500
            transaction.on_commit(partial(_attempt, pending), robust=True)


@dataclass(frozen=True)
class Retried:
    deleted: int
    failed: int


def pending_deletions_retry(*, limit: int = 500) -> Retried:
    """Try the pending deletions again, least recently tried first (so a file the storage
    keeps refusing never holds up the rest); each one deleted leaves the list."""
    never_first = F("last_attempt_at").asc(nulls_first=True)
    batch = list(PendingDeletion.objects.order_by(never_first, "id")[:limit])
    deleted = sum(_attempt(pending) for pending in batch)
    return Retried(deleted=deleted, failed=len(batch) - deleted)


def _alias(storage: Storage) -> str:
    """The ``STORAGES`` alias of a field's storage: a pending deletion is retried in another
    process, which finds the storage by this name."""
    if storage is default_storage:
        return "default"
    for alias in storages.backends:
        if storages[alias] is storage:
            return alias
    raise ValueError(f"{storage!r} is not one of the storages in settings.STORAGES")


def _attempt(pending: PendingDeletion) -> bool:
    """Delete one pending file; on success it leaves the list, on failure the attempt is
    counted with its error (a storage error is never raised: the file's row is already gone)."""
    try:
        storages[pending.storage].delete(pending.name)
    except Exception as error:
        logger.warning("Could not delete stored file %s; it stays on the list to retry: %s", pending.name, error)
        PendingDeletion.objects.filter(pk=pending.pk).update(
            attempts=F("attempts") + 1, last_attempt_at=timezone.now(), last_error=f"{type(error).__name__}: {error}"
        )
        return False
    PendingDeletion.objects.filter(pk=pending.pk).delete()
    return True
