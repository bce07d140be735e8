"""The shadow: a candidate model version scores every new upload's faces as well, after the
active version's answer is saved, as a task of its own on the inference queue. Its estimates
are stored apart (``ShadowFace``) for comparing versions and never shown to the person.

The shadow scores exactly the faces the active version answered (their boxes and landmarks),
without detecting again or the 8-group ensemble, so the two differ only by the model.
"""

from __future__ import annotations

import logging
from uuid import UUID

from django.utils import timezone
from kombu.exceptions import OperationalError

from ageweb.metrics import SHADOW_LATENCY

from ..dispatch import dispatch
from ..files import file_read
from ..loader import load_estimator
from ..models import Prediction, ShadowFace
from .services import model_serving

logger = logging.getLogger(__name__)

SHADOW_TASK = "estimator.tasks.shadow_estimate"  # sent by name, as uploads are


def shadow_enqueue(*, prediction_id: UUID, version: str) -> None:
    """Queue the shadow's scoring of a finished upload (called once its answer is committed)."""
    try:
        dispatch(SHADOW_TASK, args=[str(prediction_id), version])
    except OperationalError:  # nobody waits for a shadow estimate: lose it, never the upload
        logger.warning("Could not queue the shadow estimate of %s", prediction_id, exc_info=True)


def shadow_run(*, prediction_id: UUID, version: str) -> int:
    """Score a finished upload's faces with the shadow ``version``; returns how many faces
    were stored. Nothing is done when ``version`` is no longer the shadow, the photo is gone,
    or its faces were scored already (a redelivered task)."""
    serving = model_serving()
    if serving.shadow is None or serving.shadow.version != version:
        return 0
    prediction = Prediction.objects.filter(pk=prediction_id, status=Prediction.Status.DONE).exclude(image="").first()
    if prediction is None:
        return 0
    faces = [face for face in prediction.faces.exclude(shadows__model_version=version) if face.landmarks]
    if not faces:
        return 0
    try:
        photo = file_read(prediction.image)
    except FileNotFoundError:
        return 0
    located = [(face.crop_box, [(x, y) for x, y in face.landmarks]) for face in faces]
    estimates = load_estimator(serving.shadow).estimate_faces(photo, located=located)
    ShadowFace.objects.bulk_create(
        [
            ShadowFace(
                face=face,
                model_version=version,
                age=float(estimate.age),
                age_low=float(estimate.interval[0]),
                age_high=float(estimate.interval[1]),
            )
            for face, estimate in zip(faces, estimates, strict=True)
        ],
        ignore_conflicts=True,
    )
    if prediction.finished_at is not None:
        SHADOW_LATENCY.observe(max((timezone.now() - prediction.finished_at).total_seconds(), 0.0))
    return len(estimates)
