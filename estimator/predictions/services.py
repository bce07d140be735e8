"""Business logic of predictions: create and enqueue, run the model, record, broadcast, delete.

The flow: ``prediction_create`` (API or page) validates and stores the photo, then, after
commit, dispatches ``tasks.predict_age`` (``estimator.dispatch``); the task calls
``prediction_run``, which asks the estimator (``ml.inference``) for faces and ages, stores
them and broadcasts to the prediction's group, which ``consumer.PredictionConsumer``
relays to the page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING
from uuid import UUID

from botocore import exceptions as s3_errors
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts.models import User
from ageweb.broadcast import group_notify
from ageweb.metrics import PREDICTION_LATENCY, PREDICTIONS

from ..dispatch import dispatch
from ..files import file_read
from ..images import image_clean, image_read
from ..loader import load_estimator
from ..models import Face, Prediction
from ..versions.services import Served, model_serving
from ..versions.shadow import shadow_enqueue

if TYPE_CHECKING:
    from ml.inference import Estimate, FaceEstimate

logger = logging.getLogger(__name__)
Status = Prediction.Status

MODEL_COULD_NOT_READ = "The age model could not read this photo; try another one."
PHOTO_MISSING = "The stored photo could not be found, so no ages were estimated; upload the photo again."
WORKER_KEPT_DYING = "Processing stopped unexpectedly several times on this photo; try another one."
UNFINISHED = Status.QUEUED, Status.RUNNING
PREDICT_TASK = "estimator.tasks.predict_age"  # sent by name: the tasks module imports this one


# What an object store that cannot be reached raises (a missing object is FileNotFoundError).
STORAGE_OUTAGES = (s3_errors.ConnectionError, s3_errors.HTTPClientError)


class StorageUnavailable(Exception):
    """The photo's object store could not be reached; the prediction is queued again as it was."""


class TooManyUnfinished(Exception):
    """The owner already has as many photos waiting as one person may (a 429)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"You already have {limit} photos waiting to be processed; "
            "wait until one of them has finished, then upload again."
        )


def prediction_create(*, owner: User, image: File[bytes], source: str = Prediction.Source.UPLOAD) -> Prediction:
    """Validate and store an uploaded photo, then queue it for the model once committed;
    ``source`` "live": a frame kept from the live stream, whose faces are found as live frames' are.

    Refuses (``TooManyUnfinished``) when the owner already has the most unfinished
    predictions one user may, so that nobody can fill the shared queue alone.
    """
    clean = image_clean(image_read(image))
    prediction = Prediction(
        owner=owner, width=clean.width, height=clean.height, enqueued_at=timezone.now(), source=source
    )
    prediction.image.save("photo.jpg", ContentFile(clean.jpeg), save=False)
    prediction.thumbnail.save("thumbnail.jpg", ContentFile(clean.thumbnail), save=False)
    try:
        with transaction.atomic():
            _check_unfinished(owner)
            prediction.save()
            transaction.on_commit(partial(prediction_enqueue, prediction_id=prediction.id))
    except BaseException:  # refused, or the database failed: no file without its row
        for field in (prediction.image, prediction.thumbnail):
            if field.name:
                field.storage.delete(field.name)
        raise
    return prediction


def _check_unfinished(owner: User) -> None:
    User.objects.select_for_update().filter(pk=owner.pk).first()  # one upload of a user at a time counts
    limit = settings.AGEWEB_MAX_UNFINISHED_PER_USER
    if Prediction.objects.filter(owner=owner, status__in=UNFINISHED).count() >= limit:
        raise TooManyUnfinished(limit)


def prediction_enqueue(*, prediction_id: UUID) -> None:
    """Queue the task; if the broker is down the row stays queued and the reaper queues it later."""
    try:
        dispatch(PREDICT_TASK, args=[str(prediction_id)])
    except OperationalError:
        logger.exception("Could not queue prediction %s; the reaper will queue it again", prediction_id)


def prediction_run(*, prediction_id: UUID, task_id: str | None = None, worker: str = "") -> Prediction | None:
    """Run the model on a queued prediction; a finished, deleted or taken one is left alone.

    ``task_id`` is the Celery task's id: a message redelivered after its worker died carries
    the same id, and may take over the row that worker left running. ``worker`` is the Celery
    worker's node name, kept on the row while it runs (see :func:`predictions_take_back`).
    """
    prediction = _prediction_claim(prediction_id, task_id, worker=worker)
    if prediction is None:
        return None
    try:
        data = file_read(prediction.image)  # from the object store: a worker needs no shared folder
    except FileNotFoundError:
        logger.error("The photo of prediction %s is missing from the storage", prediction_id)
        prediction_fail(prediction_id=prediction_id, reason=PHOTO_MISSING)
        return None
    except STORAGE_OUTAGES as error:  # the store is down, not the photo gone: try again later
        _prediction_release(prediction_id)
        raise StorageUnavailable(str(error)) from error
    serving = model_serving()  # once: one version estimates the whole photo
    try:
        estimator = load_estimator(serving.active)
        if prediction.source == Prediction.Source.LIVE:
            estimate = estimator.estimate_kept_frame(data)
        else:
            estimate = estimator.estimate(data)
    except ValueError:  # ml.inference.ImageError is a ValueError
        logger.warning("The estimator refused prediction %s", prediction_id, exc_info=True)
        prediction_fail(prediction_id=prediction_id, reason=MODEL_COULD_NOT_READ)
        return None
    return _prediction_store(prediction_id, estimate, shadow=serving.shadow)


def _running_is_stale(prediction: Prediction) -> bool:
    """Running longer than any live worker could (the hard time limit plus a margin)."""
    deadline = timezone.now() - timedelta(seconds=settings.AGEWEB_RUNNING_STALE_AFTER)
    return prediction.started_at is None or prediction.started_at < deadline


def _prediction_claim(prediction_id: UUID, task_id: str | None, *, worker: str) -> Prediction | None:
    with transaction.atomic():
        prediction = Prediction.objects.select_for_update().filter(pk=prediction_id).first()
        if prediction is None or prediction.is_finished:
            return None  # deleted, or a redelivered task whose work is already done
        if prediction.status == Status.RUNNING:
            same_task = task_id is not None and prediction.claimed_by == task_id
            if not same_task and not _running_is_stale(prediction):
                return None  # another worker is on it: never run one photo twice at once
        if prediction.attempts >= settings.AGEWEB_MAX_ATTEMPTS:
            prediction_fail(prediction_id=prediction_id, reason=WORKER_KEPT_DYING)
            return None
        prediction.status = Status.RUNNING
        prediction.attempts += 1
        prediction.started_at = timezone.now()
        prediction.claimed_by = task_id or ""
        prediction.claimed_on = worker
        prediction.save(update_fields=["status", "attempts", "started_at", "claimed_by", "claimed_on"])
        transaction.on_commit(partial(prediction_broadcast, prediction_id=prediction_id))
    return prediction


def _prediction_release(prediction_id: UUID) -> None:
    """Back to queued, this attempt not counted: an outage is not the photo's fault."""
    Prediction.objects.filter(pk=prediction_id, status=Status.RUNNING).update(
        status=Status.QUEUED, attempts=F("attempts") - 1, started_at=None, claimed_by="", claimed_on=""
    )


