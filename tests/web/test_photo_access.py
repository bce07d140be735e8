"""Whole photos: reviewers see kept crops only; a whole photo needs the named permission and
a reason, each view is recorded, and the photo's owner sees the record."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from estimator.models import PhotoView, Prediction
from tests.web.feedback_helpers import answer, done_prediction, downloaded, make_staff, support_staff, token_client

pytestmark = pytest.mark.django_db
REASON = "The owner reported a wrong box on this photo (ticket 42)."


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def photo_url(prediction: Prediction) -> str:
    return f"/review/photos/{prediction.id}/"


def test_a_plain_staff_account_cannot_open_a_persons_photo(other_user: User) -> None:
    theirs = done_prediction(other_user)  # no answer, no consent
    staff = client_of(make_staff())
    assert staff.get(photo_url(theirs)).status_code == 404
    assert staff.get(photo_url(theirs), {"reason": REASON}).status_code == 404
    assert not PhotoView.objects.exists()


def test_a_permitted_staff_member_is_refused_without_a_reason(other_user: User) -> None:
    theirs = done_prediction(other_user)
    support = client_of(support_staff())
    for params in ({}, {"reason": "   "}, {"reason": "why not"}):
        response = support.get(photo_url(theirs), params)
        assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
        assert 'name="reason"' in response.content.decode()  # a form asking for one
    assert not PhotoView.objects.exists()


def test_a_permitted_staff_member_with_a_reason_sees_the_photo_and_the_view_is_recorded(other_user: User) -> None:
    theirs = done_prediction(other_user)
    pat = support_staff()
    response = client_of(pat).get(photo_url(theirs), {"reason": f"  {REASON} "})
    assert (response.status_code, response["Content-Type"]) == (200, "image/jpeg")
    assert b"".join(response.streaming_content).startswith(b"\xff\xd8")
    [view] = PhotoView.objects.all()
    assert (view.viewer, view.viewer_name, view.owner, view.prediction) == (pat, "pat", other_user, theirs)
    assert view.reason == REASON and view.photo_uploaded_at == theirs.created_at


def test_the_owner_sees_who_opened_their_photo_and_why_on_my_data_and_in_the_download(
    logged_in: Client, user: User, other_user: User
) -> None:
    mine, theirs = done_prediction(user), done_prediction(other_user)
    support = client_of(support_staff())
    support.get(photo_url(mine), {"reason": REASON})
    support.get(photo_url(theirs), {"reason": "Checking another person's upload."})
    page = logged_in.get("/my-data/").content.decode()
    section = page.split('id="photo-views"')[1].split("</section>")[0]
    assert "pat" in section and REASON in section and "another person" not in section
    archive = downloaded(logged_in)
    [view] = json.loads(archive.read("data.json"))["photo_views"]
    assert (view["viewer"], view["reason"], view["prediction"]) == ("pat", REASON, str(mine.id))


def test_my_data_says_nobody_opened_my_photos_when_nobody_did(logged_in: Client, user: User) -> None:
    done_prediction(user)
    section = logged_in.get("/my-data/").content.decode().split('id="photo-views"')[1].split("</section>")[0]
    assert "Nobody" in section


def test_the_record_outlives_the_viewers_account_and_the_deleted_photo(user: User) -> None:
    prediction = done_prediction(user)
    pat = support_staff()
    client_of(pat).get(photo_url(prediction), {"reason": REASON})
    pat.delete()
    prediction.delete()
    [view] = PhotoView.objects.all()
    assert (view.viewer, view.viewer_name, view.prediction, view.owner) == (None, "pat", None, user)


def test_review_items_name_the_prediction_only_for_staff_who_may_open_photos(api: APIClient, user: User) -> None:
    prediction = done_prediction(user)
    answer(api, prediction, correct=True, consent_to_train=True)
    plain = token_client(make_staff()).get("/api/v1/review/feedback/").json()["results"][0]
    assert "prediction" not in plain and plain["crop_url"]
    permitted = token_client(support_staff()).get("/api/v1/review/feedback/").json()["results"][0]
    assert permitted["prediction"] == str(prediction.id)


def test_the_admin_shows_no_photo_to_plain_staff_and_asks_permitted_staff_for_a_reason(user: User) -> None:
    prediction = done_prediction(user)
    viewer = make_staff()
    viewer.user_permissions.add(Permission.objects.get(codename="view_prediction"))
    pages = [f"/admin/estimator/prediction/{prediction.id}/change/", "/admin/estimator/prediction/"]
    for page in pages:
        response = client_of(viewer).get(page)
        assert response.status_code == 200 and photo_url(prediction) not in response.content.decode()
    support = support_staff()
    support.user_permissions.add(Permission.objects.get(codename="view_prediction"))
    change = client_of(support).get(pages[0]).content.decode()
    assert f'href="{photo_url(prediction)}"' in change  # a link to the page that asks why
    assert f'src="{photo_url(prediction)}' not in change  # never shown unasked
    assert not PhotoView.objects.exists()


@pytest.mark.parametrize("who", ["owner", "anonymous"])
def test_nobody_but_permitted_staff_opens_a_photo_there(who: str, logged_in: Client, user: User) -> None:
    prediction = done_prediction(user)
    client = logged_in if who == "owner" else Client()
    assert client.get(photo_url(prediction), {"reason": REASON}).status_code == 404
    assert not PhotoView.objects.exists()


def test_a_support_group_member_who_is_not_staff_cannot_open_a_photo(user: User, other_user: User) -> None:
    prediction = done_prediction(user)
    other_user.groups.add(Group.objects.get(name="support"))
    assert client_of(other_user).get(photo_url(prediction), {"reason": REASON}).status_code == 404


def test_the_privacy_page_and_the_consent_text_say_who_sees_what(logged_in: Client, user: User) -> None:
    privacy = " ".join(Client().get("/privacy/").content.decode().split())
    assert "Staff who check answers never see it" in privacy
    assert "each time is recorded with who, when and why" in privacy
    assert "tried again every few minutes until it succeeds" in privacy
    result = " ".join(logged_in.get(f"/p/{done_prediction(user).id}/").content.decode().split())
    assert "Staff who check it see only this crop, never your photo" in result
