"""A frame kept from the live page shows the ages the live stream gave that frame."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from rest_framework.test import APIClient

from estimator.loader import load_estimator
from estimator.models import Prediction
from ml.inference import DEFAULT_MODEL, MODELS_DIR

pytestmark = [pytest.mark.django_db, pytest.mark.real_estimator]


def _live_frame() -> bytes:
    """What the live page sends: a 640x480 frame, JPEG at 0.8."""
    from skimage import data

    out = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((640, 640)).crop((0, 0, 640, 480)).save(out, "JPEG", quality=80)
    return out.getvalue()


def _kept(api: APIClient, frame: bytes, source: str, on_commit: Any) -> Prediction:
    with on_commit(execute=True):  # eager Celery: the task runs as the upload commits
        response = api.post("/api/v1/predictions/", {"image": io.BytesIO(frame), "source": source}, format="multipart")
    assert response.status_code == 202, response.json()
    assert response.json()["source"] == source
    return Prediction.objects.get(pk=response.json()["id"])


def test_a_kept_live_frame_is_scored_as_the_live_stream_scores_frames(
    api: APIClient, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.AGEWEB_ESTIMATOR = "ml.inference.Estimator"
    settings.AGEWEB_SHIPPED_MODEL = MODELS_DIR / DEFAULT_MODEL
    kept = _kept(api, _live_frame(), "live", django_capture_on_commit_callbacks)
    assert kept.status == Prediction.Status.DONE and kept.source == Prediction.Source.LIVE
    [face] = kept.faces.all()
    with kept.image.open("rb") as stored:
        photo = stored.read()
    # The stored photo (re-encoded without metadata) through the live stream's pipeline gives
    # exactly the kept face; through the uploads' pipeline it would not.
    [live] = load_estimator().estimate_frame(photo).faces
    [upload] = load_estimator().estimate(photo).faces
    assert face.age == round(live.age, 2) and list(face.distribution) == list(live.distribution)
    assert list(face.distribution) != list(upload.distribution)
    assert face.groups  # the result page's 8 groups, as for an upload


def test_an_unknown_source_is_refused_under_its_field(api: APIClient) -> None:
    response = api.post(
        "/api/v1/predictions/", {"image": io.BytesIO(_live_frame()), "source": "webcam"}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["source"]
    assert not Prediction.objects.exists()


def test_an_upload_says_it_is_one(api: APIClient, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/predictions/", {"image": io.BytesIO(_live_frame())}, format="multipart")
    assert response.status_code == 202 and response.json()["source"] == "upload"
