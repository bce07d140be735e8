"""Stored files (photos, thumbnails, kept face crops) through Django's storage API only.

The same calls work on the local filesystem (``make run``) and on an S3 object store, so no
code here or elsewhere uses a file's ``.path``: an object has none. Both backends raise
``FileNotFoundError`` when a file is gone, which becomes a clear 404 here, never a 500.
"""

from __future__ import annotations

import logging
from functools import partial

from django.core.files.storage import Storage
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404

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
    change keeps its files)."""
    for field in fields:
        if field.name:
            transaction.on_commit(partial(_delete, field.storage, str(field.name)))


def _delete(storage: Storage, name: str) -> None:
    # The row is already gone: an unreachable object store must not turn that into a 500.
    try:
        storage.delete(name)
    except Exception:
        logger.exception("Could not delete stored file %s; it is left in the storage", name)
