"""Fake estimators for the web tests: the boundary to ml.inference, nothing deeper.

They return real ``ml.inference.Estimate`` objects, so the site code under test handles
exactly what the real estimator hands it; only the numbers are made up. Each class is a
factory called with ``model_dir=`` a model version's folder, as ``settings.AGEWEB_ESTIMATOR``
requires: they take their version from its meta.json (``fake-1`` in tests/models/fake-1),
and the age they give from its ``fake_age`` when it has one, so that versions differ.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ml.inference import AGE_GROUPS, Estimate, FaceEstimate

MODEL_VERSION = "fake-1"
GROUP_BOUNDS = [(0, 2), (3, 6), (7, 14), (15, 23), (24, 34), (35, 44), (45, 59), (60, 100)]


def _distribution(mean: float, spread: float) -> list[float]:
    weights = [math.exp(-(((age - mean) / spread) ** 2) / 2) for age in range(101)]
    total = sum(weights)
    return [w / total for w in weights]


def _percentile(distribution: list[float], q: float) -> float:
    running = 0.0
    for age, p in enumerate(distribution):
        running += p
        if running >= q:
            return float(age)
    return 100.0


def fake_face(box: tuple[int, int, int, int], age: float = 38.0) -> FaceEstimate:
    distribution = _distribution(age, 6.0)
    groups = {label: sum(distribution[lo : hi + 1]) for label, (lo, hi) in zip(AGE_GROUPS, GROUP_BOUNDS, strict=True)}
    x, y, w, h = box
    return FaceEstimate(
        box=box,
        landmarks=(
            (x + w * 0.3, y + h * 0.4),
            (x + w * 0.7, y + h * 0.4),
            (x + w * 0.5, y + h * 0.6),
            (x + w * 0.35, y + h * 0.8),
            (x + w * 0.65, y + h * 0.8),
        ),
        detection_score=0.99,
        age=sum(a * p for a, p in enumerate(distribution)),
        interval=(_percentile(distribution, 0.1), _percentile(distribution, 0.9)),
        distribution=tuple(distribution),
        groups=groups,
    )


def _size(image: bytes) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(image)) as decoded:
            return decoded.size
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"not an image: {error}") from error  # as ml.inference.ImageError does


class Fake:
    """What every fake knows: its model version, and the age it gives (from meta.json)."""

    def __init__(self, model_dir: Path | None = None) -> None:
        meta = json.loads((model_dir / "meta.json").read_text()) if model_dir else {}
        self.version: str = meta.get("version", MODEL_VERSION)
        self.age = float(meta.get("fake_age", 38.0))

    def estimate(self, image: bytes) -> Estimate:
        raise NotImplementedError

    def estimate_kept_frame(self, image: bytes) -> Estimate:
        return self.estimate(image)

    def estimate_faces(
        self, image: bytes, *, located: Sequence[tuple[Sequence[float], Sequence[tuple[float, float]]]]
    ) -> list[FaceEstimate]:
        _size(image)
        boxes = [[round(v) for v in box] for box, _ in located]
        return [fake_face((x, y, w, h), self.age) for x, y, w, h in boxes]


class FakeEstimator(Fake):
    """Finds one face in the middle of any photo, aged about 38 (or its version's fake_age)."""

    def estimate(self, image: bytes) -> Estimate:
        width, height = _size(image)
        face = fake_face((width // 4, height // 4, width // 2, height // 2), self.age)
        return Estimate(width=width, height=height, faces=[face], model_version=self.version)

    def estimate_frame(self, image: bytes) -> Estimate:
        return self.estimate(image)


class CountingEstimator(FakeEstimator):
    """FakeEstimator that counts how many times one was built (loading the models)."""

    built = 0

    def __init__(self, model_dir: Path | None = None) -> None:
        super().__init__(model_dir)
        type(self).built += 1


class UnloadableEstimator(FakeEstimator):
    """Cannot be built, as when a model file is missing."""

    def __init__(self, model_dir: Path | None = None) -> None:
        raise FileNotFoundError("ml/models/age101/model.tflite is missing")


class ShadowBreaksEstimator(FakeEstimator):
    """Answers uploads, but fails when asked to score faces again (as a broken shadow model would)."""

    def estimate_faces(
        self, image: bytes, *, located: Sequence[tuple[Sequence[float], Sequence[tuple[float, float]]]]
    ) -> list[FaceEstimate]:
        raise RuntimeError("the shadow model blew up")


class TwoFacesEstimator(Fake):
    """Two faces, the first one reaching past the photo's left edge as detectors' boxes may."""

    def estimate(self, image: bytes) -> Estimate:
        width, height = _size(image)
        faces = [
            fake_face((-10, 10, width // 3, height // 3), 25.0),
            fake_face((width // 2, 10, width // 3, height // 3), 61.0),
        ]
        return Estimate(width=width, height=height, faces=faces, model_version=self.version)


class NoFaceEstimator(Fake):
    def estimate(self, image: bytes) -> Estimate:
        width, height = _size(image)
        return Estimate(width=width, height=height, faces=[], model_version=self.version)


class TooSmallEstimator(Fake):
    def estimate(self, image: bytes) -> Estimate:
        width, height = _size(image)
        return Estimate(width=width, height=height, faces=[], model_version=self.version, too_small=2)


class BrokenEstimator(Fake):
    def estimate(self, image: bytes) -> Estimate:
        raise RuntimeError("the model blew up")

    def estimate_frame(self, image: bytes) -> Estimate:
        return self.estimate(image)


class RefusingEstimator(Fake):
    def estimate(self, image: bytes) -> Estimate:
        raise ValueError("cannot decode")  # what ml.inference.ImageError is

    def estimate_frame(self, image: bytes) -> Estimate:
        return self.estimate(image)


class SlowFakeEstimator(FakeEstimator):
    """FakeEstimator after a pause (AGEWEB_FAKE_DELAY seconds), for worker tests."""

    def estimate(self, image: bytes) -> Estimate:
        time.sleep(float(os.environ.get("AGEWEB_FAKE_DELAY", "1.0")))
        return super().estimate(image)


class StubbornEstimator(Fake):
    """Ignores Celery's soft time limit, as native code that never returns to Python would:
    only the hard limit, which kills the process, stops it."""

    def estimate(self, image: bytes) -> Estimate:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                time.sleep(0.1)
            except Exception:  # celery's SoftTimeLimitExceeded, raised into this frame
                continue
        raise RuntimeError("the hard time limit should have stopped this long ago")