def _face_row(prediction: Prediction, index: int, face: FaceEstimate) -> Face:
    x, y, w, h = (round(float(v)) for v in face.box)
    left, top = min(max(x, 0), prediction.width), min(max(y, 0), prediction.height)
    return Face(
        prediction=prediction,
        index=index,
        x=left,
        y=top,
        width=max(min(x + w, prediction.width) - left, 0),  # shown clipped; detected_box keeps the edge
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
        detected_box=[x, y, w, h],
    )


def _prediction_store(prediction_id: UUID, estimate: Estimate, *, shadow: Served | None) -> Prediction | None:
    with transaction.atomic():
        prediction = Prediction.objects.select_for_update().filter(pk=prediction_id, status=Status.RUNNING).first()
        if prediction is None:
            return None  # deleted meanwhile, or failed by a time limit
        prediction.faces.all().delete()  # a rerun replaces, never duplicates
        Face.objects.bulk_create(_face_row(prediction, i, face) for i, face in enumerate(estimate.faces))
        prediction.status = Status.DONE
        prediction.model_version = estimate.model_version[:100]
        prediction.model_versions = dict(estimate.versions)
        prediction.too_small = min(estimate.too_small, 32767)
        prediction.finished_at = timezone.now()
        prediction.save(update_fields=["status", "model_version", "model_versions", "too_small", "finished_at"])
        transaction.on_commit(partial(prediction_broadcast, prediction_id=prediction_id))
        outcome = "done" if estimate.faces else "no_face"
        version = prediction.model_version
        transaction.on_commit(partial(_count, outcome=outcome, created=prediction.created_at, version=version))
        if shadow is not None and estimate.faces:  # after the answer is saved and sent: nobody waits for it
            transaction.on_commit(partial(shadow_enqueue, prediction_id=prediction_id, version=shadow.version))
    return prediction


def _count(*, outcome: str, created: datetime, version: str = "") -> None:
    PREDICTIONS.labels(outcome, version).inc()
    PREDICTION_LATENCY.observe(max((timezone.now() - created).total_seconds(), 0.0))


