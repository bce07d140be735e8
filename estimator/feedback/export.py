"""The data set for ``ml/``: accepted, consented faces written as a release ``ml.data`` reads."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError

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
    other non-empty folder is refused."""
    _clear_export_folder(out_dir)
    items = list(export_items())
    records, crops = [], []
    for feedback in items:
        try:
            crop = file_read(feedback.crop)
        except FileNotFoundError:
            message = CROP_MISSING.format(id=feedback.pk, name=feedback.crop.name)
            raise ValidationError(message, code="missing") from None
        crops.append(crop)
        records.append(_manifest_record(feedback, crop))
    manifest = "".join(json.dumps(record, sort_keys=True) + "\n" for record in records)
    release = DatasetRelease.objects.create(
        created_by=created_by,
        items=[feedback.pk for feedback in items],
        content_hash=hashlib.sha256(manifest.encode()).hexdigest(),
        count=len(items),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    for record, crop in zip(records, crops, strict=True):
        (out_dir / record["file"]).write_bytes(crop)
    (out_dir / ml_data.EXPORT_MANIFEST).write_text(manifest)
    spec = shipped_spec()
    meta = {
        "release": release.pk,
        "hash": release.content_hash,
        "created_at": release.created_at.isoformat(),
        "count": release.count,
        "margin": spec.margin,
        "size": spec.input_size,
    }
    (out_dir / ml_data.EXPORT_RELEASE).write_text(json.dumps(meta, indent=1) + "\n")
    return release


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


def _clear_export_folder(out_dir: Path) -> None:
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ValidationError(f"{out_dir} is a file, not a folder.", code="not_a_folder")
    manifest = out_dir / ml_data.EXPORT_MANIFEST
    if manifest.exists():
        for line in manifest.read_text().splitlines():
            if line.strip():
                (out_dir / Path(json.loads(line)["file"]).name).unlink(missing_ok=True)
        manifest.unlink()
        (out_dir / ml_data.EXPORT_RELEASE).unlink(missing_ok=True)
    if any(out_dir.iterdir()):
        raise ValidationError(
            f"{out_dir} holds other files; export into an empty folder or an earlier export.", code="not_empty"
        )
