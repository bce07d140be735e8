"""Reading predictions: always through the owner, so nobody sees another user's photos."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from accounts.models import User

from ..models import Prediction

NO_SUCH_PREDICTION = "No such prediction."  # what a missing and a not-yours prediction both answer


def prediction_list(*, owner: User) -> QuerySet[Prediction]:
    return Prediction.objects.filter(owner=owner).prefetch_related("faces").order_by("-created_at")


def prediction_get(*, owner: User, prediction_id: UUID | str) -> Prediction | None:
    """The owner's prediction with its faces, or None (missing and not-yours look the same)."""
    if not owner.is_authenticated:
        return None
    return prediction_list(owner=owner).filter(pk=prediction_id).first()
