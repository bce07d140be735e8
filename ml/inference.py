"""Load the shipped models once, then estimate every face's age in a photo.

Contract used by the site (estimator/) and the benchmarks:

    from ml.inference import get_estimator, ImageError
    result = get_estimator().estimate(image_bytes)   # bytes, a path, a PIL image or an RGB array
    for face in result.faces: face.age, face.interval, face.groups, face.box ...

``ImageError`` (a ValueError) is raised for input that is not a decodable image; a photo
with no face gives ``result.faces == []`` (and ``result.too_small`` counts faces found but
too small to estimate). Thread-safe; TensorFlow is imported on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

AGE_GROUPS: tuple[str, ...] = ("0-2", "3-6", "7-14", "15-23", "24-34", "35-44", "45-59", "60+")


@dataclass(frozen=True)
class FaceEstimate:
    box: tuple[int, int, int, int]  # x, y, width, height in the EXIF-rotated image's pixels
    landmarks: tuple[tuple[float, float], ...]  # 5 points: eyes, nose, mouth corners (x, y)
    detection_score: float  # detector confidence; faces taken as whole chips get 0.0
    age: float  # expected value of the 101-way distribution, years
    interval: tuple[float, float]  # 10th and 90th percentile of the distribution, years
    distribution: tuple[float, ...]  # 101 probabilities, ages 0..100
    groups: dict[str, float]  # the 8 seed groups (AGE_GROUPS) -> probability, from the 101 model
    ensemble_groups: dict[str, float] | None = None  # the 8-group ensemble's probabilities, if shipped


@dataclass(frozen=True)
class Estimate:
    width: int
    height: int
    faces: list[FaceEstimate]
    model_version: str
    too_small: int = 0  # faces detected but smaller than the model's minimum face size
    versions: dict[str, str] = field(default_factory=dict)  # model name -> version
