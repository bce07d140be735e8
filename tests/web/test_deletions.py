"""Deleting stored files is durable: a deletion the storage refused is kept on a list and
retried until it succeeds, and a daily check deletes objects no row points to."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_delete
from estimator import tasks
from estimator.models import Feedback, PendingDeletion, Prediction
from estimator.predictions.retention import photos_delete_expired
from estimator.reconcile import storage_reconcile
from tests.web.feedback_helpers import answer, done_prediction, media_files

pytestmark = pytest.mark.django_db
UNREACHABLE = "the object store is unreachable"


@pytest.fixture
def storage_down(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Every delete fails, as with an unreachable object store; calling the result brings it back."""

    def refuse(self: FileSystemStorage, name: str) -> None:
        raise OSError(UNREACHABLE)

    monkeypatch.setattr(FileSystemStorage, "delete", refuse)
    return monkeypatch.undo


def stored_files() -> list[Path]:
    return media_files("predictions") + media_files("faces")


def test_an_account_deleted_while_the_storage_is_down_leaves_nothing_once_it_is_back(
    api: APIClient, user: User, storage_down: Callable[[], None], django_capture_on_commit_callbacks: Any
) -> None:
    answer(api, done_prediction(user), correct=True, consent_to_train=True)
    files = stored_files()
    assert len(files) == 3  # the photo, its thumbnail and the kept crop
    with django_capture_on_commit_callbacks(execute=True):
        user_delete(user=user)
    assert all(f.exists() for f in files)  # the storage refused ...
    pending = PendingDeletion.objects.order_by("name")
    relative = sorted(str(f.relative_to(settings.MEDIA_ROOT)) for f in files)
    assert [p.name for p in pending] == relative  # ... and nothing was lost from the list
    assert all(p.attempts == 1 and UNREACHABLE in p.last_error for p in pending)
    storage_down()  # the storage is back
    assert tasks.delete_pending_files.delay().get() == {"deleted": 3, "failed": 0}
    assert stored_files() == [] and not PendingDeletion.objects.exists()


def test_a_retry_that_fails_again_counts_the_attempt_and_keeps_the_deletion(
    user: User, storage_down: Callable[[], None], django_capture_on_commit_callbacks: Any
) -> None:
    prediction = done_prediction(user)
    with django_capture_on_commit_callbacks(execute=True):
        prediction.delete()
    assert tasks.delete_pending_files.delay().get() == {"deleted": 0, "failed": 2}
    assert [p.attempts for p in PendingDeletion.objects.all()] == [2, 2]
    assert len(stored_files()) == 2


def test_a_deletion_that_succeeds_at_once_leaves_no_pending_row(
    user: User, django_capture_on_commit_callbacks: Any
) -> None:
    prediction = done_prediction(user)
    with django_capture_on_commit_callbacks(execute=True):
        prediction.delete()
    assert stored_files() == [] and not PendingDeletion.objects.exists()


def test_a_rolled_back_deletion_keeps_its_files_and_lists_nothing(user: User) -> None:
    from django.db import transaction

    prediction = done_prediction(user)
    with pytest.raises(RuntimeError), transaction.atomic():
        prediction.delete()
        raise RuntimeError("the deletion is rolled back")
    assert len(stored_files()) == 2 and not PendingDeletion.objects.exists()


def test_the_retention_job_keeps_the_deletion_when_the_storage_fails(
    user: User, storage_down: Callable[[], None], django_capture_on_commit_callbacks: Any
) -> None:
    old = done_prediction(user)
    Prediction.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    with django_capture_on_commit_callbacks(execute=True):
        assert photos_delete_expired() == 1
    assert Prediction.objects.get().image == ""  # the row no longer points to the photo ...
    assert PendingDeletion.objects.count() == 2  # ... but the list still holds it and its thumbnail
    storage_down()
    tasks.delete_pending_files.delay()
    assert stored_files() == []


def age(path: Path, hours: float) -> None:
    then = (timezone.now() - timedelta(hours=hours)).timestamp()
    os.utime(path, (then, then))


def orphan(relative: str, hours: float) -> Path:
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8 left behind")
    age(path, hours)
    return path


def test_reconciling_deletes_old_objects_no_row_points_to_and_keeps_the_rest(
    api: APIClient, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    prediction = done_prediction(user)
    answer(api, prediction, correct=True, consent_to_train=True)
    kept = stored_files()
    for path in kept:
        age(path, 48)  # old, but rows point to them
    old = [orphan("predictions/2026/01/lost.jpg", 25), orphan("faces/2026/01/lost.jpg", 100)]
    young = orphan("faces/2026/12/being-written.jpg", 23)  # within the grace period: perhaps not committed yet
    elsewhere = orphan("other/not-ours.jpg", 100)
    with caplog.at_level("INFO", logger="estimator.reconcile"):
        report = storage_reconcile()
    assert (report.listed, report.orphans, report.deleted, report.failed) == (6, 2, 2, 0)
    assert not any(p.exists() for p in old)
    assert young.exists() and elsewhere.exists() and all(p.exists() for p in kept)
    assert "Reconciled the storage: 6 object(s) listed, 2 orphan(s), 2 deleted, 0 failed" in caplog.text
    assert Feedback.objects.get().kept


def test_the_grace_period_is_a_setting(user: User, settings: Any) -> None:
    settings.AGEWEB_ORPHAN_GRACE_HOURS = 1
    lost = orphan("faces/2026/12/lost.jpg", 2)
    assert storage_reconcile().deleted == 1 and not lost.exists()


def test_the_reconcile_command_prints_a_one_line_summary(db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    orphan("predictions/2026/01/lost.jpg", 30)
    call_command("reconcile_storage")
    assert capsys.readouterr().out == "Reconciled the storage: 1 object(s) listed, 1 orphan(s), 1 deleted, 0 failed\n"


def test_the_reconcile_task_returns_what_it_did(db: Any) -> None:
    orphan("faces/2026/01/lost.jpg", 30)
    assert tasks.reconcile_storage.delay().get() == {"listed": 1, "orphans": 1, "deleted": 1, "failed": 0}


def test_beat_retries_deletions_every_few_minutes_and_reconciles_daily() -> None:
    schedule = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["estimator.tasks.delete_pending_files"] <= 600
    assert schedule["estimator.tasks.reconcile_storage"] == 24 * 3600