def prediction_fail(*, prediction_id: UUID, reason: str) -> None:
    """Record why a prediction could not be made, unless it has already finished."""
    with transaction.atomic():
        unfinished = Prediction.objects.select_for_update().filter(pk=prediction_id, status__in=UNFINISHED)
        created = unfinished.values_list("created_at", flat=True).first()
        if created is None:
            return
        unfinished.update(status=Status.FAILED, failure_reason=reason, finished_at=timezone.now())
        transaction.on_commit(partial(prediction_broadcast, prediction_id=prediction_id))
        transaction.on_commit(partial(_count, outcome="failed", created=created))


@dataclass(frozen=True)
class Reaped:
    requeued: int
    failed: int


def predictions_reap(*, limit: int = 1000) -> Reaped:
    """Queue again what a worker or Redis lost; fail what has used all its attempts.

    A queued row whose message was lost (Redis restarted without it, a worker killed
    with the message prefetched) is queued again after ``AGEWEB_REQUEUE_AFTER``; a row
    running past ``AGEWEB_RUNNING_STALE_AFTER`` lost its worker (a hard time limit, a
    killed machine). Duplicated messages are harmless: the claim takes a row only once.
    """
    now = timezone.now()
    waited = now - timedelta(seconds=settings.AGEWEB_REQUEUE_AFTER)
    stale = now - timedelta(seconds=settings.AGEWEB_RUNNING_STALE_AFTER)
    with transaction.atomic():
        lost = Q(enqueued_at__lt=waited) | Q(enqueued_at__isnull=True, created_at__lt=waited)
        queued = Prediction.objects.select_for_update(skip_locked=True).filter(lost, status=Status.QUEUED)
        requeue = list(queued.values_list("pk", flat=True)[:limit])
        reaped = _running_requeue(Q(started_at__lt=stale), queued=requeue, limit=limit)
    if reaped.requeued or reaped.failed:
        logger.warning("Reaper: queued %d predictions again, failed %d", reaped.requeued, reaped.failed)
    return reaped


def predictions_take_back(*, worker: str, limit: int = 1000) -> Reaped:
    """What ``worker`` was running when it died, queued again (or failed, its attempts used).

    Called as the worker starts: a worker killed whole (its container or machine) leaves its
    photos running and their messages unacknowledged for the broker's visibility timeout.
    Started again under the same node name, it knows that none of them runs any more, and
    takes them back at once instead of after the reaper's ``AGEWEB_RUNNING_STALE_AFTER``.
    Node names must be unique among running workers (Celery's default, ``celery@`` and the
    host name, is, one worker per host or container).
    """
    if not worker:
        return Reaped(requeued=0, failed=0)
    with transaction.atomic():
        reaped = _running_requeue(Q(claimed_on=worker), queued=[], limit=limit)
    if reaped.requeued or reaped.failed:
        logger.warning("%s took back %d predictions it was running when it stopped, failed %d",
                       worker, reaped.requeued, reaped.failed)  # fmt: skip
    return reaped


def _running_requeue(which: Q, *, queued: list[UUID], limit: int) -> Reaped:
    """Inside a transaction: the running rows ``which`` selects are queued again with ``queued``
    (the messages go after the commit), or failed once they have used all their attempts."""
    requeue, failed = list(queued), 0
    running = Prediction.objects.select_for_update(skip_locked=True).filter(which, status=Status.RUNNING)
    for pk, attempts in running.values_list("pk", "attempts")[:limit]:
        if attempts >= settings.AGEWEB_MAX_ATTEMPTS:
            prediction_fail(prediction_id=pk, reason=WORKER_KEPT_DYING)
            failed += 1
        else:
            requeue.append(pk)
    Prediction.objects.filter(pk__in=requeue).update(status=Status.QUEUED, enqueued_at=timezone.now(), claimed_on="")
    for pk in requeue:
        transaction.on_commit(partial(prediction_enqueue, prediction_id=pk))
    return Reaped(requeued=len(requeue), failed=failed)


def prediction_group(prediction_id: UUID | str) -> str:
    return f"prediction.{prediction_id}"


def prediction_broadcast(*, prediction_id: UUID) -> None:
    """Tell the pages watching this prediction that it changed; they read it afresh."""
    group_notify(prediction_group(prediction_id), "prediction.changed")


def prediction_delete(*, prediction: Prediction) -> None:
    """Delete the row and its photo, and tell open pages, whose websockets then close."""
    prediction_id = prediction.id
    with transaction.atomic():
        prediction.delete()  # the photo goes too (signals.prediction_image_delete)
        transaction.on_commit(partial(prediction_broadcast, prediction_id=prediction_id))
