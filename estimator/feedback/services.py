"""Business logic of feedback, consent, review, retention, export and a person's data."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from ml import data as ml_data

from ..crops import crop_geometry, face_crop_jpeg
from ..files import file_read, files_delete_on_commit
from ..models import MAX_TRUE_AGE, DatasetRelease, Face, Feedback, Prediction
from ..serializers import PredictionSerializer
from .selectors import export_items, feedback_list

State = Feedback.State

NOT_FINISHED = "This prediction is not finished yet; answer once the ages are shown."
NO_SUCH_FACE = "This photo has no face number {index}."
AGE_RANGE = f"The real age must be a whole number from 0 to {MAX_TRUE_AGE}."
PHOTO_GONE = "The photo has already been deleted, so this face can no longer be kept; your answer was not saved."
CANNOT_CROP = "This face cannot be kept for training; your answer was not saved. Try again without keeping it."
CROP_MISSING = "The kept crop of answer {id} ({name}) is missing from the storage; nothing was exported."
NOT_KEPT = "This face is not kept for training (no consent, or it was withdrawn), so it cannot be reviewed."


def consent_context() -> dict[str, Any]:
    """What the consent text and the privacy page say: how long photos stay, the consent
    text's version and the size of a kept crop."""
    return {
        "retention_days": settings.AGEWEB_PHOTO_RETENTION_DAYS,
        "consent_version": settings.AGEWEB_CONSENT_VERSION,
        "crop_size": crop_geometry()[1],
    }


def prediction_face(*, prediction: Prediction, index: int) -> Face:
    """The face a person answers about; refuses unfinished predictions and unknown faces."""
    if prediction.status != Prediction.Status.DONE:
        raise ValidationError(NOT_FINISHED, code="not_finished")
    face = prediction.faces.filter(index=index).first()
    if face is None:
        raise ValidationError(NO_SUCH_FACE.format(index=index), code="no_such_face")
    return face


def feedback_set(*, face: Face, correct: bool, true_age: int | None, consent_to_train: bool) -> Feedback:
    """Store (or replace) the answer about ``face``, with a snapshot of what was shown.

    Consent given now cuts the face's training crop from the stored photo and keeps it
    apart from the photo; consent taken back deletes the crop. A changed answer goes back
    to the review queue."""
    if true_age is not None and not 0 <= true_age <= MAX_TRUE_AGE:
        raise ValidationError(AGE_RANGE, code="age_out_of_range")
    prediction = face.prediction
    now = timezone.now()
    with transaction.atomic():
        feedback = Feedback.objects.select_for_update().filter(face=face).first()
        if feedback is None:
            feedback = Feedback(face=face, created_at=now)
        elif (feedback.correct, feedback.true_age) != (correct, true_age):
            feedback.state, feedback.reviewer, feedback.reviewed_at, feedback.corrected_age = (
                State.PENDING,
                None,
                None,
                None,
            )
        feedback.correct, feedback.true_age, feedback.updated_at = correct, true_age, now
        feedback.shown_age = face.age
        feedback.shown_interval = [face.age_low, face.age_high]
        feedback.shown_groups = dict(face.groups)
        feedback.model_version = prediction.model_version
        feedback.model_versions = dict(prediction.model_versions)
        new_crop = consent_to_train and not feedback.kept
        if new_crop:
            _keep_crop(feedback, prediction, now)
        elif not consent_to_train and feedback.consent_to_train:
            _drop_crop(feedback, now)
        try:
            feedback.save()
        except Exception:
            if new_crop:  # written just now: never leave it orphaned
                feedback.crop.storage.delete(str(feedback.crop.name))
            raise
    return feedback


def _keep_crop(feedback: Feedback, prediction: Prediction, now: dt.datetime) -> None:
    if not prediction.image:
        raise ValidationError(PHOTO_GONE, code="photo_deleted")
    try:
        photo = file_read(prediction.image)
    except FileNotFoundError:  # the row has a photo, but the storage lost it
        raise ValidationError(PHOTO_GONE, code="photo_deleted") from None
    try:
        jpeg = face_crop_jpeg(face=feedback.face, photo=photo)
    except ValueError:  # no landmarks, or a photo that no longer decodes
        raise ValidationError(CANNOT_CROP, code="cannot_keep") from None
    feedback.crop.save("face.jpg", ContentFile(jpeg), save=False)
    feedback.consent_to_train = True
    feedback.consent_version = settings.AGEWEB_CONSENT_VERSION
    feedback.consented_at, feedback.withdrawn_at = now, None
    _back_to_review(feedback)


def _back_to_review(feedback: Feedback) -> None:
    feedback.state, feedback.reviewer, feedback.reviewed_at, feedback.corrected_age = State.PENDING, None, None, None


def _drop_crop(feedback: Feedback, now: dt.datetime) -> None:
    files_delete_on_commit(feedback.crop)
    feedback.crop = ""
    feedback.consent_to_train = False
    feedback.withdrawn_at = now


