"""What a trained model folder says about itself, read once from its ``meta.json``.

Serving, the kept training crop, training's crops and the studies all take the crop size,
margins, views, temperature, detector and alignment from a :class:`ModelSpec`, never from the file, so
they cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DETECTORS = ("hog", "yunet")  # whose boxes placed a model's training crops
ALIGNMENTS = ("box", "points")  # how a crop is placed on a face (ml.faces.alignment_matrix)


@dataclass(frozen=True)
class ModelSpec:
    folder: Path
    name: str
    version: str
    input_size: int  # the crop's side in pixels
    margin: float  # the training crops' margin, a share of the face box's side on every side
    views: tuple[float, ...]  # the margins a face is scored at, averaged (test-time augmentation)
    flip: bool  # also score each view's mirror image
    temperature: float  # sharpens the averaged distribution back to calibrated intervals
    detector: str  # whose boxes placed the training crops: "hog" or "yunet"
    # "points": the similarity of YuNet's five points onto ml.faces.TEMPLATE; "box": the
    # detector's box and dlib's eyes (models whose meta.json does not say)
    alignment: str
    group_mean_ages: tuple[float, ...] | None  # 8-group models: each group's mean training age

    @classmethod
    def read(cls, folder: Path) -> ModelSpec:
        """The spec of the model in ``folder``; ValueError when its meta.json is unusable."""
        meta: dict[str, Any] = json.loads((folder / "meta.json").read_text())
        try:
            spec = cls(
                folder=folder,
                name=str(meta["name"]),
                version=str(meta["version"]),
                input_size=int(meta["input_size"]),
                margin=float(meta["margin"]),
                views=tuple(float(m) for m in meta.get("tta_margins", [meta["margin"]])),
                flip=bool(meta.get("flip_tta", False)),
                temperature=float(meta.get("temperature", 1.0)),
                detector=str(meta.get("detector", "hog")),
                alignment=str(meta.get("alignment", "box")),
                group_mean_ages=tuple(map(float, meta["group_mean_ages"])) if "group_mean_ages" in meta else None,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{folder / 'meta.json'} is not a model description: {error!r}") from error
        if (
            spec.detector not in DETECTORS
            or spec.alignment not in ALIGNMENTS
            or not spec.views
            or spec.temperature <= 0
            or spec.input_size < 8
        ):
            raise ValueError(f"{folder / 'meta.json'} holds impossible values: {spec}")
        return spec
