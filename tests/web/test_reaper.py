"""Nothing stays stuck: the claim takes a row once, the reaper queues lost work again, tasks wait out outages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import EndpointConnectionError
from django.db import OperationalError
from django.utils import timezone

from accounts.models import User
from estimator.models import Prediction
from estimator.predictions import services, tasks
from estimator.predictions.services import prediction_create, prediction_run, predictions_reap, predictions_take_back
from harness import photos
from tests.web.conftest import upload

pytestmark = pytest.mark.django_db
Status = Prediction.Status


def queued(user: User) -> Prediction:
    return prediction_create(owner=user, image=upload(photos.face_photo()))


def age(prediction: Prediction, **fields: Any) -> None:
    Prediction.objects.filter(pk=prediction.pk).update(**fields)


def minutes_ago(minutes: float) -> Any:
    return timezone.now() - timedelta(minutes=minutes)


def test_a_running_prediction_is_not_claimed_by_a_second_task(user: User) -> None:
    prediction = queued(user)
    age(prediction, status=Status.RUNNING, attempts=1, started_at=timezone.now(), claimed_by="task-a")
    assert prediction_run(prediction_id=prediction.id, task_id="task-b") is None
    prediction.refresh_from_db()
    assert (prediction.status, prediction.attempts, prediction.claimed_by) == (Status.RUNNING, 1, "task-a")


def test_a_running_prediction_past_the_deadline_may_be_claimed_by_another_task(user: User, settings: Any) -> None:
    prediction = queued(user)
    stale = timezone.now() - timedelta(seconds=settings.AGEWEB_RUNNING_STALE_AFTER + 1)
    age(prediction, status=Status.RUNNING, attempts=1, started_at=stale, claimed_by="task-a")
    assert prediction_run(prediction_id=prediction.id, task_id="task-b") is not None
    prediction.refresh_from_db()
    assert (prediction.status, prediction.attempts) == (Status.DONE, 2)


def test_the_reaper_queues_again_a_prediction_whose_message_was_lost(
    user: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    prediction = queued(user)  # its message never reaches a worker here: on_commit is not run
    age(prediction, enqueued_at=timezone.now() - timedelta(seconds=settings.AGEWEB_REQUEUE_AFTER + 1))
    fresh = queued(user)
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: the requeued task runs
        reaped = predictions_reap()
    assert (reaped.requeued, reaped.failed) == (1, 0)
    prediction.refresh_from_db()
    fresh.refresh_from_db()
    assert prediction.status == Status.DONE
    assert fresh.status == Status.QUEUED  # queued just now: its message is still on its way


def test_the_reaper_queues_again_a_prediction_left_running_by_a_killed_worker(
    user: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    prediction = queued(user)
    stale = timezone.now() - timedelta(seconds=settings.AGEWEB_RUNNING_STALE_AFTER + 1)
    age(prediction, status=Status.RUNNING, attempts=1, started_at=stale, claimed_by="dead")
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_reap().requeued == 1
    prediction.refresh_from_db()
    assert (prediction.status, prediction.attempts) == (Status.DONE, 2)


def test_the_reaper_fails_what_has_used_its_attempts(user: User, settings: Any) -> None:
    prediction = queued(user)
    stale = timezone.now() - timedelta(seconds=settings.AGEWEB_RUNNING_STALE_AFTER + 1)
    age(prediction, status=Status.RUNNING, attempts=settings.AGEWEB_MAX_ATTEMPTS, started_at=stale)
    assert predictions_reap().failed == 1
    prediction.refresh_from_db()
    assert prediction.status == Status.FAILED
    assert prediction.failure_reason == services.WORKER_KEPT_DYING


def test_the_reaper_leaves_fresh_and_finished_work_alone(user: User) -> None:
    running, done = queued(user), queued(user)
    age(running, status=Status.RUNNING, attempts=1, started_at=timezone.now())
    age(done, status=Status.DONE, enqueued_at=minutes_ago(600))
    assert predictions_reap() == services.Reaped(requeued=0, failed=0)


def test_a_prediction_remembers_the_worker_running_it(user: User) -> None:
    prediction = queued(user)
    with (
        mock.patch.object(services, "load_estimator", side_effect=RuntimeError("killed mid-photo")),
        pytest.raises(RuntimeError),
    ):
        prediction_run(prediction_id=prediction.id, task_id="task-a", worker="celery@box-1")
    prediction.refresh_from_db()
    assert (prediction.status, prediction.claimed_on) == (Status.RUNNING, "celery@box-1")


def test_a_worker_started_again_takes_back_at_once_only_what_it_was_running(
    user: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    mine, worn_out, other, done = queued(user), queued(user), queued(user), queued(user)
    just_now = timezone.now()  # far inside the reaper's deadline
    age(mine, status=Status.RUNNING, attempts=1, started_at=just_now, claimed_by="t1", claimed_on="celery@box-1")
    age(worn_out, status=Status.RUNNING, attempts=settings.AGEWEB_MAX_ATTEMPTS, started_at=just_now,
        claimed_by="t2", claimed_on="celery@box-1")  # fmt: skip
    age(other, status=Status.RUNNING, attempts=1, started_at=just_now, claimed_by="t3", claimed_on="celery@box-2")
    age(done, status=Status.DONE, claimed_on="celery@box-1")
    assert predictions_reap() == services.Reaped(requeued=0, failed=0)  # too early for the reaper
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: the requeued task runs
        assert predictions_take_back(worker="celery@box-1") == services.Reaped(requeued=1, failed=1)
    statuses = {p.pk: (p.status, p.attempts) for p in Prediction.objects.all()}
    assert statuses[mine.pk] == (Status.DONE, 2)
    assert statuses[worn_out.pk][0] == Status.FAILED
    assert statuses[other.pk] == (Status.RUNNING, 1)  # another worker's, alive as far as anyone knows
    assert statuses[done.pk][0] == Status.DONE
    assert predictions_take_back(worker="") == services.Reaped(requeued=0, failed=0)


def test_the_worker_takes_back_its_photos_when_it_is_ready(user: User) -> None:
    prediction = queued(user)
    age(prediction, status=Status.RUNNING, attempts=1, started_at=timezone.now(), claimed_on="celery@box-1")
    with mock.patch.object(tasks, "predictions_take_back", wraps=predictions_take_back) as take_back:
        from celery.signals import worker_ready

        worker_ready.send(sender=mock.Mock(hostname="celery@box-1"))
    take_back.assert_called_once_with(worker="celery@box-1")
    prediction.refresh_from_db()
    assert prediction.status != Status.RUNNING


def test_beat_runs_the_reaper_every_interval(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["reap-stale-predictions"]
    assert entry["task"] == tasks.reap_stale_predictions.name == "estimator.tasks.reap_stale_predictions"
    assert entry["schedule"] == settings.AGEWEB_REAPER_INTERVAL
    assert tasks.reap_stale_predictions.delay().get() == {"requeued": 0, "failed": 0}


def test_a_task_that_finds_the_database_down_is_retried_not_failed(user: User) -> None:
    prediction = queued(user)
    real = services.prediction_run
    calls: list[str | None] = []

    def down_once(*, prediction_id: Any, task_id: str | None = None, worker: str = "") -> Any:
        calls.append(task_id)
        if len(calls) == 1:
            raise OperationalError("connection refused")  # what Django raises when PostgreSQL restarts
        return real(prediction_id=prediction_id, task_id=task_id, worker=worker)

    with mock.patch("estimator.predictions.tasks.prediction_run", side_effect=down_once):
        tasks.predict_age.apply(args=[str(prediction.id)], task_id="task-1", throw=False)
    prediction.refresh_from_db()
    assert prediction.status == Status.DONE
    assert calls == ["task-1", "task-1"]  # a retry keeps the task's id


def test_an_unexpected_error_never_suggests_trying_the_same_photo_again() -> None:
    assert "try again" not in tasks.UNEXPECTED.lower()
    assert "another photo" in tasks.UNEXPECTED


def test_a_task_that_finds_the_object_store_unreachable_is_retried_and_the_attempt_not_counted(user: User) -> None:
    prediction = queued(user)
    real = services.file_read
    calls = 0

    def unreachable_once(field: Any) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise EndpointConnectionError(endpoint_url="http://objects.internal:8333/ageweb")
        return real(field)

    with mock.patch("estimator.predictions.services.file_read", side_effect=unreachable_once):
        tasks.predict_age.apply(args=[str(prediction.id)], task_id="task-1", throw=False)
    prediction.refresh_from_db()
    assert (prediction.status, prediction.attempts, calls) == (Status.DONE, 1, 2)


def test_an_object_store_that_stays_unreachable_fails_the_photo_saying_why(user: User, settings: Any) -> None:
    settings.AGEWEB_DATABASE_RETRIES = 1  # Celery's eager mode runs one level of retries
    prediction = queued(user)
    outage = EndpointConnectionError(endpoint_url="http://objects.internal:8333/ageweb")
    with mock.patch("estimator.predictions.services.file_read", side_effect=outage) as reads:
        tasks.predict_age.apply(args=[str(prediction.id)], task_id="task-1", throw=False)
    prediction.refresh_from_db()
    assert (prediction.status, prediction.failure_reason) == (Status.FAILED, tasks.STORAGE_DOWN)
    assert reads.call_count == 2  # the first run and the one retry allowed
