"""Helpers for the feedback tests: finished predictions, staff users, answers."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_create, user_token
from estimator.models import Feedback, Prediction
from estimator.predictions.services import prediction_create, prediction_run
from harness import photos
from tests.web.conftest import PASSWORD, upload


def done_prediction(owner: User, data: bytes | None = None) -> Prediction:
    """A prediction the (fake) model has finished: one face, aged about 38."""
    prediction = prediction_create(owner=owner, image=upload(data or photos.face_photo()))
    prediction_run(prediction_id=prediction.id)
    prediction.refresh_from_db()
    return prediction


def feedback_url(prediction: Prediction, index: int = 0) -> str:
    return f"/api/v1/predictions/{prediction.id}/faces/{index}/feedback/"


def answer(client: APIClient, prediction: Prediction, index: int = 0, **body: Any) -> Any:
    return client.post(feedback_url(prediction, index), body, format="json")


def make_staff(username: str = "sam") -> User:
    staff = user_create(username=username, email=f"{username}@example.com", password=PASSWORD)
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    return staff


def support_staff(username: str = "pat") -> User:
    """A staff member in the "support" group, which migration 0005 gives the photo permission."""
    staff = make_staff(username)
    staff.groups.add(Group.objects.get(name="support"))
    return staff


def token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {user_token(user=user).key}")
    return client


def media_files(folder: str) -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / folder
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def downloaded(client: Client) -> zipfile.ZipFile:
    """The zip a logged-in person gets from "Download everything"."""
    response = client.get("/my-data/download/")
    assert response.status_code == 200, response.status_code
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def crop_path(feedback: Feedback) -> Path:
    return Path(feedback.crop.path)
