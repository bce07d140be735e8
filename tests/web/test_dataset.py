"""Photo retention (task and command) and the data-set export for ml/."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_delete
from ageweb.celery import app
from estimator.feedback import export
from estimator.feedback.consent import feedback_withdraw
from estimator.models import DatasetRelease, Feedback, Prediction
from estimator.predictions.tasks import delete_expired_photos
from ml import data as ml_data
from tests.web.feedback_helpers import answer, done_prediction, make_staff, media_files, token_client
from tests.web.test_api import assert_error

pytestmark = pytest.mark.django_db


def age_prediction(prediction: Prediction, days: float) -> None:
    Prediction.objects.filter(pk=prediction.pk).update(created_at=timezone.now() - dt.timedelta(days=days))


def test_the_retention_task_deletes_old_photos_and_keeps_results_and_kept_crops(
    api: APIClient, user: User, logged_in: Client, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.AGEWEB_PHOTO_RETENTION_DAYS = 30
    old, recent = done_prediction(user), done_prediction(user)
    answer(api, old, correct=False, true_age=44, consent_to_train=True)
    age_prediction(old, 31)
    age_prediction(recent, 29)
    old_photo, recent_photo = Path(old.image.path), Path(recent.image.path)
    [crop] = media_files("faces")
    with django_capture_on_commit_callbacks(execute=True):
        assert delete_expired_photos.delay().get() == 1  # eager in tests, as a worker would run it
    assert not old_photo.exists() and recent_photo.exists() and crop.exists()
    old.refresh_from_db()
    assert old.image.name == "" and old.faces.count() == 1 and old.status == "done"
    assert Feedback.objects.get().kept
    body = api.get(f"/api/v1/predictions/{old.id}/").json()
    assert body["image_url"] is None and len(body["faces"]) == 1
    assert_error(api.get(f"/api/v1/predictions/{old.id}/image/"), 404, "not_found")
    assert "Photo deleted after 30 days" in logged_in.get(f"/p/{old.id}/").content.decode()
    assert "Photo deleted after 30 days" in logged_in.get("/predictions/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert delete_expired_photos.delay().get() == 0  # idempotent


def test_the_retention_command_does_the_same_for_the_embedded_mode(
    user: User, settings: Any, capsys: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.AGEWEB_PHOTO_RETENTION_DAYS = 7
    prediction = done_prediction(user)
    age_prediction(prediction, 8)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("delete_expired_photos")
    assert "Deleted 1 photo(s) older than 7 days." in capsys.readouterr().out
    assert media_files("predictions") == []


def test_beat_runs_the_retention_task_on_the_queue_workers_consume() -> None:
    entry = app.conf.beat_schedule["delete-expired-photos"]
    assert entry["task"] == delete_expired_photos.name
    queue = entry.get("options", {}).get("queue", app.conf.task_default_queue)
    consumed = re.search(r"worker -Q ([\w,]+) ", (Path(__file__).resolve().parents[2] / "Makefile").read_text())
    assert consumed is not None and queue in consumed.group(1).split(",")  # `make worker` reads it
    assert entry["schedule"] <= 24 * 3600


@pytest.fixture
def staff_api(db: Any) -> APIClient:
    return token_client(make_staff())


def reviewed(api: APIClient, staff_api: APIClient, owner: User, verdict: dict[str, Any], **body: Any) -> Feedback:
    prediction = done_prediction(owner)
    assert answer(api, prediction, **{"correct": False, "consent_to_train": True, **body}).status_code == 201
    feedback = Feedback.objects.get(face__prediction=prediction)
    if verdict and feedback.kept:
        response = staff_api.patch(f"/api/v1/review/feedback/{feedback.pk}/", verdict, format="json")
        assert response.status_code == 200, response.content
    return Feedback.objects.get(pk=feedback.pk)


def test_the_export_writes_accepted_consented_faces_a_manifest_and_a_release(
    api: APIClient, staff_api: APIClient, user: User, tmp_path: Path, settings: Any
) -> None:
    settings.AGEWEB_CONSENT_VERSION = "v7"
    accepted = reviewed(api, staff_api, user, {"state": "accepted"}, true_age=44)
    corrected = reviewed(api, staff_api, user, {"state": "accepted", "corrected_age": 51}, true_age=60)
    reviewed(api, staff_api, user, {"state": "rejected"}, true_age=3)
    reviewed(api, staff_api, user, {}, true_age=30)  # pending
    reviewed(api, staff_api, user, {"state": "accepted"}, true_age=20, consent_to_train=False)  # numbers only
    reviewed(api, staff_api, user, {"state": "accepted"}, correct=True)  # no age anywhere: nothing to learn
    out = tmp_path / "export"
    call_command("export_dataset", str(out))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"44_{accepted.pk}.jpg", f"51_{corrected.pk}.jpg", "manifest.jsonl", "release.json"]
    )
    export = ml_data.read_export(out)
    first, second = export.items
    assert first["id"] == accepted.pk and first["age"] == 44 and first["estimate"] == pytest.approx(accepted.shown_age)
    assert second["age"] == 51 and second["true_age"] == 60 and second["corrected_age"] == 51
    assert first["model_version"] == "fake-1" and first["consent_version"] == "v7"
    assert first["reviewer"] == "sam" and first["reviewed_at"] and first["split"] in {"train", "val", "test"}
    assert first["sha256"] == hashlib.sha256((out / first["file"]).read_bytes()).hexdigest()
    assert ml_data.parse_name(first["file"]).age == 44  # type: ignore[union-attr]
    release = DatasetRelease.objects.get()
    assert release.items == [accepted.pk, corrected.pk] and release.count == 2
    assert release.content_hash == hashlib.sha256((out / "manifest.jsonl").read_bytes()).hexdigest()
    assert export.release["release"] == release.pk and export.release["hash"] == release.content_hash
    assert (export.release["margin"], export.release["size"]) == (0.1, 128)


def test_withdrawn_and_deleted_faces_stay_out_of_later_exports(
    api: APIClient, staff_api: APIClient, user: User, other_user: User, tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    kept = reviewed(api, staff_api, user, {"state": "accepted"}, true_age=44)
    withdrawn = reviewed(api, staff_api, user, {"state": "accepted"}, true_age=45)
    theirs = reviewed(token_client(other_user), staff_api, other_user, {"state": "accepted"}, true_age=46)
    out = tmp_path / "export"
    call_command("export_dataset", str(out))
    assert len(ml_data.read_export(out).items) == 3
    with django_capture_on_commit_callbacks(execute=True):
        feedback_withdraw(feedback=withdrawn)
        user_delete(user=other_user)
    call_command("export_dataset", str(out))  # the same folder: replaced
    assert [item["id"] for item in ml_data.read_export(out).items] == [kept.pk]
    assert sorted(p.name for p in out.glob("*.jpg")) == [f"44_{kept.pk}.jpg"]
    assert not Path(theirs.crop.path).exists()
    assert [r.count for r in DatasetRelease.objects.order_by("id")] == [3, 1]


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture
def earlier_export(api: APIClient, staff_api: APIClient, user: User, tmp_path: Path) -> Path:
    """An export of two faces in ``exports/export``; a third face is accepted after it."""
    for age in (44, 45):
        reviewed(api, staff_api, user, {"state": "accepted"}, true_age=age)
    out = tmp_path / "exports" / "export"
    call_command("export_dataset", str(out))
    reviewed(api, staff_api, user, {"state": "accepted"}, true_age=46)
    return out


def test_a_crop_that_cannot_be_read_leaves_the_earlier_export_and_records_no_release(earlier_export: Path) -> None:
    before, real_read = _files(earlier_export), export.file_read
    reads: list[str] = []

    def flaky_read(field: Any) -> bytes:
        reads.append(field.name)
        if len(reads) == 2:
            raise OSError("the object store timed out")
        return real_read(field)

    with mock.patch.object(export, "file_read", flaky_read), pytest.raises(OSError, match="timed out"):
        call_command("export_dataset", str(earlier_export))
    assert _files(earlier_export) == before
    assert DatasetRelease.objects.count() == 1
    assert list(earlier_export.parent.iterdir()) == [earlier_export]  # nothing half-written beside it


def test_a_release_that_cannot_be_recorded_leaves_the_earlier_export(earlier_export: Path) -> None:
    before = _files(earlier_export)
    with (
        mock.patch.object(DatasetRelease.objects, "create", side_effect=OperationalError("the database restarted")),
        pytest.raises(OperationalError),
    ):
        call_command("export_dataset", str(earlier_export))
    assert _files(earlier_export) == before
    assert DatasetRelease.objects.count() == 1
    assert list(earlier_export.parent.iterdir()) == [earlier_export]


@pytest.mark.django_db(transaction=True)
def test_a_release_that_fails_to_commit_puts_the_earlier_export_back(earlier_export: Path) -> None:
    before = _files(earlier_export)
    with (
        mock.patch.object(connection, "commit", side_effect=OperationalError("the connection was lost")),
        pytest.raises(OperationalError),
    ):
        call_command("export_dataset", str(earlier_export))
    assert _files(earlier_export) == before
    assert DatasetRelease.objects.count() == 1
    assert list(earlier_export.parent.iterdir()) == [earlier_export]


def test_a_new_export_replaces_the_earlier_one_whole(earlier_export: Path) -> None:
    call_command("export_dataset", str(earlier_export))
    assert len(ml_data.read_export(earlier_export).items) == 3
    assert ml_data.read_export(earlier_export).release["release"] == DatasetRelease.objects.latest("id").pk
    assert list(earlier_export.parent.iterdir()) == [earlier_export]


def test_the_export_refuses_a_folder_holding_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CommandError, match="holds other files"):
        call_command("export_dataset", str(tmp_path))
    assert (tmp_path / "notes.txt").exists() and not DatasetRelease.objects.exists()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AGEWEB_PHOTO_RETENTION_DAYS": "0"}, "AGEWEB_PHOTO_RETENTION_DAYS must be at least 1, not 0."),
        ({"AGEWEB_PHOTO_RETENTION_DAYS": "a month"}, "AGEWEB_PHOTO_RETENTION_DAYS must be an integer"),
        ({"AGEWEB_CONSENT_VERSION": "v" * 51}, "AGEWEB_CONSENT_VERSION must be 1 to 50 characters."),
    ],
    ids=["zero-days", "words", "long-version"],
)
def test_the_site_refuses_to_start_with_a_bad_retention_or_consent_setting(env: dict[str, str], message: str) -> None:
    from tests.web.test_settings import django_setup

    result = django_setup("ageweb.settings.local", env)
    assert result.returncode != 0 and message in result.stderr
