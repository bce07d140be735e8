"""Reading predictions: always through the owner, so nobody sees another user's photos."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User

from .models import Prediction


def prediction_list(*, owner: User) -> QuerySet[Prediction]:
    return Prediction.objects.filter(owner=owner).prefetch_related("faces").order_by("-created_at")


def prediction_get(*, owner: User, prediction_id: UUID | str) -> Prediction | None:
    """The owner's prediction with its faces, or None (missing and not-yours look the same)."""
    if not owner.is_authenticated:
        return None
    return prediction_list(owner=owner).filter(pk=prediction_id).first()


def prediction_get_or_404(*, owner: User, prediction_id: UUID | str) -> Prediction:
    """As :func:`prediction_get`, or Http404 (pages show the 404 page; the API's error
    handler turns it into its JSON 404)."""
    prediction = prediction_get(owner=owner, prediction_id=prediction_id)
    if prediction is None:
        raise Http404("No such prediction.")
    return prediction
