"""The kept face crop: the training crop of one stored face, cut from its stored photo.

This is the one place the site turns a stored ``Face`` row back into an ``ml.faces.Face``
and cuts the crop the age model learned from (its training margin and input size, read
from the shipped model's ``meta.json``), so the crops an export writes are the crops
``ml.training.train`` and ``ml.training.evaluate`` expect.
"""

from __future__ import annotations

import functools
import io
import json
from typing import Any

from PIL import Image

from ml import faces
from ml.inference import DEFAULT_MODEL, MODELS_DIR

from .models import Face

CROP_QUALITY = 95  # JPEG quality of kept crops: training data, so little loss


@functools.cache
def crop_geometry() -> tuple[float, int]:
    """(margin, size) of the shipped age model's training crops."""
    meta: dict[str, Any] = json.loads((MODELS_DIR / DEFAULT_MODEL / "meta.json").read_text())
    return float(meta["margin"]), int(meta["input_size"])


def face_crop_jpeg(*, face: Face, photo: bytes) -> bytes:
    """The aligned training crop of ``face`` in ``photo`` (its stored JPEG), as a JPEG."""
    if len(face.landmarks) < 2:  # the eye centres come first (ml.faces.Face)
        raise ValueError("the face has no eye landmarks to align it on")
    margin, size = crop_geometry()
    found = faces.Face(
        box=(face.x, face.y, face.width, face.height),
        landmarks=tuple((float(x), float(y)) for x, y in face.landmarks),
        score=face.detection_score,
    )
    crop = faces.crop_face(faces.decode(photo), found, margin, size)
    out = io.BytesIO()
    Image.fromarray(crop).save(out, "JPEG", quality=CROP_QUALITY)
    return out.getvalue()
