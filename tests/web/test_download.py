"""The personal-data download is written to a temporary file and streamed, never built in
memory, and a person may ask for it only a few times an hour."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import User
from tests.web.feedback_helpers import answer, done_prediction

pytestmark = pytest.mark.django_db


def test_the_download_is_streamed_and_the_zip_is_complete(logged_in: Client, api: APIClient, user: User) -> None:
    predictions = [done_prediction(user) for _ in range(3)]
    answer(api, predictions[0], correct=True, consent_to_train=True)
    response = logged_in.get("/my-data/download/")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="ageweb-alice-')
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    data = json.loads(archive.read("data.json"))
    photos = {p["photo_file"] for p in data["predictions"]}
    named = {p.id: f"photos/{p.created_at:%Y-%m-%d_%H%M}_photo-{str(p.id)[:8]}.jpg" for p in predictions}
    assert photos == set(named.values())  # a date and a name a person can tell apart, not an id
    crop = data["predictions"][-1]["faces"][0]["feedback"]["crop_file"]  # oldest last
    assert crop == named[predictions[0].id].replace("photos/", "faces/").replace(".jpg", "_face-1.jpg")
    assert sorted(archive.namelist()) == sorted(["README.txt", "data.json", crop, *photos])
    for prediction in predictions:
        with prediction.image.open("rb") as stored:
            assert archive.read(named[prediction.id]) == stored.read()


def test_the_download_has_a_summary_a_person_can_read(logged_in: Client, api: APIClient, user: User) -> None:
    prediction = done_prediction(user)
    answer(api, prediction, correct=False, true_age=44, consent_to_train=True)
    response = logged_in.get("/my-data/download/")
    readme = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).read("README.txt").decode()
    assert "Account: alice (" in readme and "Your photos (1)" in readme
    assert f"- Photo {str(prediction.id)[:8]}, uploaded {prediction.created_at:%Y-%m-%d %H:%M} UTC: 1 face(s)" in readme
    assert "Your answer: not right, real age 44. Face kept: yes, faces/" in readme
    assert "checked by staff: not yet" in readme and "Nobody has opened any of your photos." in readme


def test_the_sixth_download_in_an_hour_is_refused(logged_in: Client, user: User) -> None:
    answers = [logged_in.get("/my-data/download/").status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]
    refused = logged_in.get("/my-data/download/")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0


def test_the_download_rate_counts_per_person(
    logged_in: Client, other_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "downloads", "1/hour")
    assert logged_in.get("/my-data/download/").status_code == 200
    assert logged_in.get("/my-data/download/").status_code == 429
    other = Client()
    other.force_login(other_user)
    assert other.get("/my-data/download/").status_code == 200


def test_the_download_holds_other_model_versions_estimates_of_my_faces(logged_in: Client, user: User) -> None:
    from estimator.models import ShadowFace

    face = done_prediction(user).faces.get()
    ShadowFace.objects.create(face=face, model_version="age101-candidate", age=33.5, age_low=27.0, age_high=41.0)
    response = logged_in.get("/my-data/download/")
    data = json.loads(zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).read("data.json"))
    (exported,) = data["predictions"][0]["faces"]
    assert exported["other_model_estimates"] == [
        {"model_version": "age101-candidate", "age": 33.5, "interval": [27.0, 41.0]}
    ]
