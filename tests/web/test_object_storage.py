"""Photos and kept crops in a real S3 server (SeaweedFS): stored, read by the task, served to
their owner only, deleted with their rows, and a lost object is a clear answer, never a 500."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from botocore.config import Config
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_delete
from estimator import tasks as storage_tasks
from estimator.feedback.review import feedback_review
from estimator.models import Feedback, PendingDeletion, PhotoView, Prediction
from estimator.predictions import tasks  # noqa: F401 (registers predict_age, which runs eagerly on commit)
from estimator.predictions.retention import photos_delete_expired
from estimator.predictions.services import PHOTO_MISSING, prediction_create, prediction_run
from estimator.reconcile import storage_reconcile
from harness import photos
from harness.stack import ObjectStore
from tests.web.conftest import upload
from tests.web.feedback_helpers import answer, done_prediction, make_staff, support_staff

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    server = ObjectStore(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Bucket:
    """One test's corner of the bucket (a key prefix of its own)."""

    def __init__(self, server: ObjectStore, prefix: str) -> None:
        self.server, self.prefix = server, prefix

    def names(self, under: str = "") -> set[str]:
        """The people's objects (photos, thumbnails, kept crops): not the registered model
        versions under ``models/``, which the site puts in the same bucket for every host."""
        found = {name.removeprefix(self.prefix) for name in self.server.names(self.prefix + under)}
        return {name for name in found if not name.startswith("models/")}

    def remove(self, name: str) -> None:
        self.server.client().delete_object(Bucket=self.server.BUCKET, Key=self.prefix + name)

    def url(self, name: str) -> str:
        return f"{self.server.endpoint}/{self.server.BUCKET}/{self.prefix}{name}"


def use_s3(settings: Any, store: ObjectStore, **options: Any) -> None:
    """The default storage is django-storages' S3 backend on the SeaweedFS server, as the
    AWS_* environment variables make it in production."""
    env = store.env
    options = {
        "bucket_name": env["AWS_STORAGE_BUCKET_NAME"], "endpoint_url": env["AWS_S3_ENDPOINT_URL"],
        "access_key": env["AWS_ACCESS_KEY_ID"], "secret_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_S3_REGION_NAME"], "addressing_style": "path", "default_acl": None,
        "querystring_auth": True, **options,
    }  # fmt: skip
    backend = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    settings.STORAGES = {**settings.STORAGES, "default": backend}


@pytest.fixture
def bucket(store: ObjectStore, settings: Any) -> Bucket:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    use_s3(settings, store, location=prefix, querystring_expire=120)
    return Bucket(store, prefix + "/")


