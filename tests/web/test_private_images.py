"""Every view that serves a photo or a face tells browsers and proxies to keep no copy."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from estimator.models import Feedback
from tests.web.feedback_helpers import answer, done_prediction, make_staff, support_staff, token_client

pytestmark = pytest.mark.django_db


def _client(*, user: User, api: bool) -> Client | APIClient:
    if api:
        return token_client(user)
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("owner", "/api/v1/predictions/{prediction}/image/"),
        ("owner", "/api/v1/predictions/{prediction}/thumbnail/"),
        ("owner", "/my-data/faces/{feedback}/crop/"),
        ("staff", "/api/v1/review/feedback/{feedback}/crop/"),
        ("support", "/review/photos/{prediction}/?reason=Checking+a+reported+upload."),
    ],
)
def test_a_private_image_is_served_with_no_store(api: APIClient, user: User, who: str, path: str) -> None:
    prediction = done_prediction(user)
    assert answer(api, prediction, correct=True, consent_to_train=True).status_code == 201
    url = path.format(prediction=prediction.id, feedback=Feedback.objects.get().pk)
    viewer = user if who == "owner" else (make_staff() if who == "staff" else support_staff())
    response = _client(user=viewer, api=url.startswith("/api/")).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    directives = {part.strip().split("=")[0] for part in response["Cache-Control"].split(",")}
    assert "no-store" in directives and "max-age" not in directives, response["Cache-Control"]
