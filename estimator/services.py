"""Business logic of predictions: create and enqueue, run the model, record, broadcast, delete.

The flow: ``prediction_create`` (API or page) validates and stores the photo, then enqueues
``tasks.predict_age`` after commit; the task calls ``prediction_run``, which asks the
estimator for faces and ages, stores them and broadcasts to the prediction's group,
which ``consumers.PredictionConsumer`` relays to the page.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts.models import User

from .images import image_clean, image_read
from .loader import load_estimator
from .models import Face, Prediction

if TYPE_CHECKING:
    from ml.inference import Estimate, FaceEstimate

logger = logging.getLogger(__name__)
Status = Prediction.Status

QUEUE_DOWN = "The processing queue is unavailable right now; please try again in a minute."
MODEL_COULD_NOT_READ = "The age model could not read this photo; try another one."
WORKER_KEPT_DYING = "Processing stopped unexpectedly several times on this photo; try another one."


def prediction_create(*, owner: User, image: File[bytes]) -> Prediction:
    """Validate and store an uploaded photo, then queue it for the model once committed."""
    clean = image_clean(image_read(image))
    prediction = Prediction(owner=owner, width=clean.width, height=clean.height)
    prediction.image.save("photo.jpg", ContentFile(clean.jpeg), save=False)
    with transaction.atomic():
        prediction.save()
        transaction.on_commit(partial(prediction_enqueue, prediction_id=prediction.id))
    return prediction


def prediction_enqueue(*, prediction_id: UUID) -> None:
    from .tasks import predict_age  # tasks import this module

    if settings.AGEWEB_RUN_TASKS_IN_PROCESS:
        from .background import run_in_background

        run_in_background(predict_age, str(prediction_id))
        return
    try:
        predict_age.delay(str(prediction_id))
    except OperationalError:
        logger.exception("Could not queue prediction %s", prediction_id)
        prediction_fail(prediction_id=prediction_id, reason=QUEUE_DOWN)


def prediction_run(*, prediction_id: UUID) -> Prediction | None:
    """Run the model on a queued prediction; a finished or deleted one is left alone."""
    prediction = _prediction_claim(prediction_id)
    if prediction is None:
        return None
    with prediction.image.open("rb") as photo:
        data = photo.read()
    try:
        estimate = load_estimator().estimate(data)
    except ValueError:  # ml.inference.ImageError is a ValueError
        logger.warning("The estimator refused prediction %s", prediction_id, exc_info=True)
        prediction_fail(prediction_id=prediction_id, reason=MODEL_COULD_NOT_READ)
        return None
    return _prediction_store(prediction_id, estimate)


def _prediction_claim(prediction_id: UUID) -> Prediction | None:
    with transaction.atomic():
        prediction = Prediction.objects.select_for_update().filter(pk=prediction_id).first()
        if prediction is None or prediction.is_finished:
            return None  # deleted, or a redelivered task whose work is already done
        if prediction.attempts >= settings.AGEWEB_MAX_ATTEMPTS:
            prediction_fail(prediction_id=prediction_id, reason=WORKER_KEPT_DYING)
            return None
        prediction.status = Status.RUNNING
        prediction.attempts += 1
        prediction.started_at = timezone.now()
        prediction.save(update_fields=["status", "attempts", "started_at"])
        transaction.on_commit(partial(prediction_broadcast, prediction_id=prediction_id))
    return prediction


def _face(prediction: Prediction, index: int, face: FaceEstimate) -> Face:
    x, y, w, h = (round(float(v)) for v in face.box)
    left, top = min(max(x, 0), prediction.width), min(max(y, 0), prediction.height)
    return Face(
        prediction=prediction,
        index=index,
        x=left,
        y=top,
        width=max(min(x + w, prediction.width) - left, 0),  # detectors may reach past the edge
        height=max(min(y + h, prediction.height) - top, 0),
        detection_score=float(face.detection_score),
        age=float(face.age),
        age_low=float(face.interval[0]),
        age_high=float(face.interval[1]),
        groups={label: float(p) for label, p in face.groups.items()},
        ensemble_groups={k: float(v) for k, v in face.ensemble_groups.items()} if face.ensemble_groups else None,
        ensemble_age=None if face.ensemble_age is None else float(face.ensemble_age),
        distribution=[float(p) for p in face.distribution],
        landmarks=[[float(px), float(py)] for px, py in face.landmarks],
    )


def _prediction_store(prediction_id: UUID, estimate: Estimate) -> Prediction | None:
    with transaction.atomic():
        prediction = Prediction.objects.select_for_update().filter(pk=prediction_id, status=Status.RUNNING).first()
        if prediction is None:
            return None  # deleted meanwhile, or failed by a time limit
        prediction.faces.all().delete()  # a rerun replaces, never duplicates
        Face.objects.bulk_create(_face(prediction, i, face) for i, face in enumerate(estimate.faces))
        prediction.status = Status.DONE
        prediction.model_version = estimate.model_version[:100]
        prediction.model_versions = dict(estimate.versions)
        prediction.too_small = min(estimate.too_small, 32767)
        prediction.finished_at = timezone.now()
        prediction.save(update_fields=["status", "model_version", "model_versions", "too_small", "finished_at"])
        transaction.on_commit(partial(prediction_broadcast, prediction_id=prediction_id))
    return prediction


def prediction_fail(*, prediction_id: UUID, reason: str) -> None:
    """Record why a prediction could not be made, unless it has already finished."""
    unfinished = Prediction.objects.filter(pk=prediction_id).exclude(status__in=[Status.DONE, Status.FAILED])
    if unfinished.update(status=Status.FAILED, failure_reason=reason, finished_at=timezone.now()):
        transaction.on_commit(partial(prediction_broadcast, prediction_id=prediction_id))


def prediction_group(prediction_id: UUID | str) -> str:
    return f"prediction.{prediction_id}"


def prediction_broadcast(*, prediction_id: UUID) -> None:
    """Tell the pages watching this prediction that it changed; they read it afresh."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(prediction_group(prediction_id), {"type": "prediction.changed"})
    except Exception:  # a broadcast is best effort: pages fall back to polling the API
        logger.warning("Could not broadcast prediction %s", prediction_id, exc_info=True)


def prediction_delete(*, prediction: Prediction) -> None:
    prediction.delete()  # the photo goes too (signals.prediction_image_delete)
