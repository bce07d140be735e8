"""What a person sees and controls: the result page's question, My data, privacy, deletion."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_delete
from estimator.models import Feedback
from tests.web.feedback_helpers import answer, crop_path, done_prediction, downloaded, media_files

pytestmark = pytest.mark.django_db


def test_the_result_page_asks_about_each_face_with_consent_unticked(logged_in: Client, user: User) -> None:
    prediction = done_prediction(user)
    page = logged_in.get(f"/p/{prediction.id}/").content.decode()
    assert f'data-feedback-url="/api/v1/predictions/{prediction.id}/faces/0/feedback/"' in page
    assert 'id="consent-template"' in page and "not your photo" in page and "withdraw" in page
    assert 'id="feedback-data" type="application/json">{}</script>' in page  # no answer yet
    assert "checked" not in page  # the consent box is drawn unticked by the script


def test_the_result_page_starts_from_my_earlier_answer(logged_in: Client, api: APIClient, user: User) -> None:
    prediction = done_prediction(user)
    answer(api, prediction, correct=False, true_age=44)
    page = logged_in.get(f"/p/{prediction.id}/").content.decode()
    data = json.loads(page.split('id="feedback-data" type="application/json">')[1].split("</script>")[0])
    assert data["0"]["true_age"] == 44 and data["0"]["correct"] is False


def test_my_data_names_each_kept_face_and_answer_by_its_photo_in_plain_words(
    logged_in: Client, api: APIClient, user: User
) -> None:
    kept, numbers_only = done_prediction(user), done_prediction(user)
    answer(api, kept, correct=False, true_age=44, consent_to_train=True)
    answer(api, numbers_only, correct=True, consent_to_train=False)
    page = logged_in.get("/my-data/").content.decode()
    name = f"Photo {str(kept.id)[:8]}"
    assert f'<a href="/p/{kept.id}/#face-1">Face 1 of {name}</a>' in page  # the kept face's tile
    assert f'<a href="/p/{numbers_only.id}/#face-1">Photo {str(numbers_only.id)[:8]}</a>' in page  # the answers
    assert "Pending" not in page and "Not yet" in page and "Only kept faces are checked" in page
    assert page.count('class="data-table stacked"') == 2  # answers and predictions: one block a row on phones


def test_my_data_lists_everything_and_withdraws_one_face(
    logged_in: Client, api: APIClient, user: User, django_capture_on_commit_callbacks: Any
) -> None:
    first, second = done_prediction(user), done_prediction(user)
    answer(api, first, correct=False, true_age=44, consent_to_train=True)
    answer(api, second, correct=True, consent_to_train=True)
    page = logged_in.get("/my-data/").content.decode()
    kept = Feedback.objects.order_by("id")
    assert 'id="kept-count">2<' in page
    for feedback in kept:
        assert f"/my-data/faces/{feedback.pk}/crop/" in page
        assert logged_in.get(f"/my-data/faces/{feedback.pk}/crop/").status_code == 200
    crops = [crop_path(feedback) for feedback in kept]
    assert sorted(crops) == media_files("faces")
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(f"/my-data/withdraw/{kept[0].pk}/", follow=True)
    assert "Consent withdrawn" in response.content.decode()
    assert [c.exists() for c in crops] == [False, True]
    assert Feedback.objects.count() == 2  # the numbers stay
    assert logged_in.get(f"/my-data/faces/{kept[0].pk}/crop/").status_code == 404


def test_withdraw_all_deletes_every_crop(
    logged_in: Client, api: APIClient, user: User, django_capture_on_commit_callbacks: Any
) -> None:
    for _ in range(2):
        answer(api, done_prediction(user), correct=True, consent_to_train=True)
    crops = media_files("faces")
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post("/my-data/withdraw-all/", follow=True)
    assert "Consent withdrawn for 2 face(s)" in response.content.decode()
    assert not any(c.exists() for c in crops)
    assert not Feedback.objects.filter(consent_to_train=True).exists()
    assert Feedback.objects.filter(withdrawn_at__isnull=False).count() == 2


def test_nobody_else_can_see_or_withdraw_my_faces(api: APIClient, user: User, other_user: User) -> None:
    answer(api, done_prediction(user), correct=True, consent_to_train=True)
    feedback = Feedback.objects.get()
    stranger = Client()
    stranger.force_login(other_user)
    assert stranger.get(f"/my-data/faces/{feedback.pk}/crop/").status_code == 404
    assert stranger.post(f"/my-data/withdraw/{feedback.pk}/").status_code == 404
    assert Feedback.objects.get().kept


def test_the_download_holds_my_data_photos_and_crops_and_nobody_elses(
    logged_in: Client, api: APIClient, user: User, other_user: User
) -> None:
    mine = done_prediction(user)
    answer(api, mine, correct=False, true_age=44, consent_to_train=True)
    done_prediction(other_user)
    archive = downloaded(logged_in)
    data = json.loads(archive.read("data.json"))
    assert data["account"]["username"] == user.username
    [prediction] = data["predictions"]
    assert prediction["id"] == str(mine.id)
    feedback = prediction["faces"][0]["feedback"]
    assert feedback["true_age"] == 44 and feedback["consent_to_train"] is True
    assert sorted(archive.namelist()) == sorted(
        ["README.txt", "data.json", prediction["photo_file"], feedback["crop_file"]]
    )
    assert archive.read(prediction["photo_file"]).startswith(b"\xff\xd8")
    assert archive.read(feedback["crop_file"]).startswith(b"\xff\xd8")


def test_deleting_the_account_deletes_answers_photos_and_crops(
    api: APIClient, user: User, django_capture_on_commit_callbacks: Any
) -> None:
    answer(api, done_prediction(user), correct=True, consent_to_train=True)
    files = media_files("faces") + media_files("predictions")
    assert len(files) == 3  # the kept crop, the photo and its thumbnail
    with django_capture_on_commit_callbacks(execute=True):
        user_delete(user=user)
    assert not Feedback.objects.exists()
    assert not any(f.exists() for f in files)


def test_my_data_is_linked_from_the_profile_and_privacy_from_every_page(logged_in: Client, settings: Any) -> None:
    assert "/my-data/" in logged_in.get("/accounts/profile/").content.decode()
    settings.AGEWEB_PHOTO_RETENTION_DAYS = 12
    privacy = Client().get("/privacy/")
    assert privacy.status_code == 200
    text = privacy.content.decode()
    assert "Photos are deleted 12 days after upload" in text and "128 by 128 pixels" in text
    assert "/privacy/" in logged_in.get("/predictions/").content.decode()
    assert Client().get("/my-data/").status_code == 302  # to the log-in page


def test_staff_see_review_links_and_others_do_not(logged_in: Client, admin_client: Client) -> None:
    assert "/review/" not in logged_in.get("/predictions/").content.decode()
    page = admin_client.get("/predictions/").content.decode()
    assert 'href="/review/"' in page and 'href="/review/dashboard/"' in page
