"""What moves an estimate: the same faces under each change a photo makes to a chip.

    python -m ml.studies.sensitivity --data DIR_OR_TAR [--split val] [--faces 300] [--model NAME] [--save FILE.json]

``ml.studies.scenes`` measures how far a face's age moves between its chip alone and the
same chip in a photo; this takes the photo apart. Each of ``--faces`` chips (drawn at
random from the split) is estimated as it is, then after one change at a time:

- ``jpeg88``: saved as JPEG at quality 88, as most scenes are;
- ``shift1``: moved by one pixel (the detector's box moves with it, a little);
- ``shrink100`` and ``shrink60``: shrunk to 100 or 60 px and enlarged back (a small face);
- ``surroundings``: its outer 8% faded into a background, as the scenes paste a chip
  (``ml.studies.scenes.soft_mask``): what lies around the face changes, the face does not.

Each change is scored twice: with the chip's own face box and eyes (``same_box``: the
pixels alone) and detected again (``detected``: the uploads' whole pipeline). The report
gives, per change, the median change of the age from the unchanged chip's, the share of
faces moving more than 5 years, and the MAE against the true ages.
"""

from __future__ import annotations

import argparse
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from ml import ages, faces
from ml.inference import DEFAULT_MODEL, MODELS_DIR, Estimator
from ml.studies.evaluate import labelled_files
from ml.studies.scenes import photo_background, soft_mask

Change = Callable[[faces.RGB], faces.RGB]


def changes(rng: np.random.Generator) -> dict[str, Change]:
    """The changes, by name; ``rng`` draws the surroundings' backgrounds."""

    def jpeg(rgb: faces.RGB) -> faces.RGB:
        out = io.BytesIO()
        Image.fromarray(rgb).save(out, "JPEG", quality=88)
        return faces.decode(out.getvalue())

    def shift(rgb: faces.RGB) -> faces.RGB:
        return np.ascontiguousarray(np.pad(rgb, ((1, 0), (1, 0), (0, 0)), mode="edge")[: rgb.shape[0], : rgb.shape[1]])

    def shrink(side: int) -> Change:
        def change(rgb: faces.RGB) -> faces.RGB:
            small = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)
            return np.asarray(cv2.resize(small, rgb.shape[1::-1], interpolation=cv2.INTER_LINEAR), np.uint8)

        return change

    def surroundings(rgb: faces.RGB) -> faces.RGB:
        height, width = rgb.shape[:2]
        mask = cv2.resize(soft_mask(max(height, width)), (width, height))[..., None]
        blended = photo_background(rng, width, height) * (1 - mask) + rgb * mask
        return np.asarray(np.clip(blended, 0, 255), np.uint8)

    return {
        "jpeg88": jpeg,
        "shift1": shift,
        "shrink100": shrink(100),
        "shrink60": shrink(60),
        "surroundings": surroundings,
    }


def _age(estimator: Estimator, rgb: faces.RGB, face: faces.Detection | None) -> float:
    if face is None:
        return math.nan
    return float(ages.expected_age(estimator.distributions(rgb, [face])[0]))


def measure(
    estimator: Estimator, chips: list[tuple[int, bytes]], seed: int = 0, named: dict[str, Change] | None = None
) -> dict[str, Any]:
    """The report (see the module docstring) for ``(true age, encoded chip)`` pairs, under
    ``named`` changes (default: :func:`changes`)."""
    named = named if named is not None else changes(np.random.default_rng(seed))
    truth, base = [], []
    moved: dict[str, dict[str, list[float]]] = {name: {"same_box": [], "detected": []} for name in named}
    for age, blob in tqdm(chips, desc="faces", mininterval=5):
        rgb = faces.decode(blob)
        face = faces.main_face(rgb, estimator.detector.detect(rgb))
        if face is None:
            continue
        truth.append(age)
        base.append(_age(estimator, rgb, face))
        for name, change in named.items():
            changed = change(rgb)
            moved[name]["same_box"].append(_age(estimator, changed, face))
            again = faces.main_face(changed, estimator.detector.detect(changed))
            moved[name]["detected"].append(_age(estimator, changed, again))
    true_ages, unchanged = np.array(truth, np.float64), np.array(base)

    def figures(estimates: list[float]) -> dict[str, Any]:
        values = np.array(estimates)
        found = ~np.isnan(values)
        delta = np.abs(values[found] - unchanged[found])
        return {
            "n": int(found.sum()),
            "median_change": round(float(np.median(delta)), 2),
            "share_over_5": round(float((delta > 5).mean()), 4),
            "mae": round(float(np.abs(values[found] - true_ages[found]).mean()), 3),
        }

    return {
        "n": len(base),
        "mae": round(float(np.abs(unchanged - true_ages).mean()), 3),
        "changes": {name: {how: figures(v) for how, v in parts.items()} for name, parts in moved.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder or .tar(.gz) of UTKFace-named images")
    parser.add_argument("--split", default="val", choices=["train", "val", "test"])
    parser.add_argument("--faces", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"a folder name under {MODELS_DIR}, or a path")
    parser.add_argument("--save", help="write the JSON result to this file")
    args = parser.parse_args()
    pool = [(record.age, blob) for record, blob in labelled_files(args.data, args.split, clean=True)]
    if not pool:
        raise SystemExit("no UTKFace-named images found")
    rng = np.random.default_rng(args.seed)
    picked = [pool[i] for i in sorted(rng.choice(len(pool), size=min(args.faces, len(pool)), replace=False))]
    estimator = Estimator(MODELS_DIR / args.model)
    result = measure(estimator, picked, args.seed)
    result.update(model=estimator.spec.version, split=args.split, seed=args.seed)
    print(f"{result['n']} {args.split} faces, model {result['model']}: MAE {result['mae']:.3f} unchanged")
    for name, parts in result["changes"].items():
        for how, f in parts.items():
            print(
                f"  {name:12s} {how:8s} median change {f['median_change']:.2f}, "
                f"{f['share_over_5']:.1%} over 5 years, MAE {f['mae']:.3f} (n={f['n']})"
            )
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
