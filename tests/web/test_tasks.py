"""The Celery task: a thin interface that records every failure on the prediction."""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from accounts.models import User
from ageweb.celery import app as celery_app
from estimator.models import Prediction
from estimator.predictions import tasks
from estimator.predictions.services import prediction_create
from harness import photos
from tests.fakes import CountingEstimator
from tests.web.conftest import upload

pytestmark = pytest.mark.django_db
Status = Prediction.Status


@pytest.fixture
def prediction(user: User) -> Prediction:
    return prediction_create(owner=user, image=upload(photos.face_photo()))


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("estimator.tasks.predict_age", "inference"),
        ("estimator.tasks.live_frame", "live"),  # never behind uploads
        ("estimator.tasks.reap_stale_predictions", "default"),  # periodic jobs
        ("estimator.tasks.delete_expired_photos", "default"),
    ],
)
def test_each_task_is_routed_to_its_queue(task: str, queue: str) -> None:
    route = celery_app.amqp.router.route({}, task)  # what a real publish would use
    assert route["queue"].name == queue


def test_it_runs_a_prediction_by_its_id(prediction: Prediction) -> None:
    tasks.predict_age.delay(str(prediction.id))
    prediction.refresh_from_db()
    assert prediction.status == Status.DONE
    assert prediction.faces.count() == 1


def test_it_records_a_time_limit_as_a_readable_failure(prediction: Prediction) -> None:
    with mock.patch("estimator.predictions.tasks.prediction_run", side_effect=SoftTimeLimitExceeded()):
        tasks.predict_age(str(prediction.id))
    prediction.refresh_from_db()
    assert prediction.status == Status.FAILED
    assert prediction.failure_reason == tasks.TOO_SLOW


def test_it_records_an_unexpected_error_and_still_raises_it(
    prediction: Prediction, use_estimator: Callable[[str], None]
) -> None:
    use_estimator("BrokenEstimator")
    with pytest.raises(RuntimeError, match="the model blew up"):
        tasks.predict_age(str(prediction.id))
    prediction.refresh_from_db()
    assert prediction.status == Status.FAILED
    assert prediction.failure_reason == tasks.UNEXPECTED


def test_a_pool_child_loads_the_estimator_when_it_starts_and_every_task_reuses_it(
    prediction: Prediction, use_estimator: Callable[[str], None]
) -> None:
    use_estimator("CountingEstimator")
    built = CountingEstimator.built
    tasks.worker_process_init.send(sender=None)
    assert CountingEstimator.built == built + 1
    tasks.predict_age(str(prediction.id))
    tasks.predict_age(str(prediction_create(owner=prediction.owner, image=upload(photos.face_photo())).id))
    assert CountingEstimator.built == built + 1  # loaded once, at start
    prediction.refresh_from_db()
    assert prediction.status == Status.DONE


def test_a_pool_child_survives_an_estimator_that_cannot_load_and_the_photo_says_what_happened(
    prediction: Prediction, use_estimator: Callable[[str], None], caplog: pytest.LogCaptureFixture
) -> None:
    use_estimator("UnloadableEstimator")
    tasks.worker_process_init.send(sender=None)  # must not raise: the pool child would die
    assert "Could not load the estimator" in caplog.text
    with pytest.raises(FileNotFoundError):
        tasks.predict_age(str(prediction.id))
    prediction.refresh_from_db()
    assert prediction.status == Status.FAILED
    assert prediction.failure_reason == tasks.UNEXPECTED
