"""Reading model versions: each version with its figures, and a version side by side with
what was served on the same reviewed faces.

"Reviewed faces" are accepted answers with an age to learn from (staff's correction, else
the person's). A face's served estimate is the one the person was shown (its answer's
snapshot, by the version that answered the upload); a shadow version's estimate of the same
face is its ``ShadowFace`` row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Avg, Count, F
from django.db.models.lookups import IsNull

from ..feedback.selectors import LABEL
from ..models import Face, Feedback, ModelVersion, ShadowFace
from .comparison import Pair, Paired, mae_difference, paired, paired_by_band
from .services import model_serving

State = ModelVersion.State


@dataclass(frozen=True)
class Errors:
    """A version's error on reviewed faces: how many, mean absolute error, share within 5 years."""

    n: int
    mae: float | None
    cs5: float | None

    @classmethod
    def of(cls, errors: Sequence[float]) -> Errors:
        if not errors:
            return cls(n=0, mae=None, cs5=None)
        return cls(n=len(errors), mae=sum(errors) / len(errors), cs5=sum(e <= 5 for e in errors) / len(errors))


@dataclass(frozen=True)
class Shift:
    """A version scored in the shadow against what was served on the same uploads: ``n``
    faces, the mean of its age minus the served age, and its MAE minus the served MAE on
    the reviewed ones among them (below 0: it is better)."""

    n: int
    mean_shift: float | None
    mae_vs_active_on_reviewed: float | None


@dataclass(frozen=True)
class VersionSummary:
    version: str
    state: str
    registered_at: datetime
    registered_by: str
    releases: list[Any]
    faces_scored: int
    reviewed: Errors
    shadow: Shift | None


@dataclass(frozen=True)
class ReviewedFace:
    label: int
    served_version: str
    served_age: float
    shadow_ages: dict[str, float] = field(default_factory=dict)

    def age_by(self, version: str) -> float | None:
        return self.served_age if version == self.served_version else self.shadow_ages.get(version)


def model_version_list() -> list[ModelVersion]:
    model_serving()  # a site with no version yet registers the shipped model first
    return list(ModelVersion.objects.select_related("previous"))


def model_version_get(*, version: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(version=version).select_related("previous").first()


def model_version_active() -> ModelVersion | None:
    return ModelVersion.objects.filter(state=State.ACTIVE).select_related("previous").first()


def reviewed_faces() -> list[ReviewedFace]:
    accepted = Feedback.objects.filter(state=Feedback.State.ACCEPTED).filter(IsNull(LABEL, False))
    rows = accepted.annotate(label=LABEL).values_list("face_id", "label", "model_version", "shown_age")
    shadows: dict[int, dict[str, float]] = defaultdict(dict)
    for face_id, version, age in ShadowFace.objects.filter(face__feedback__in=accepted).values_list(
        "face_id", "model_version", "age"
    ):
        shadows[face_id][version] = age
    return [
        ReviewedFace(label=label, served_version=version, served_age=shown, shadow_ages=shadows[face_id])
        for face_id, label, version, shown in rows
    ]


def shadow_pairs(faces: Sequence[ReviewedFace], version: str) -> list[Pair]:
    """The reviewed faces ``version`` scored in the shadow of another version, as pairs."""
    return [
        Pair(label=face.label, served=face.served_age, other=face.shadow_ages[version])
        for face in faces
        if version in face.shadow_ages and face.served_version != version
    ]


def model_version_summaries() -> list[VersionSummary]:
    """Every registered version, oldest first, with its figures (the API's list)."""
    versions = model_version_list()
    faces = reviewed_faces()
    served = dict(Face.objects.values_list("prediction__model_version").annotate(n=Count("id")))
    shadowed = dict(ShadowFace.objects.values_list("model_version").annotate(n=Count("id")))
    shifts = _shifts(faces)
    summaries = []
    for row in versions:
        errors = [abs(age - face.label) for face in faces if (age := face.age_by(row.version)) is not None]
        summaries.append(
            VersionSummary(
                version=row.version,
                state=row.state,
                registered_at=row.registered_at,
                registered_by=row.registered_by,
                releases=list(row.releases),
                faces_scored=served.get(row.version, 0) + shadowed.get(row.version, 0),
                reviewed=Errors.of(errors),
                shadow=shifts.get(row.version),
            )
        )
    return summaries


def _shifts(faces: Sequence[ReviewedFace], version: str | None = None) -> dict[str, Shift]:
    """Each version scored in a shadow (or just ``version``) against what was served."""
    rows = ShadowFace.objects.exclude(face__prediction__model_version=F("model_version"))
    if version is not None:
        rows = rows.filter(model_version=version)
    shifts = {}
    for row in rows.values("model_version").annotate(n=Count("id"), shift=Avg(F("age") - F("face__age"))):
        pairs = shadow_pairs(faces, row["model_version"])
        shifts[row["model_version"]] = Shift(
            n=row["n"], mean_shift=row["shift"], mae_vs_active_on_reviewed=mae_difference(pairs)
        )
    return shifts


@dataclass(frozen=True)
class Comparison:
    """``version`` beside what was served (``served``: those versions) on the same reviewed
    faces, overall and in each of the 8 age groups; ``shift`` on every upload it scored."""

    version: str
    served: list[str]
    overall: Paired
    bands: list[tuple[str, Paired]]
    shift: Shift | None


def version_comparison(*, version: str) -> Comparison:
    faces = reviewed_faces()
    pairs = shadow_pairs(faces, version)
    served = sorted({face.served_version for face in faces if version in face.shadow_ages} - {version})
    return Comparison(
        version=version,
        served=served,
        overall=paired(pairs),
        bands=paired_by_band(pairs),
        shift=_shifts(faces, version).get(version),
    )


def comparison_version() -> str | None:
    """The version the dashboard compares by default: the shadow, else the one most recently
    registered of those that were scored in a shadow."""
    shadow = ModelVersion.objects.filter(state=State.SHADOW).values_list("version", flat=True).first()
    if shadow:
        return shadow
    scored = set(ShadowFace.objects.values_list("model_version", flat=True).distinct())
    latest = ModelVersion.objects.filter(version__in=scored).order_by("-registered_at", "-id")
    return latest.values_list("version", flat=True).first()