def feedback_delete(*, feedback: Feedback) -> None:
    feedback.delete()  # the kept crop goes too (signals.feedback_crop_delete)


def feedback_withdraw(*, feedback: Feedback) -> Feedback:
    """Take back the consent for one face: its crop is deleted, the numbers stay."""
    with transaction.atomic():
        if feedback.consent_to_train:
            _drop_crop(feedback, timezone.now())
            feedback.save(update_fields=["crop", "consent_to_train", "withdrawn_at"])
    return feedback


def feedback_withdraw_all(*, owner: User) -> int:
    """Take back every consent of ``owner``; returns how many faces were affected."""
    count = 0
    with transaction.atomic():
        for feedback in feedback_list(owner=owner).filter(consent_to_train=True):
            feedback_withdraw(feedback=feedback)
            count += 1
    return count


def feedback_review(*, feedback: Feedback, reviewer: User, state: str, corrected_age: int | None) -> Feedback:
    """Staff's verdict on a kept face: accepted (optionally with a corrected age) or rejected."""
    if state not in (State.ACCEPTED, State.REJECTED):
        raise ValidationError("The state must be accepted or rejected.", code="invalid_state")
    if corrected_age is not None and not 0 <= corrected_age <= MAX_TRUE_AGE:
        raise ValidationError(AGE_RANGE, code="age_out_of_range")
    with transaction.atomic():
        feedback = Feedback.objects.select_for_update().get(pk=feedback.pk)
        if not feedback.kept:
            raise ValidationError(NOT_KEPT, code="not_kept")
        feedback.state, feedback.corrected_age = state, corrected_age
        feedback.reviewer, feedback.reviewed_at = reviewer, timezone.now()
        feedback.save(update_fields=["state", "corrected_age", "reviewer", "reviewed_at"])
    return feedback


def photos_delete_expired(*, now: dt.datetime | None = None) -> int:
    """Delete uploaded photos older than the retention period; the results and the crops
    kept with consent stay. Returns how many photos were deleted. Idempotent."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.AGEWEB_PHOTO_RETENTION_DAYS)
    deleted = 0
    for prediction in Prediction.objects.filter(created_at__lt=cutoff).exclude(image=""):
        with transaction.atomic():
            files_delete_on_commit(prediction.image, prediction.thumbnail)  # the thumbnail: a small copy
            Prediction.objects.filter(pk=prediction.pk).update(image="", thumbnail="")
        deleted += 1
    return deleted


# --- the data set for ml/ ---


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
    margin, size = crop_geometry()
    meta = {
        "release": release.pk,
        "hash": release.content_hash,
        "created_at": release.created_at.isoformat(),
        "count": release.count,
        "margin": margin,
        "size": size,
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


# --- a person's own data ---


def user_data_archive(*, owner: User) -> bytes:
    """A zip of everything held about ``owner``: data.json, their photos and kept crops."""
    predictions = list(Prediction.objects.filter(owner=owner).prefetch_related("faces__feedback"))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        exported: list[dict[str, Any]] = []
        for prediction in predictions:
            item = dict(PredictionSerializer(prediction).data)
            item.pop("image_url", None), item.pop("page_url", None)
            photo = _stored_or_none(prediction.image)
            if photo is not None:
                item["photo_file"] = f"photos/{prediction.pk}.jpg"
                archive.writestr(item["photo_file"], photo)
            for face_data, face in zip(item["faces"], prediction.faces.all(), strict=True):
                face_data["feedback"] = _feedback_data(getattr(face, "feedback", None), archive)
            exported.append(item)
        account = {"username": owner.username, "email": owner.email, "date_joined": owner.date_joined.isoformat()}
        archive.writestr("data.json", json.dumps({"account": account, "predictions": exported}, indent=1, default=str))
    return out.getvalue()


def _feedback_data(feedback: Feedback | None, archive: zipfile.ZipFile) -> dict[str, Any] | None:
    if feedback is None:
        return None
    data: dict[str, Any] = {
        "correct": feedback.correct,
        "true_age": feedback.true_age,
        "consent_to_train": feedback.consent_to_train,
        "consent_version": feedback.consent_version,
        "consented_at": feedback.consented_at,
        "withdrawn_at": feedback.withdrawn_at,
        "review_state": feedback.state,
        "corrected_age": feedback.corrected_age,
        "created_at": feedback.created_at,
    }
    crop = _stored_or_none(feedback.crop)
    if crop is not None:
        data["crop_file"] = f"faces/{feedback.pk}.jpg"
        archive.writestr(data["crop_file"], crop)
    return data


def _stored_or_none(field: Any) -> bytes | None:
    """A person's download holds what is still stored: a file the storage lost is left out."""
    if not field:
        return None
    try:
        return file_read(field)
    except FileNotFoundError:
        return None