def disk_files(settings: Any) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_an_upload_is_stored_in_the_bucket_and_the_task_reads_it_from_there(
    api: APIClient, bucket: Bucket, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # the task runs (eagerly) on commit
        response = api.post("/api/v1/predictions/", {"image": upload(photos.face_photo())}, format="multipart")
    assert response.status_code == 202, response.content
    prediction = Prediction.objects.get(pk=response.json()["id"])
    assert prediction.status == "done" and prediction.faces.count() == 1
    assert bucket.names("predictions/") == {prediction.image.name, prediction.thumbnail.name}
    assert disk_files(settings) == []  # nothing went through MEDIA_ROOT


def test_the_owner_gets_the_photo_through_the_view_and_the_bucket_refuses_unsigned_requests(
    api: APIClient, user: User, other_user: User, bucket: Bucket
) -> None:
    prediction = done_prediction(user)
    response = api.get(f"/api/v1/predictions/{prediction.id}/image/")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    with prediction.image.open("rb") as stored:
        assert b"".join(response.streaming_content) == stored.read()
    assert requests.get(bucket.url(str(prediction.image.name)), timeout=10).status_code == 403  # not public
    stranger = APIClient()
    stranger.force_authenticate(other_user)
    assert stranger.get(f"/api/v1/predictions/{prediction.id}/image/").status_code == 404


def test_a_url_the_storage_makes_is_presigned_and_short_lived(user: User, bucket: Bucket) -> None:
    prediction = done_prediction(user)
    url = default_storage.url(str(prediction.image.name))
    query = parse_qs(urlsplit(url).query)
    assert "Signature" in query or "X-Amz-Signature" in query
    if "Expires" in query:  # signature version 2: an absolute time
        assert int(query["Expires"][0]) - timezone.now().timestamp() <= 121
    else:  # version 4: seconds
        assert query["X-Amz-Expires"] == ["120"]
    assert requests.get(url, timeout=10).status_code == 200
    assert requests.get(url.replace("Signature=", "Signature=x"), timeout=10).status_code == 403


def test_deleting_a_prediction_deletes_its_objects(
    api: APIClient, user: User, bucket: Bucket, django_capture_on_commit_callbacks: Any
) -> None:
    keep, gone = done_prediction(user), done_prediction(user)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/predictions/{gone.id}/").status_code == 204
    assert bucket.names("predictions/") == {keep.image.name, keep.thumbnail.name}


def test_deleting_the_account_deletes_its_photos_and_kept_crops(
    api: APIClient, user: User, other_user: User, bucket: Bucket, django_capture_on_commit_callbacks: Any
) -> None:
    answer(api, done_prediction(user), correct=True, consent_to_train=True)
    other = done_prediction(other_user)
    assert len(bucket.names("faces/")) == 1 and len(bucket.names("predictions/")) == 4
    with django_capture_on_commit_callbacks(execute=True):
        user_delete(user=user)
    assert bucket.names() == {other.image.name, other.thumbnail.name}


def unreachable(settings: Any, store: ObjectStore, bucket: Bucket) -> None:
    """The same bucket and prefix, through an endpoint nobody listens on."""
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    config = Config(retries={"max_attempts": 1}, connect_timeout=2)
    use_s3(settings, store, endpoint_url=endpoint, client_config=config, location=bucket.prefix.rstrip("/"))


def test_an_account_deleted_while_the_bucket_is_unreachable_leaves_nothing_once_it_is_back(
    api: APIClient, user: User, other_user: User, bucket: Bucket, store: ObjectStore, settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    answer(api, done_prediction(user), correct=True, consent_to_train=True)
    other = done_prediction(other_user)
    mine = bucket.names() - {other.image.name, other.thumbnail.name}
    assert len(mine) == 3
    back = settings.STORAGES
    unreachable(settings, store, bucket)
    with django_capture_on_commit_callbacks(execute=True):
        user_delete(user=user)
    assert bucket.names() >= mine  # still there ...
    assert {p.name for p in PendingDeletion.objects.all()} == mine  # ... and still to delete
    settings.STORAGES = back
    assert storage_tasks.delete_pending_files.delay().get() == {"deleted": 3, "failed": 0}
    assert bucket.names() == {other.image.name, other.thumbnail.name}
    assert not PendingDeletion.objects.exists()


def test_reconciling_deletes_objects_in_the_bucket_no_row_points_to(user: User, bucket: Bucket) -> None:
    kept = done_prediction(user)
    lost = "faces/2026/01/left-behind.jpg"
    default_storage.save(lost, ContentFile(b"\xff\xd8 left behind"))
    assert storage_reconcile().orphans == 0  # within the grace period
    report = storage_reconcile(now=timezone.now() + timedelta(hours=25))
    assert (report.listed, report.orphans, report.deleted, report.failed) == (3, 1, 1, 0)
    assert bucket.names() == {kept.image.name, kept.thumbnail.name}


def test_withdrawing_consent_deletes_the_kept_crop_object(
    logged_in: Client, api: APIClient, user: User, bucket: Bucket, django_capture_on_commit_callbacks: Any
) -> None:
    answer(api, done_prediction(user), correct=True, consent_to_train=True)
    feedback = Feedback.objects.get()
    assert bucket.names("faces/") == {feedback.crop.name}
    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post(f"/my-data/withdraw/{feedback.pk}/")
    assert bucket.names("faces/") == set()


def test_the_retention_job_deletes_expired_photos_from_the_bucket_and_keeps_kept_crops(
    api: APIClient, user: User, bucket: Bucket, django_capture_on_commit_callbacks: Any
) -> None:
    old, recent = done_prediction(user), done_prediction(user)
    answer(api, old, correct=True, consent_to_train=True)
    Prediction.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    with django_capture_on_commit_callbacks(execute=True):
        assert photos_delete_expired() == 1
    assert bucket.names("predictions/") == {recent.image.name, recent.thumbnail.name}
    assert bucket.names("faces/") == {Feedback.objects.get().crop.name}


def test_a_photo_lost_by_the_bucket_is_a_clear_404_on_every_view(
    api: APIClient, logged_in: Client, user: User, bucket: Bucket
) -> None:
    prediction = done_prediction(user)
    answer(api, prediction, correct=True, consent_to_train=True)
    feedback = Feedback.objects.get()
    for name in (prediction.image.name, prediction.thumbnail.name, feedback.crop.name):
        bucket.remove(str(name))
    for path in ("image", "thumbnail"):
        response = api.get(f"/api/v1/predictions/{prediction.id}/{path}/")
        assert response.status_code == 404
        assert response.json()["error"]["message"] == "The stored file could not be found; it may have been deleted."
    assert logged_in.get(f"/my-data/faces/{feedback.pk}/crop/").status_code == 404
    staff = Client()
    staff.force_login(support_staff())
    assert staff.get(f"/review/photos/{prediction.id}/", {"reason": "Checking a lost photo."}).status_code == 404
    assert not PhotoView.objects.exists()  # a photo the storage lost was not seen
    assert staff.get(f"/api/v1/review/feedback/{feedback.pk}/crop/").status_code == 404
    download = logged_in.get("/my-data/download/")  # what is still stored, without the lost files
    assert download.status_code == 200


def test_a_worker_that_finds_the_photo_gone_fails_the_prediction_with_a_reason(user: User, bucket: Bucket) -> None:
    prediction = prediction_create(owner=user, image=upload(photos.face_photo()))
    bucket.remove(str(prediction.image.name))
    prediction_run(prediction_id=prediction.id)
    prediction.refresh_from_db()
    assert (prediction.status, prediction.failure_reason) == ("failed", PHOTO_MISSING)


def test_consent_for_a_face_whose_photo_the_bucket_lost_is_refused_clearly(
    api: APIClient, user: User, bucket: Bucket
) -> None:
    prediction = done_prediction(user)
    bucket.remove(str(prediction.image.name))
    response = answer(api, prediction, correct=True, consent_to_train=True)
    assert response.status_code == 400 and response.json()["error"]["code"] == "photo_deleted"
    assert bucket.names("faces/") == set()


def test_an_export_names_the_kept_crop_the_bucket_lost_and_writes_nothing(
    api: APIClient, user: User, bucket: Bucket, tmp_path: Path
) -> None:
    answer(api, done_prediction(user), correct=False, true_age=44, consent_to_train=True)
    feedback = Feedback.objects.get()
    feedback_review(feedback=feedback, reviewer=make_staff(), state="accepted", corrected_age=None)
    bucket.remove(str(feedback.crop.name))
    with pytest.raises(CommandError, match=f"The kept crop of answer {feedback.pk} .* is missing from the storage"):
        call_command("export_dataset", str(tmp_path / "export"))
    assert not (tmp_path / "export").exists()


def test_an_upload_while_the_object_store_is_unreachable_is_a_503_and_stores_nothing(
    api: APIClient, store: ObjectStore, settings: Any
) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    use_s3(settings, store, endpoint_url=endpoint, client_config=Config(retries={"max_attempts": 1}))
    response = api.post("/api/v1/predictions/", {"image": upload(photos.face_photo())}, format="multipart")
    assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"
    assert not Prediction.objects.exists()


def test_create_bucket_creates_a_missing_bucket_and_is_idempotent(store: ObjectStore, settings: Any) -> None:
    name = f"ageweb-{uuid.uuid4().hex[:10]}"
    use_s3(settings, store, bucket_name=name)
    buckets = store.client().list_buckets
    assert name not in {b["Name"] for b in buckets()["Buckets"]}
    call_command("create_bucket")
    call_command("create_bucket")
    assert name in {b["Name"] for b in buckets()["Buckets"]}


def test_a_photo_missing_from_the_local_disk_is_a_404_too(api: APIClient, user: User) -> None:
    prediction = done_prediction(user)
    Path(default_storage.path(str(prediction.image.name))).unlink()  # the test's own MEDIA_ROOT
    response = api.get(f"/api/v1/predictions/{prediction.id}/image/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
