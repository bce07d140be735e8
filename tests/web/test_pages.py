"""HTML pages: upload, result, history and delete; each shows only the owner's photos."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from estimator.models import Prediction
from estimator.predictions.services import prediction_create
from harness import photos
from tests.web.conftest import upload

pytestmark = pytest.mark.django_db


def form_error(response: Any) -> str:
    match = re.search(r'<div class="error" role="alert" id="upload-error">([^<]+)</div>', response.content.decode())
    assert match, "no error shown"
    return match.group(1)


def test_the_home_page_invites_visitors_to_sign_up(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert b"Sign up" in response.content


def test_the_home_page_takes_members_to_the_upload_page(logged_in: Client) -> None:
    assert logged_in.get("/").url == "/upload/"


def test_uploading_needs_an_account(client: Client) -> None:
    assert client.get("/upload/").url == "/accounts/login/?next=/upload/"


def test_the_upload_page_offers_a_file_drop_and_the_camera(logged_in: Client) -> None:
    page = logged_in.get("/upload/").content.decode()
    assert 'id="dropzone"' in page and 'accept="image/*"' in page
    assert 'id="camera-start"' in page and "js/upload.js" in page


def test_the_upload_page_says_tap_on_a_phone_and_drop_elsewhere(logged_in: Client) -> None:
    page = logged_in.get("/upload/").content.decode()
    assert '<span class="drop-hint"><strong>Drop a photo here</strong> or click to choose one</span>' in page
    assert '<span class="tap-hint"><strong>Tap to choose a photo</strong> or take one</span>' in page


def test_the_upload_page_has_an_empty_error_slot_for_its_script(logged_in: Client) -> None:
    page = logged_in.get("/upload/").content.decode()
    assert '<div class="error" role="alert" id="upload-error" hidden></div>' in page
    assert 'id="upload-actions"' in page  # hidden with the file choice while the camera is open


def test_uploading_a_photo_leads_to_its_result_page(logged_in: Client, user: User) -> None:
    response = logged_in.post("/upload/", {"image": upload(photos.face_photo())})
    prediction = Prediction.objects.get(owner=user)
    assert response.status_code == 302
    assert response.url == f"/p/{prediction.id}/"


# The rules are tested where they live (test_images.py); here, how the form shows a refusal:
# Django's own check, one image rule, and the size check before reading.
REFUSED = [
    (b"", "The submitted file is empty."),
    (photos.truncated_jpeg(), "The image file is truncated or damaged; try exporting it again."),
    (photos.oversized_file(30), "The file is 30.0 MB; the limit is 10 MB."),
]


@pytest.mark.parametrize(("data", "message"), REFUSED, ids=["empty", "truncated", "30mb"])
def test_a_refused_upload_shows_why_on_the_form(logged_in: Client, settings: Any, data: bytes, message: str) -> None:
    response = logged_in.post("/upload/", {"image": upload(data)})
    assert response.status_code == 400
    assert form_error(response) == message
    assert not Prediction.objects.exists()
    assert not any(Path(settings.MEDIA_ROOT).rglob("*.*"))


def test_the_result_page_starts_from_the_prediction_and_listens_for_more(logged_in: Client, user: User) -> None:
    prediction = prediction_create(owner=user, image=upload(photos.face_photo()))
    page = logged_in.get(f"/p/{prediction.id}/").content.decode()
    data = json.loads(re.search(r'<script id="prediction-data" type="application/json">(.*?)</script>', page, re.S)[1])
    assert data["id"] == str(prediction.id) and data["status"] == "queued"
    assert f'data-ws-path="/ws/predictions/{prediction.id}/"' in page
    assert f"/api/v1/predictions/{prediction.id}/image/" in page
    assert "vendor/chartjs/chart.umd.min.js" in page  # served from static/, no CDN


def test_the_result_page_explains_the_range_the_pie_and_the_second_opinion_once(logged_in: Client, user: User) -> None:
    prediction = prediction_create(owner=user, image=upload(photos.face_photo()))
    page = logged_in.get(f"/p/{prediction.id}/").content.decode()
    explained = re.findall(r'<details class="explain" id="how-to-read">(.*?)</details>', page, re.S)
    assert len(explained) == 1, "the explanation is once per page"
    text = re.sub(r"\s+", " ", explained[0])
    assert "the true age was inside this range about 8 times in 10" in text
    assert "the group that holds the age is marked" in text
    assert "a second opinion" in text
    assert "ensemble" not in page and "101 ages" not in page  # the site's own words, not the models'


def test_the_result_page_is_named_by_its_photo_and_date_and_deletes_only_after_a_second_step(
    logged_in: Client, user: User
) -> None:
    prediction = prediction_create(owner=user, image=upload(photos.face_photo()))
    page = logged_in.get(f"/p/{prediction.id}/").content.decode()
    name = f"Photo {str(prediction.id)[:8]}"
    assert f"<title>{name} · ageweb</title>" in page and f"<h1>{name}</h1>" in page
    assert f'datetime="{prediction.created_at.isoformat()}"' in page
    assert "confirm(" not in page
    delete = re.search(r'<details class="delete-confirm" id="delete">(.*?)</details>', page, re.S)
    assert delete and "This cannot be undone." in delete[1] and "Delete for good" in delete[1]


def test_another_users_result_page_is_not_found(logged_in: Client, other_user: User) -> None:
    theirs = prediction_create(owner=other_user, image=upload(photos.face_photo()))
    assert logged_in.get(f"/p/{theirs.id}/").status_code == 404


def test_my_predictions_lists_mine_only(logged_in: Client, user: User, other_user: User) -> None:
    mine = prediction_create(owner=user, image=upload(photos.face_photo()))
    theirs = prediction_create(owner=other_user, image=upload(photos.face_photo()))
    page = logged_in.get("/predictions/").content.decode()
    assert str(mine.id) in page and str(theirs.id) not in page


def test_my_predictions_say_just_now_instead_of_zero_minutes(logged_in: Client, user: User) -> None:
    prediction_create(owner=user, image=upload(photos.face_photo()))
    old = prediction_create(owner=user, image=upload(photos.face_photo()))
    Prediction.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5, seconds=10))
    page = logged_in.get("/predictions/").content.decode()
    ages = re.findall(r'<time datetime="[^"]+" title="[^"]+">([^<]+)</time>', page)
    assert ages == ["just now", "5\xa0minutes ago"], ages


def test_i_can_delete_my_prediction_from_the_page(
    logged_in: Client, user: User, django_capture_on_commit_callbacks: Any
) -> None:
    prediction = prediction_create(owner=user, image=upload(photos.face_photo()))
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(f"/p/{prediction.id}/delete/")
    assert response.url == "/predictions/"
    assert not Prediction.objects.exists()
    assert not Path(prediction.image.path).exists()


def test_my_predictions_ask_on_the_page_before_deleting_each_photo(logged_in: Client, user: User) -> None:
    predictions = [prediction_create(owner=user, image=upload(photos.face_photo())) for _ in range(2)]
    page = logged_in.get("/predictions/").content.decode()
    assert "confirm(" not in page  # no browser dialog: the question is on the page
    steps = re.findall(r'<details class="delete-confirm">(.*?)</details>', page, re.S)
    actions = {action for step in steps for action in re.findall(r'action="([^"]+)"', step)}
    assert len(steps) == 2 and actions == {f"/p/{prediction.id}/delete/" for prediction in predictions}
    assert all("This cannot be undone." in step and "Delete for good" in step and "Keep it" in step for step in steps)


def test_i_cannot_delete_another_users_prediction(logged_in: Client, other_user: User) -> None:
    theirs = prediction_create(owner=other_user, image=upload(photos.face_photo()))
    assert logged_in.post(f"/p/{theirs.id}/delete/").status_code == 404
    assert Prediction.objects.filter(pk=theirs.pk).exists()


def test_a_static_file_is_served_without_a_cdn(client: Client) -> None:
    response = client.get("/static/vendor/chartjs/chart.umd.min.js")
    assert response.status_code == 200
    assert b"Chart.js v4" in b"".join(response.streaming_content)[:200]


@pytest.mark.parametrize("path", ["/healthz", "/healthz/"])
def test_the_liveness_check_answers_ok_in_json(client: Client, path: str) -> None:
    response = client.get(path)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_the_history_page_shows_thumbnails_not_full_photos(user: User, logged_in: Client) -> None:
    prediction = prediction_create(owner=user, image=upload(photos.face_photo(1600, 1200)))
    page = logged_in.get("/predictions/").content.decode()
    assert f"/api/v1/predictions/{prediction.id}/thumbnail/" in page
    assert f"/api/v1/predictions/{prediction.id}/image/" not in page
    thumbnail = logged_in.get(f"/api/v1/predictions/{prediction.id}/thumbnail/")
    from PIL import Image

    assert Image.open(io.BytesIO(b"".join(thumbnail.streaming_content))).size == (320, 240)


@pytest.fixture
def staff(db: Any) -> Client:
    admin = User.objects.create_superuser(username="root", email="root@example.com", password="x" * 12)
    client = Client()
    client.force_login(admin)
    return client


def test_the_admin_offers_no_add_form_instead_of_a_500(staff: Client) -> None:
    assert staff.get("/admin/estimator/prediction/add/").status_code == 403
    assert b"/admin/estimator/prediction/add/" not in staff.get("/admin/estimator/prediction/").content


def test_the_admin_links_a_permitted_staff_member_to_the_photo_asking_why(
    staff: Client, user: User, logged_in: Client
) -> None:
    prediction = prediction_create(owner=user, image=upload(photos.face_photo()))
    photo_url = f"/review/photos/{prediction.id}/"  # the one staff view of any photo
    assert photo_url in staff.get(f"/admin/estimator/prediction/{prediction.id}/change/").content.decode()
    assert staff.get(photo_url).status_code == 400  # a superuser too must say why
    photo = staff.get(photo_url, {"reason": "The owner asked us to check the boxes."})
    assert (photo.status_code, photo["Content-Type"]) == (200, "image/jpeg")
    assert logged_in.get(photo_url).status_code == 404  # the owner is not staff


def test_the_api_schema_shows_realistic_numbers_and_a_finished_example(client: Client) -> None:
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "9223372036854775807" not in schema and "2147483647" not in schema
    detail = json.loads(schema)["paths"]["/api/v1/predictions/{prediction_id}/"]["get"]["responses"]["200"]
    face = detail["content"]["application/json"]["examples"]["AFinishedPrediction"]["value"]["faces"][0]
    assert (face["age"], face["interval"], len(face["distribution"])) == (34.1, [25.0, 43.0], 101)


def test_a_deleted_predictions_link_is_the_sites_own_not_found_page(logged_in: Client, user: User) -> None:
    prediction = prediction_create(owner=user, image=upload(photos.face_photo()))
    logged_in.post(f"/p/{prediction.id}/delete/")
    response = logged_in.get(f"/p/{prediction.id}/")
    page = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in page and 'href="/predictions/"' in page
    assert "URLconf" not in page  # never Django's debug page listing every address


def test_the_error_pages_fit_a_phone() -> None:
    from django.template.loader import render_to_string

    for name in ("500.html", "503.html", "429.html"):
        page = render_to_string(name, {"message": "Too many.", "wait": 3})
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page, name


def test_the_site_has_a_favicon_at_both_addresses(client: Client) -> None:
    assert 'rel="icon" href="/static/favicon.svg"' in client.get("/").content.decode()
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response.url == "/static/favicon.svg"
    assert client.get(response.url).status_code == 200


def test_logging_out_says_so(logged_in: Client) -> None:
    response = logged_in.post("/accounts/logout/", follow=True)
    assert "You are logged out." in response.content.decode()
    assert logged_in.get("/upload/").status_code == 302


def test_the_menu_leads_to_my_data(logged_in: Client) -> None:
    assert '<a href="/my-data/">My data</a>' in logged_in.get("/upload/").content.decode()


def test_the_api_docs_lead_back_to_the_site_with_a_quick_start(client: Client) -> None:
    description = client.get("/api/v1/schema/?format=json").json()["info"]["description"]
    assert "[← Back to ageweb](/)" in description and "Quick start" in description
    assert "-F image=@photo.jpg" in description
