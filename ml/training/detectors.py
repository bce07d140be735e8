"""Detectors for training and the studies: dlib's HOG detector and the detector registry.

Serving uses YuNet alone (``ml.faces.upload_detector``); the first models and the 8-group
ensemble were trained on HOG's crops, and the face cache, evaluation and the scene studies
can still place crops with any detector named here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from ml.faces import RGB, CascadeDetector, Detection, Detector, LandmarkModel, YuNetDetector, upload_detector

MIN_SCORE = 0.25  # HOG score below which a detection is dropped (false positives score ~0.1)


class HogDetector:
    """dlib HOG face detector + 5-point landmarks. Safe to share between threads."""

    def __init__(self, detect_side: int = 512, min_score: float = MIN_SCORE) -> None:
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = LandmarkModel()
        self._lock = threading.Lock()
        self.detect_side = detect_side
        self.min_score = min_score

    def detect(self, rgb: RGB) -> list[Detection]:
        """Every face with a score of at least ``min_score``, best first."""
        gray = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), np.uint8)
        scale = min(1.0, self.detect_side / max(gray.shape))
        small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        # One upsampling step finds faces down to 40 px of the 512-px copy instead of 80 px
        # (50 px in a 640x480 photo, 80 px in a 1024x768 one), at about twice the cost.
        with self._lock:
            rects, scores, _ = self._detector.run(small, 1, 0.0)
            faces = [
                self._landmarks.face(gray, _rect_box(rect, scale), float(score))
                for rect, score in zip(rects, scores, strict=True)
                if score >= self.min_score
            ]
        return sorted(faces, key=lambda face: -face.score)


def _rect_box(rect: Any, scale: float) -> tuple[float, float, float, float]:
    left, top = rect.left() / scale, rect.top() / scale
    return left, top, (rect.right() + 1) / scale - left, (rect.bottom() + 1) / scale - top


def hog_upload_detector() -> Detector:
    """Uploads' detector for a model trained on HOG's crops: HOG first (its faces keep exactly
    the crops the model was trained on), then YuNet for the faces HOG misses (about 13% of
    UTKFace's chips), then YuNet's second pass for small faces in large photos."""
    first = CascadeDetector(HogDetector(), YuNetDetector())
    return CascadeDetector(first, YuNetDetector(detect_side=1024, min_score=0.8, only_above=640))


DETECTORS: dict[str, Callable[[], Detector]] = {
    "hog": HogDetector,
    "yunet": YuNetDetector,
    "yunet-points": lambda: YuNetDetector(points=True),  # faces placed by YuNet's points (alignment: points)
    "hog+yunet": hog_upload_detector,  # uploads, for a model trained on HOG's crops
    "yunet2": upload_detector,  # uploads, for a model trained on YuNet's crops (serving's)
}
# The uploads' detector for a model whose spec names whose boxes placed its crops.
UPLOADS = {"hog": "hog+yunet", "yunet": "yunet2"}


def crop_detector(detector: str, alignment: str) -> str:
    """The detector (by name) whose faces place a model's training crops, from its spec's
    ``detector`` and ``alignment``."""
    return f"{detector}-points" if alignment == "points" else detector


def make_detector(name: str) -> Detector:
    """A detector by name (one of :data:`DETECTORS`) with its defaults."""
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
    return DETECTORS[name]()
