"""REST API: create, read, list, delete; token and session auth; one error shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_token
from estimator.models import Prediction
from estimator.predictions.services import prediction_create
from harness import photos
from tests.web.conftest import PASSWORD, upload

pytestmark = pytest.mark.django_db
LIST = "/api/v1/predictions/"


def detail(prediction: Prediction) -> str:
    return f"/api/v1/predictions/{prediction.id}/"


def post_photo(client: APIClient, data: bytes, name: str = "photo.jpg") -> Any:
    return client.post(LIST, {"image": upload(data, name)}, format="multipart")


def assert_error(response: Any, status: int, code: str, message: str | None = None) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    if message is not None:
        assert body["error"]["message"] == message


def test_it_creates_a_prediction_then_reports_it_done(api: APIClient, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # the task runs (eagerly) on commit
        response = post_photo(api, photos.face_photo())
    assert response.status_code == 202
    created = response.json()
    assert created["status"] == "queued"
    assert response["Location"] == created["page_url"] == f"http://testserver/p/{created['id']}/"
    body = api.get(f"{LIST}{created['id']}/").json()
    assert body["status"] == "done"
    assert body["message"] == "" and body["model_version"] == "fake-1"
    face = body["faces"][0]
    assert face["box"] == {"x": 160, "y": 120, "width": 320, "height": 240}
    assert [g["label"] for g in face["groups"]] == ["0-2", "3-6", "7-14", "15-23", "24-34", "35-44", "45-59", "60+"]
    assert face["interval"] == [30.0, 46.0]
    assert len(face["distribution"]) == 101


# The rules themselves are tested where they live (test_images.py); here, how the API answers
# a refusal: DRF's own check, one of the image rules, and the size check before reading.
REFUSED = [
    ("empty.jpg", b"", "empty", "The submitted file is empty."),
    ("cut.jpg", photos.truncated_jpeg(), "damaged", "The image file is truncated or damaged; try exporting it again."),
    ("huge.jpg", photos.oversized_file(30), "too_large", "The file is 30.0 MB; the limit is 10 MB."),
]


@pytest.mark.parametrize(("name", "data", "code", "message"), REFUSED, ids=[r[2] for r in REFUSED])
def test_it_refuses_bad_uploads_with_a_clear_message_and_stores_nothing(
    api: APIClient, settings: Any, name: str, data: bytes, code: str, message: str | None
) -> None:
    response = post_photo(api, data, name)
    assert_error(response, 400, code, message)
    assert response.json()["error"]["details"]["image"]  # which field, for forms
    assert not Prediction.objects.exists()
    assert not any(Path(settings.MEDIA_ROOT).rglob("*.*"))


def test_it_refuses_a_request_without_a_photo(api: APIClient) -> None:
    assert_error(api.post(LIST, {}, format="multipart"), 400, "required", "No file was submitted.")


def test_it_refuses_json_instead_of_multipart(api: APIClient) -> None:
    assert_error(api.post(LIST, {"image": "x"}, format="json"), 415, "unsupported_media_type")


def test_it_lists_only_my_predictions(api: APIClient, user: User, other_user: User) -> None:
    mine = prediction_create(owner=user, image=upload(photos.face_photo()))
    prediction_create(owner=other_user, image=upload(photos.face_photo()))
    body = api.get(LIST).json()
    assert body["count"] == 1
    assert [p["id"] for p in body["results"]] == [str(mine.id)]


def test_it_reads_my_prediction(api: APIClient, user: User) -> None:
    prediction = prediction_create(owner=user, image=upload(photos.face_photo()))
    body = api.get(detail(prediction)).json()
    assert body["id"] == str(prediction.id) and body["status"] == "queued"


def test_it_serves_my_photo_as_the_stored_jpeg(api: APIClient, user: User) -> None:
    prediction = prediction_create(owner=user, image=upload(photos.rotated_by_exif()))
    response = api.get(f"{detail(prediction)}image/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert "private" in response["Cache-Control"]
    data = b"".join(response.streaming_content)
    assert data == Path(prediction.image.path).read_bytes()
    assert Image.open(prediction.image.path).size == (200, 300)


@pytest.mark.parametrize("suffix", ["", "image/"])
def test_it_rejects_other_users_prediction_as_not_found(api: APIClient, other_user: User, suffix: str) -> None:
    theirs = prediction_create(owner=other_user, image=upload(photos.face_photo()))
    assert_error(api.get(detail(theirs) + suffix), 404, "not_found", "No such prediction.")


def test_it_does_not_let_me_delete_other_users_prediction(api: APIClient, other_user: User) -> None:
    theirs = prediction_create(owner=other_user, image=upload(photos.face_photo()))
    assert_error(api.delete(detail(theirs)), 404, "not_found")
    assert Prediction.objects.filter(pk=theirs.pk).exists()


def test_it_deletes_my_prediction_and_its_photo(
    api: APIClient, user: User, django_capture_on_commit_callbacks: Any
) -> None:
    prediction = prediction_create(owner=user, image=upload(photos.face_photo()))
    path = Path(prediction.image.path)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(detail(prediction)).status_code == 204
    assert not Prediction.objects.exists() and not path.exists()
    assert_error(api.get(detail(prediction)), 404, "not_found")


def test_it_refuses_anonymous_requests(db: Any) -> None:
    response = APIClient().get(LIST)
    assert_error(response, 401, "not_authenticated", "Authentication credentials were not provided.")
    assert response["WWW-Authenticate"] == "Token"


def test_it_refuses_a_wrong_token(db: Any) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(client.get(LIST), 401, "authentication_failed", "Invalid token.")


def test_session_auth_needs_the_csrf_token(user: User, face_upload: SimpleUploadedFile) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(LIST).status_code == 200
    response = client.post(LIST, {"image": face_upload}, format="multipart")
    assert_error(response, 403, "permission_denied")
    assert "CSRF" in response.json()["error"]["message"]


def test_it_exchanges_a_password_for_the_token(user: User) -> None:
    response = APIClient().post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    assert response.json() == {"token": user_token(user=user).key}


def test_it_refuses_a_wrong_password_for_the_token(user: User) -> None:
    response = APIClient().post("/api/v1/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    assert_error(response, 400, "authorization", "Unable to log in with provided credentials.")


def test_an_unknown_api_path_is_a_json_404(api: APIClient) -> None:
    assert_error(api.get("/api/v1/nothing-here/"), 404, "not_found", "Not found.")


def test_it_publishes_an_openapi_3_schema_and_docs(db: Any, client: Any) -> None:
    schema = client.get("/api/v1/schema/?format=json").json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/predictions/", "/api/v1/predictions/{prediction_id}/"} <= set(schema["paths"])
    assert "Error" in schema["components"]["schemas"]
    docs = client.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in docs and "cdn" not in docs.lower()
    assert client.get("/api/v1/redoc/").status_code == 200


def test_the_schema_is_valid_openapi_without_warnings(tmp_path: Path) -> None:
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "AgeGroup" in (tmp_path / "schema.yml").read_text()
