"""A model version's files: copied into Django's storage when it is registered, and fetched
from there into a cache folder on each host that serves it, once.

The storage is the one every web server and worker reads (the object store in production,
``MEDIA_ROOT`` in ``make run``), under ``models/<version>/``. Each file's SHA-256 is taken at
registration and checked again on every host before a model is built from it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

logger = logging.getLogger(__name__)

MODEL_FILES = ("meta.json", "model.tflite", "model.keras")  # what ml.training.train exports and serving reads
REQUIRED_FILES = ("meta.json", "model.tflite")  # model.keras only for AGEWEB_RUNTIME=keras
StoredFiles = dict[str, dict[str, str]]  # file name -> {"name": the storage's name, "sha256": ...}


class ModelFilesDamaged(Exception):
    """A stored file no longer matches the SHA-256 recorded when its version was registered."""


def _sha256(handle: IO[bytes], copy_to: IO[bytes] | None = None) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return _sha256(handle)


def version_files_store(*, folder: Path, version: str) -> StoredFiles:
    """Copy the model files in ``folder`` into the storage under ``models/<version>/``."""
    stored: StoredFiles = {}
    try:
        for file in MODEL_FILES:
            path = folder / file
            if not path.is_file():
                continue
            name = f"models/{version}/{file}"
            if default_storage.exists(name):  # left by a registration that failed before its row was saved
                default_storage.delete(name)
            with path.open("rb") as handle:
                saved = default_storage.save(name, File(handle, name=file))
            stored[file] = {"name": saved, "sha256": file_sha256(path)}
    except BaseException:
        version_files_delete(files=stored)
        raise
    return stored


def version_files_delete(*, files: StoredFiles) -> None:
    for stored in files.values():
        try:
            default_storage.delete(stored["name"])
        except Exception:
            logger.exception("Could not delete %s from the storage", stored["name"])


def version_folder(*, version: str, files: StoredFiles) -> Path:
    """A folder on this host holding the version's files, each matching its SHA-256: the
    shipped model's own folder when it holds exactly this version, else this host's cache
    (``AGEWEB_MODEL_CACHE``), filled from the storage the first time."""
    for folder in (Path(settings.AGEWEB_SHIPPED_MODEL), Path(settings.AGEWEB_MODEL_CACHE) / version):
        if _holds(folder, files):
            return folder
    return _fetch(version, files)


def _holds(folder: Path, files: StoredFiles) -> bool:
    # meta.json first: a folder of another version differs there, and it is the smallest file.
    for file in sorted(files, key=lambda name: name != "meta.json"):
        path = folder / file
        if not path.is_file() or file_sha256(path) != files[file]["sha256"]:
            return False
    return True


def _fetch(version: str, files: StoredFiles) -> Path:
    """Download into a folder beside the cache's, check every file, then rename it into place:
    another process on this host never sees a half-fetched version."""
    target = Path(settings.AGEWEB_MODEL_CACHE) / version
    target.parent.mkdir(parents=True, exist_ok=True)
    aside = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=target.parent))
    try:
        for file, stored in files.items():
            with default_storage.open(stored["name"], "rb") as source, (aside / file).open("wb") as copy:
                digest = _sha256(source, copy_to=copy)
            if digest != stored["sha256"]:
                raise ModelFilesDamaged(
                    f"{stored['name']} in the storage does not match the SHA-256 recorded when {version} was "
                    f"registered ({digest[:12]} instead of {stored['sha256'][:12]})."
                )
        shutil.rmtree(target, ignore_errors=True)  # a damaged or partial earlier copy
        try:
            aside.rename(target)
        except OSError:  # another process of this host renamed its copy first
            if not _holds(target, files):
                raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)
    logger.info("Fetched model version %s into %s", version, target)
    return target
