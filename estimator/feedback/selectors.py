"""Reading feedback: a person's own, who opened their photos, the staff review queue, the dashboard, the export."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db.models import F, FloatField, Func, QuerySet
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual, IsNull

from accounts.models import User

from ..models import Feedback, PhotoView

State = Feedback.State


def feedback_list(*, owner: User) -> QuerySet[Feedback]:
    return (
        Feedback.objects.filter(face__prediction__owner=owner)
        .select_related("face__prediction")
        .prefetch_related("face__consent_records")
        .order_by("-created_at", "-id")
    )


def feedback_get(*, owner: User, prediction_id: UUID | str, index: int) -> Feedback | None:
    """The owner's answer about one face, or None (missing and not-yours look the same)."""
    if not owner.is_authenticated:
        return None
    return feedback_list(owner=owner).filter(face__prediction_id=prediction_id, face__index=index).first()


def feedback_get_owned(*, owner: User, feedback_id: int) -> Feedback | None:
    if not owner.is_authenticated:
        return None
    return feedback_list(owner=owner).filter(pk=feedback_id).first()


def photo_views_of(*, owner: User) -> QuerySet[PhotoView]:
    """Each time staff opened one of ``owner``'s whole photos, newest first."""
    return PhotoView.objects.filter(owner=owner).order_by("-at", "-id")


# The age to learn from (staff's correction, else the person's) and its distance from the estimate.
LABEL = Coalesce(F("corrected_age"), F("true_age"))
DISAGREEMENT = Func(F("shown_age") - LABEL, function="ABS", output_field=FloatField())


def _with_disagreement(queryset: QuerySet[Feedback]) -> QuerySet[Feedback]:
    return queryset.annotate(disagreement=DISAGREEMENT)


def review_queue(
    *, state: str | None = None, model_version: str | None = None, min_disagreement: float | None = None
) -> QuerySet[Feedback]:
    """Faces kept with consent (withdrawn ones drop out), oldest first, with filters;
    ``min_disagreement`` keeps answers whose age is at least that many years from the estimate."""
    queryset = _with_disagreement(
        Feedback.objects.filter(consent_to_train=True).exclude(crop="").select_related("face__prediction", "reviewer")
    )
    if state:
        queryset = queryset.filter(state=state)
    if model_version:
        queryset = queryset.filter(model_version=model_version)
    if min_disagreement is not None:
        queryset = queryset.filter(GreaterThanOrEqual(DISAGREEMENT, min_disagreement))
    return queryset.order_by("created_at", "id")


def review_get(*, feedback_id: int) -> Feedback | None:
    return review_queue().filter(pk=feedback_id).first()


def review_model_versions() -> list[str]:
    versions = Feedback.objects.exclude(model_version="").values_list("model_version", flat=True).distinct()
    return sorted(versions)


def export_items() -> QuerySet[Feedback]:
    """What ``export_dataset`` writes: accepted, consented, not withdrawn, with an age."""
    return review_queue(state=State.ACCEPTED).filter(IsNull(LABEL, False)).select_related("reviewer").order_by("id")


@dataclass
class VersionStats:
    """How one model version does on reviewed (accepted) feedback."""

    model_version: str
    accepted: int = 0
    with_age: int = 0
    errors: list[float] = field(default_factory=list)
    called_right: int = 0
    pending: int = 0
    rejected: int = 0
    answers: int = 0

    @property
    def mae(self) -> float | None:
        return sum(self.errors) / len(self.errors) if self.errors else None

    @property
    def within5(self) -> float | None:
        return sum(e <= 5 for e in self.errors) / len(self.errors) if self.errors else None

    @property
    def share_called_right(self) -> float | None:
        return self.called_right / self.accepted if self.accepted else None


def dashboard_stats() -> list[VersionStats]:
    """Per model version: MAE and share within 5 years on accepted answers with an age,
    the share the people called right among accepted ones, and counts by state. Pending
    counts only the faces waiting in the review queue: an answer kept as numbers only, or
    whose consent was withdrawn, will never be reviewed."""
    stats: dict[str, VersionStats] = {}
    fields = ("model_version", "state", "correct", "shown_age", "true_age", "corrected_age", "consent_to_train", "crop")
    for item in Feedback.objects.values(*fields):
        row = stats.setdefault(item["model_version"], VersionStats(item["model_version"]))
        row.answers += 1
        if item["state"] == State.PENDING:
            row.pending += bool(item["consent_to_train"] and item["crop"])
        elif item["state"] == State.REJECTED:
            row.rejected += 1
        else:
            row.accepted += 1
            row.called_right += bool(item["correct"])
            label = item["corrected_age"] if item["corrected_age"] is not None else item["true_age"]
            if label is not None:
                row.with_age += 1
                row.errors.append(abs(item["shown_age"] - label))
    return sorted(stats.values(), key=lambda row: row.model_version)


def dashboard_series() -> dict[str, list[dict[str, Any]]]:
    """Weekly MAE per model version on accepted answers with an age, by answer date:
    ``{version: [{"week": "2026-11-23", "mae": 4.1, "n": 12}, ...]}``."""
    weeks: dict[str, dict[dt.date, list[float]]] = defaultdict(lambda: defaultdict(list))
    accepted = Feedback.objects.filter(state=State.ACCEPTED).filter(IsNull(LABEL, False))
    for version, created, shown, corrected, given in accepted.values_list(
        "model_version", "created_at", "shown_age", "corrected_age", "true_age"
    ):
        label = corrected if corrected is not None else given
        assert label is not None  # filtered above
        error = abs(shown - label)
        day = created.date()
        weeks[version][day - dt.timedelta(days=day.weekday())].append(float(error))
    return {
        version: [
            {"week": week.isoformat(), "mae": round(sum(e) / len(e), 2), "n": len(e)} for week, e in sorted(by.items())
        ]
        for version, by in sorted(weeks.items())
    }
