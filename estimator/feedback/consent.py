"""Consent to keep a face for training: the kept crop is cut when it is given, deleted when it
is taken back, and each is recorded (``ConsentRecord``, never changed afterwards); the answer's
own consent fields hold the latest state."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from accounts.models import User
from ml.inference import ImageError, shipped_spec, training_crop

from ..files import file_read, files_delete_on_commit
from ..images import jpeg_without_metadata
from ..models import ConsentRecord, Face, Feedback, Prediction
from .selectors import feedback_list

State = Feedback.State

PHOTO_GONE = "The photo has already been deleted, so this face can no longer be kept; your answer was not saved."
CANNOT_CROP = "This face cannot be kept for training; your answer was not saved. Try again without keeping it."
CROP_QUALITY = 95  # JPEG quality of kept crops: training data, so little loss


def consent_context() -> dict[str, Any]:
    """What the consent text and the privacy page say: how long photos stay, the consent
    text's version and the size of a kept crop."""
    return {
        "retention_days": settings.AGEWEB_PHOTO_RETENTION_DAYS,
        "consent_version": settings.AGEWEB_CONSENT_VERSION,
        "crop_size": shipped_spec().input_size,
    }


def consent_give(*, feedback: Feedback, prediction: Prediction, now: dt.datetime) -> None:
    """Cut and keep the face's training crop and record the consent (the answer is saved by the caller)."""
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
    _record(feedback=feedback, action=ConsentRecord.Action.GIVEN, now=now)
    feedback.state, feedback.reviewer, feedback.reviewed_at, feedback.corrected_age = State.PENDING, None, None, None


def face_crop_jpeg(*, face: Face, photo: bytes) -> bytes:
    """The crop the model scored ``face`` on, at its training margin and size, as a JPEG:
    cut from the face's unclipped box (a face at the photo's edge keeps its centre and scale)."""
    if len(face.landmarks) < 2:  # the eye centres come first
        raise ValueError("the face has no eye landmarks to align it on")
    try:
        crop = training_crop(photo, box=face.crop_box, landmarks=[tuple(point) for point in face.landmarks])
    except ImageError as error:
        raise ValueError(str(error)) from error
    return jpeg_without_metadata(Image.fromarray(crop), quality=CROP_QUALITY)


def consent_drop(*, feedback: Feedback, now: dt.datetime) -> None:
    """Delete the kept crop and record the withdrawal (the answer is saved by the caller)."""
    files_delete_on_commit(feedback.crop)
    feedback.crop = ""
    feedback.consent_to_train = False
    feedback.withdrawn_at = now
    _record(feedback=feedback, action=ConsentRecord.Action.WITHDRAWN, now=now)


def _record(*, feedback: Feedback, action: str, now: dt.datetime) -> None:
    # In the caller's transaction: a consent whose answer is not saved leaves no record.
    ConsentRecord.objects.create(
        face_id=feedback.face_id,
        owner_id=feedback.face.prediction.owner_id,
        action=action,
        consent_version=feedback.consent_version,
        at=now,
    )


def feedback_withdraw(*, feedback: Feedback) -> Feedback:
    """Take back the consent for one face: its crop is deleted, the numbers stay."""
    with transaction.atomic():
        if feedback.consent_to_train:
            consent_drop(feedback=feedback, now=timezone.now())
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
