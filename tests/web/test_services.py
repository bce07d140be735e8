"""Services: create and queue, run the model, record results and failures, broadcast, delete."""

from __future__ import annotations

import io
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.utils import timezone
from PIL import Image

from accounts.models import User
from ageweb.celery import app as celery_app
from estimator.models import Face, Prediction
from estimator.predictions import services
from estimator.predictions.services import prediction_create, prediction_delete, prediction_fail, prediction_run
from harness import photos
from tests.web.conftest import upload

pytestmark = pytest.mark.django_db
Status = Prediction.Status


def queued(user: User, data: bytes | None = None) -> Prediction:
    """A stored, queued prediction whose task has not run (on_commit is not fired here)."""
    return prediction_create(owner=user, image=upload(data or photos.face_photo()))


def test_it_stores_the_photo_reencoded_and_queues_it(user: User, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        prediction = queued(user, photos.rotated_by_exif())
    assert prediction.status == Status.QUEUED
    assert (prediction.width, prediction.height) == (200, 300)
    stored = Image.open(prediction.image.path)
    assert stored.format == "JPEG" and stored.size == (200, 300) and not stored.getexif()
    assert prediction.image.name.endswith(f"{prediction.id}.jpg")  # never the upload's own name
    assert len(callbacks) == 1  # the task is queued only once the row is committed


def test_it_runs_the_task_after_commit(user: User, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        prediction = queued(user)
    prediction.refresh_from_db()
    assert prediction.status == Status.DONE


def test_it_stores_nothing_for_a_refused_upload(user: User, settings: Any) -> None:
    # One representative: every rule is tested in test_images.py.
    with pytest.raises(ValidationError):
        prediction_create(owner=user, image=upload(photos.truncated_jpeg()))
    assert not Prediction.objects.exists()
    assert not any(Path(settings.MEDIA_ROOT).rglob("*.*"))


def test_it_records_faces_ages_and_groups(user: User) -> None:
    prediction = queued(user)
    prediction_run(prediction_id=prediction.id)
    prediction.refresh_from_db()
    assert prediction.status == Status.DONE
    assert prediction.model_version == "fake-1"
    assert prediction.started_at is not None and prediction.finished_at is not None
    assert prediction.message == ""
    face = prediction.faces.get()
    assert (face.x, face.y, face.width, face.height) == (160, 120, 320, 240)
    assert face.age == pytest.approx(38.0, abs=0.1)
    assert (face.age_low, face.age_high) == (30.0, 46.0)
    assert sum(face.groups.values()) == pytest.approx(1.0)
    assert len(face.distribution) == 101
    assert len(face.landmarks) == 5


def test_it_clips_face_boxes_to_the_photo(user: User, use_estimator: Callable[[str], None]) -> None:
    use_estimator("TwoFacesEstimator")
    prediction = queued(user)
    prediction_run(prediction_id=prediction.id)
    first, second = prediction.faces.all()
    assert (first.x, first.width) == (0, 203)  # -10 .. 203 becomes 0 .. 203
    assert second.age == pytest.approx(61.0, abs=0.1)


def test_it_is_idempotent_when_a_task_runs_twice(user: User) -> None:
    prediction = queued(user)
    prediction_run(prediction_id=prediction.id)
    finished_at = Prediction.objects.get(pk=prediction.id).finished_at
    assert prediction_run(prediction_id=prediction.id) is None  # a redelivered task does nothing
    prediction.refresh_from_db()
    assert prediction.finished_at == finished_at
    assert Face.objects.filter(prediction=prediction).count() == 1


def test_it_reruns_a_prediction_left_running_by_a_dead_worker(user: User) -> None:
    prediction = queued(user)
    Prediction.objects.filter(pk=prediction.id).update(
        status=Status.RUNNING, attempts=1, started_at=timezone.now(), claimed_by="task-1"
    )
    Face.objects.create(
        prediction=prediction, index=0, x=0, y=0, width=1, height=1, detection_score=0, age=1,
        age_low=0, age_high=2, groups={}, distribution=[],
    )  # fmt: skip
    prediction_run(prediction_id=prediction.id, task_id="task-1")  # the same message, redelivered
    prediction.refresh_from_db()
    assert prediction.status == Status.DONE and prediction.attempts == 2
    assert prediction.faces.get().age == pytest.approx(38.0, abs=0.1)  # replaced, not added


def test_it_gives_up_on_a_photo_that_kept_killing_its_worker(user: User, settings: Any) -> None:
    prediction = queued(user)
    Prediction.objects.filter(pk=prediction.id).update(status=Status.RUNNING, attempts=settings.AGEWEB_MAX_ATTEMPTS)
    assert prediction_run(prediction_id=prediction.id) is None
    prediction.refresh_from_db()
    assert prediction.status == Status.FAILED
    assert prediction.failure_reason == services.WORKER_KEPT_DYING


def test_it_says_no_face_found_when_there_is_none(user: User, use_estimator: Callable[[str], None]) -> None:
    use_estimator("NoFaceEstimator")
    prediction = queued(user, photos.no_face_photo())
    prediction_run(prediction_id=prediction.id)
    prediction.refresh_from_db()
    assert prediction.status == Status.DONE
    assert not prediction.faces.exists()
    assert prediction.message == "No face found in this photo."


def test_it_says_when_faces_were_too_small(user: User, use_estimator: Callable[[str], None]) -> None:
    use_estimator("TooSmallEstimator")
    prediction = queued(user)
    prediction_run(prediction_id=prediction.id)
    prediction.refresh_from_db()
    assert prediction.too_small == 2
    assert prediction.message == "No face large enough to estimate was found; try a closer photo."


def test_it_fails_with_a_reason_when_the_model_cannot_read_the_photo(
    user: User, use_estimator: Callable[[str], None]
) -> None:
    use_estimator("RefusingEstimator")
    prediction = queued(user)
    assert prediction_run(prediction_id=prediction.id) is None
    prediction.refresh_from_db()
    assert prediction.status == Status.FAILED
    assert prediction.message == services.MODEL_COULD_NOT_READ
    assert not prediction.faces.exists()


def test_it_does_nothing_for_a_prediction_deleted_before_its_task_ran(user: User) -> None:
    prediction = queued(user)
    prediction_delete(prediction=prediction)
    assert prediction_run(prediction_id=prediction.id) is None


def test_failing_a_finished_prediction_changes_nothing(user: User) -> None:
    prediction = queued(user)
    prediction_run(prediction_id=prediction.id)
    prediction_fail(prediction_id=prediction.id, reason="too late")
    prediction.refresh_from_db()
    assert prediction.status == Status.DONE and prediction.failure_reason == ""


@pytest.fixture
def unreachable_broker() -> Iterator[None]:
    """Celery really publishing (not eagerly) to a Redis address where nothing listens."""
    with socket.socket() as probe:  # a port that was free a moment ago, and nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    changes = {
        "task_always_eager": False,
        "broker_url": f"redis://127.0.0.1:{port}/0",
        "broker_connection_retry": False,
        "broker_connection_max_retries": 0,
        "broker_connection_timeout": 1,
        "task_publish_retry": False,
    }
    before = {key: celery_app.conf[key] for key in changes}
    celery_app.conf.update(changes)
    celery_app._after_fork()  # drop the cached connection pools, so the new address is used
    try:
        yield
    finally:
        celery_app.conf.update(before)
        celery_app._after_fork()


def test_it_leaves_the_prediction_queued_for_the_reaper_when_the_broker_is_unreachable(
    user: User, unreachable_broker: None
) -> None:
    prediction = queued(user)
    services.prediction_enqueue(prediction_id=prediction.id)  # logs, never raises
    prediction.refresh_from_db()
    assert prediction.status == Status.QUEUED  # accepted, so never failed for an outage of ours
    assert prediction.failure_reason == ""


def test_it_broadcasts_each_change_to_the_predictions_group(
    user: User, django_capture_on_commit_callbacks: Any
) -> None:
    prediction = queued(user)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(services.prediction_group(prediction.id), channel)
    with django_capture_on_commit_callbacks(execute=True):
        prediction_run(prediction_id=prediction.id)
    messages = [async_to_sync(layer.receive)(channel) for _ in range(2)]  # running, then done
    assert messages == [{"type": "prediction.changed"}] * 2


def test_a_broadcast_failure_does_not_fail_the_prediction(user: User, django_capture_on_commit_callbacks: Any) -> None:
    prediction = queued(user)
    down = mock.patch("channels.layers.InMemoryChannelLayer.group_send", side_effect=ConnectionError("redis is down"))
    with down as group_send, django_capture_on_commit_callbacks(execute=True):
        prediction_run(prediction_id=prediction.id)
    assert group_send.call_count == 2
    prediction.refresh_from_db()
    assert prediction.status == Status.DONE


def test_deleting_a_prediction_removes_its_photo(user: User, django_capture_on_commit_callbacks: Any) -> None:
    prediction = queued(user)
    path = Path(prediction.image.path)
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        prediction_delete(prediction=prediction)
    assert not path.exists()
    assert not Prediction.objects.exists()


def test_the_stored_photo_is_what_the_model_sees(user: User) -> None:
    seen: list[bytes] = []

    class Spy:
        def estimate(self, image: bytes) -> Any:
            seen.append(image)
            from tests.fakes import FakeEstimator

            return FakeEstimator().estimate(image)

    prediction = queued(user, photos.rotated_by_exif())
    with mock.patch("estimator.predictions.services.load_estimator", return_value=Spy()):
        prediction_run(prediction_id=prediction.id)
    assert Image.open(io.BytesIO(seen[0])).size == (200, 300)  # upright, as stored


def test_a_failed_database_write_leaves_no_photo_behind(user: User, settings: Any) -> None:
    from django.db import DatabaseError

    with mock.patch.object(Prediction, "save", side_effect=DatabaseError("disk full")), pytest.raises(DatabaseError):
        prediction_create(owner=user, image=upload(photos.face_photo()))
    assert list(Path(settings.MEDIA_ROOT).rglob("*.jpg")) == []


def test_a_refusal_by_the_cap_leaves_no_photo_behind(user: User, settings: Any) -> None:
    settings.AGEWEB_MAX_UNFINISHED_PER_USER = 1
    queued(user)
    with pytest.raises(services.TooManyUnfinished):
        queued(user)
    assert len(list(Path(settings.MEDIA_ROOT).rglob("*.jpg"))) == 2  # the first one's photo and thumbnail


def test_deleting_removes_the_thumbnail_too(user: User, settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    prediction = queued(user)
    with django_capture_on_commit_callbacks(execute=True):
        prediction_delete(prediction=prediction)
    assert list(Path(settings.MEDIA_ROOT).rglob("*.jpg")) == []
