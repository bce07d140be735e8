"""The data set for ``ml/``: accepted, consented faces written as a release ``ml.data`` reads."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from ml import data as ml_data
from ml.inference import shipped_spec

from ..files import file_read
from ..models import DatasetRelease, Feedback
from .selectors import export_items

CROP_MISSING = "The kept crop of answer {id} ({name}) is missing from the storage; nothing was exported."


def dataset_export(*, out_dir: Path, created_by: str = "") -> DatasetRelease:
    """Write every accepted, consented, not withdrawn face with a known age to ``out_dir``
    as ``<age>_<id>.jpg`` plus ``manifest.jsonl`` and ``release.json``, and record the release.

    A folder that holds an earlier export is replaced (so withdrawn faces leave it); any
    other non-empty folder is refused. Nothing is replaced until the new export is whole: it
    is written to a sibling folder, renamed into place, and its release committed last (the
    row is created first, for its id in ``release.json``, but nobody sees it before the
    commit). A failure at any step leaves the earlier export as it was and no new release."""
    out_dir = out_dir.resolve()  # a name and a parent to put siblings in, even for '.'
    _check_export_folder(out_dir)
    items = list(export_items())
    crops = [_crop(feedback) for feedback in items]
    records = [_manifest_record(feedback, crop) for feedback, crop in zip(items, crops, strict=True)]
    manifest = "".join(json.dumps(record, sort_keys=True) + "\n" for record in records)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(out_dir, "new")
    aside = _sibling(out_dir, "earlier") if out_dir.exists() else None
    try:
        with transaction.atomic():
            release = DatasetRelease.objects.create(
                created_by=created_by,
                items=[feedback.pk for feedback in items],
                content_hash=hashlib.sha256(manifest.encode()).hexdigest(),
                count=len(items),
            )
            _write_export(staging, records=records, crops=crops, manifest=manifest, release=release)
            if aside is not None:
                out_dir.rename(aside)  # replaces the empty sibling
            staging.rename(out_dir)
    except BaseException:
        _put_back(out_dir, staging=staging, aside=aside)
        raise
    if aside is not None:
        shutil.rmtree(aside)
    return release


def _sibling(out_dir: Path, kind: str) -> Path:
    """A new empty folder beside ``out_dir`` (on its file system, so renames are cheap and whole)."""
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.{kind}-", dir=out_dir.parent))


def _put_back(out_dir: Path, *, staging: Path, aside: Path | None) -> None:
    """Undo whichever of the two renames happened, then remove the new export."""
    if not staging.exists():  # the new export was renamed into place
        out_dir.rename(staging)
    if aside is not None:
        if not out_dir.exists():  # the earlier export was moved aside
            aside.rename(out_dir)
        else:
            aside.rmdir()
    shutil.rmtree(staging, ignore_errors=True)


def _crop(feedback: Feedback) -> bytes:
    try:
        return file_read(feedback.crop)
    except FileNotFoundError:
        message = CROP_MISSING.format(id=feedback.pk, name=feedback.crop.name)
        raise ValidationError(message, code="missing") from None


def _write_export(
    folder: Path, *, records: list[dict[str, Any]], crops: list[bytes], manifest: str, release: DatasetRelease
) -> None:
    for record, crop in zip(records, crops, strict=True):
        (folder / record["file"]).write_bytes(crop)
    (folder / ml_data.EXPORT_MANIFEST).write_text(manifest)
    spec = shipped_spec()
    meta = {
        "release": release.pk,
        "hash": release.content_hash,
        "created_at": release.created_at.isoformat(),
        "count": release.count,
        "margin": spec.margin,
        "size": spec.input_size,
    }
    (folder / ml_data.EXPORT_RELEASE).write_text(json.dumps(meta, indent=1) + "\n")


def _manifest_record(feedback: Feedback, crop: bytes) -> dict[str, Any]:
    age = feedback.label_age
    assert age is not None  # export_items keeps only faces with an age
    return {
        "id": feedback.pk,
        "file": f"{age}_{feedback.pk}.jpg",
        "age": age,
        "true_age": feedback.true_age,
        "corrected_age": feedback.corrected_age,
        "correct": feedback.correct,
        "model_version": feedback.model_version,
        "estimate": feedback.shown_age,
        "interval": feedback.shown_interval,
        "consent_version": feedback.consent_version,
        "consented_at": feedback.consented_at.isoformat() if feedback.consented_at else None,
        "reviewer": feedback.reviewer.get_username() if feedback.reviewer else None,
        "reviewed_at": feedback.reviewed_at.isoformat() if feedback.reviewed_at else None,
        "split": ml_data.split_of(f"feedback-{feedback.pk}"),
        "sha256": hashlib.sha256(crop).hexdigest(),
    }


def _check_export_folder(out_dir: Path) -> None:
    """Refuse a file, and a folder holding anything beside an earlier export's own files."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ValidationError(f"{out_dir} is a file, not a folder.", code="not_a_folder")
    allowed = {ml_data.EXPORT_MANIFEST, ml_data.EXPORT_RELEASE}
    manifest = out_dir / ml_data.EXPORT_MANIFEST
    if manifest.exists():
        lines = manifest.read_text().splitlines()
        allowed |= {Path(json.loads(line)["file"]).name for line in lines if line.strip()}
    if any(path.name not in allowed for path in out_dir.iterdir()):
        raise ValidationError(
            f"{out_dir} holds other files; export into an empty folder or an earlier export.", code="not_empty"
        )
