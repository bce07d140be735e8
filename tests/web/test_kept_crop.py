"""The crop a consented face adds to the data set is the crop the model scored, edge or not."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import User
from estimator.loader import load_estimator
from estimator.models import Feedback
from ml import faces
from ml.inference import DEFAULT_MODEL, MODELS_DIR, shipped_spec
from tests.web.feedback_helpers import answer, done_prediction

pytestmark = [pytest.mark.django_db, pytest.mark.real_estimator]


def _face_at_the_left_edge() -> bytes:
    """scikit-image's astronaut with the left 215 columns cut off: the detector's box of her
    face starts about 30 px left of the photo."""
    from skimage import data

    out = io.BytesIO()
    Image.fromarray(np.asarray(data.astronaut())[:, 215:]).save(out, "JPEG", quality=95)
    return out.getvalue()


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float64)


def test_the_kept_crop_of_a_face_at_the_edge_is_the_crop_the_model_scored(
    api: APIClient, user: User, settings: Any
) -> None:
    settings.AGEWEB_ESTIMATOR = "ml.inference.Estimator"
    settings.AGEWEB_SHIPPED_MODEL = MODELS_DIR / DEFAULT_MODEL
    prediction = done_prediction(user, _face_at_the_left_edge())
    face = prediction.faces.get()
    assert face.x == 0 and face.detected_box[0] < 0  # shown clipped, kept as detected
    assert answer(api, prediction, correct=True, consent_to_train=True).status_code == 201
    with Feedback.objects.get().crop.open("rb") as stored:
        kept = _pixels(stored.read())

    # The crop the model scored, cut again from the stored photo by the serving pipeline.
    with prediction.image.open("rb") as stored:
        rgb = faces.decode(stored.read())
    [found] = load_estimator().detector.detect(rgb)
    spec = shipped_spec()
    scored = faces.crop_face(rgb, found, margin=spec.margin, size=spec.input_size)
    assert kept.shape == scored.shape
    assert np.abs(kept - scored).mean() < 3  # JPEG's loss only

    # The crop is placed by the face's points, so the clipped box cannot move it; placed by
    # the clipped box (the earlier geometry: box and eyes) it would differ: this test tells
    # the two apart.
    clipped = faces.Detection(box=(face.x, face.y, face.width, face.height), landmarks=found.landmarks[:3], score=1.0)
    assert np.abs(kept - faces.crop_face(rgb, clipped, margin=spec.margin, size=spec.input_size)).mean() > 10
