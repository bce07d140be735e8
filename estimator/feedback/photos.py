"""Whole photos for staff: reviewers see kept crops only; opening a person's whole photo
takes the ``estimator.view_photo`` permission and a reason, and each view is recorded for
the photo's owner to see (My data and their download)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import User

from ..models import PhotoView, Prediction

PHOTO_PERMISSION = "estimator.view_photo"
REASON_MIN = 10  # a short sentence: a word or two says nothing to the person who reads it
REASON_MAX = 500
REASON_NEEDED = f"Say why you need to see this photo ({REASON_MIN} to {REASON_MAX} characters)."


def can_view_photos(*, user: Any) -> bool:
    """Staff with the permission (the "support" group has it); superusers have every permission."""
    return bool(user.is_authenticated and user.is_active and user.is_staff and user.has_perm(PHOTO_PERMISSION))


def photo_view_reason(*, raw: str) -> str:
    """The reason as recorded; ``ValidationError`` (code ``reason_required``) when it is too
    short or too long."""
    reason = " ".join(raw.split())
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise ValidationError(REASON_NEEDED, code="reason_required")
    return reason


def photo_view_record(*, viewer: User, prediction: Prediction, reason: str) -> PhotoView:
    """Record that ``viewer`` opened the photo of ``prediction`` and why."""
    if not can_view_photos(user=viewer):
        raise PermissionDenied("Opening a person's photo needs the view_photo permission.")
    return PhotoView.objects.create(
        owner_id=prediction.owner_id,
        prediction=prediction,
        photo_uploaded_at=prediction.created_at,
        viewer=viewer,
        viewer_name=viewer.get_username(),
        reason=photo_view_reason(raw=reason),
    )
