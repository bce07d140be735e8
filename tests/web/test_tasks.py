"""The Celery task: a thin interface that records every failure on the prediction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from accounts.models import User
from estimator import tasks
from estimator.models import Prediction
from estimator.services import prediction_create
from tests import photos
from tests.web.conftest import upload

pytestmark = pytest.mark.django_db
Status = Prediction.Status


@pytest.fixture
def prediction(user: User) -> Prediction:
    return prediction_create(owner=user, image=upload(photos.face_photo()))


def test_it_goes_to_the_inference_queue_and_is_acked_late(settings: Any) -> None:
    assert settings.CELERY_TASK_ROUTES["estimator.tasks.predict_age"] == {"queue": "inference"}
    assert tasks.predict_age.acks_late is True
    assert tasks.predict_age.reject_on_worker_lost is True
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT


def test_it_runs_a_prediction_by_its_id(prediction: Prediction) -> None:
    tasks.predict_age.delay(str(prediction.id))
    prediction.refresh_from_db()
    assert prediction.status == Status.DONE
    assert prediction.faces.count() == 1


def test_it_records_a_time_limit_as_a_readable_failure(prediction: Prediction) -> None:
    with mock.patch("estimator.tasks.prediction_run", side_effect=SoftTimeLimitExceeded()):
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


def test_a_pool_child_loads_the_estimator_when_it_starts() -> None:
    with mock.patch("estimator.tasks.load_estimator") as load:
        tasks.worker_process_init.send(sender=None)
    load.assert_called_once_with()


def test_a_pool_child_survives_an_estimator_that_cannot_load() -> None:
    with mock.patch("estimator.tasks.load_estimator", side_effect=FileNotFoundError("no model")):
        tasks.load_models_after_fork()  # logged; the first task will record the failure
