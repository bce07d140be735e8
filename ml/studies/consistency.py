"""The same face, the same age: one face's estimates over photos that differ only as two
uploads of it would.

    python -m ml.studies.consistency --data DIR_OR_TAR [--split test] [--faces 200] [--seed 0]
        [--model NAME] [--rival] [--json] [--save FILE.json]

Each of ``--faces`` chips of the split is pasted (soft edges, chip side 140 to 260 px, so
its face is 110 to 200 px wide) into an 800 x 600 photo, the ``original``. Each original
then gets :data:`VARIANTS`: mirrored, shifted by 3 and 7 px, rotated by 5 degrees either
way, saved as JPEG at quality 60, 15% brighter, at half its size (faces 55 to 100 px wide),
and set in a larger photo (1600 x 1200: the detector sees it at another scale). Every image
goes through the uploads' detector and the age model as served; a face counts as found when
a detection's centre lies within a quarter of the face's side of where the variant put it.

Reported, as in issue 25:

- ``spread``: per face, the largest minus the smallest age over the original and the
  variants where it was found: median and 90th percentile;
- ``mirror``: per face, the age in the mirrored photo minus the original's, absolute:
  median and 90th percentile;
- per variant: found share, median and 90th percentile of the absolute change from the
  original, MAE against the true ages;
- ``sources``: the same change when the variant's crop is cut with the original's geometry
  carried exactly through the variant's own transformation (no detection, no landmarks:
  what the pixels alone move), beside the change through detection. The difference between
  the two is what detection, landmarks and alignment add.

With ``--rival`` the same images go to the rival (``make rival``), whose figures are
printed beside ours.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image
from tqdm import tqdm

from ml import ages, faces
from ml.inference import DEFAULT_MODEL, MODELS_DIR, Estimator
from ml.studies import rival
from ml.studies.evaluate import labelled_files
from ml.studies.scenes import FACE_SHARE, paste, photo_background

WIDTH, HEIGHT = 800, 600
Affine = NDArray[np.float64]  # 2x3: a point of the original -> the same point in the variant


@dataclass(frozen=True)
class Variant:
    image: faces.RGB
    where: Affine


def _affine(rgb: faces.RGB, matrix: Affine, size: tuple[int, int] | None = None) -> faces.RGB:
    width, height = size or (rgb.shape[1], rgb.shape[0])
    out = cv2.warpAffine(rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.asarray(out, np.uint8)


def _shift(step: int) -> Callable[[faces.RGB, np.random.Generator], Variant]:
    def change(rgb: faces.RGB, rng: np.random.Generator) -> Variant:
        matrix = np.array([[1.0, 0.0, step], [0.0, 1.0, step]])
        return Variant(_affine(rgb, matrix), matrix)

    return change


def _rotate(degrees: float) -> Callable[[faces.RGB, np.random.Generator], Variant]:
    def change(rgb: faces.RGB, rng: np.random.Generator) -> Variant:
        matrix = np.asarray(
            cv2.getRotationMatrix2D(((rgb.shape[1] - 1) / 2, (rgb.shape[0] - 1) / 2), degrees, 1.0), np.float64
        )
        return Variant(_affine(rgb, matrix), matrix)

    return change


def _mirror(rgb: faces.RGB, rng: np.random.Generator) -> Variant:
    return Variant(np.ascontiguousarray(rgb[:, ::-1]), np.array([[-1.0, 0.0, rgb.shape[1] - 1], [0.0, 1.0, 0.0]]))


def _jpeg(rgb: faces.RGB, rng: np.random.Generator) -> Variant:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=60)
    return Variant(faces.decode(out.getvalue()), np.eye(2, 3))


def _brighter(rgb: faces.RGB, rng: np.random.Generator) -> Variant:
    return Variant(np.asarray(np.clip(rgb.astype(np.float32) * 1.15, 0, 255), np.uint8), np.eye(2, 3))


def _half(rgb: faces.RGB, rng: np.random.Generator) -> Variant:
    small = cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return Variant(np.asarray(small, np.uint8), np.array([[0.5, 0.0, -0.25], [0.0, 0.5, -0.25]]))


def _larger(rgb: faces.RGB, rng: np.random.Generator) -> Variant:
    height, width = rgb.shape[:2]
    canvas = photo_background(rng, 2 * width, 2 * height).astype(np.float32)
    x, y = int(rng.integers(width + 1)), int(rng.integers(height + 1))
    ramp = np.clip(np.minimum(np.arange(width), np.arange(width)[::-1]) / 40.0, 0, 1)
    ramp_y = np.clip(np.minimum(np.arange(height), np.arange(height)[::-1]) / 40.0, 0, 1)
    mask = np.minimum.outer(ramp_y, ramp)[..., None]
    region = canvas[y : y + height, x : x + width]
    canvas[y : y + height, x : x + width] = region * (1 - mask) + rgb.astype(np.float32) * mask
    return Variant(np.asarray(canvas, np.uint8), np.array([[1.0, 0.0, x], [0.0, 1.0, y]]))


VARIANTS: dict[str, Callable[[faces.RGB, np.random.Generator], Variant]] = {
    "mirror": _mirror,
    "shift3": _shift(3),
    "shift7": _shift(7),
    "rotate+5": _rotate(5.0),
    "rotate-5": _rotate(-5.0),
    "jpeg60": _jpeg,
    "brighter15": _brighter,
    "half": _half,
    "larger_photo": _larger,
}


def original_photo(rng: np.random.Generator, chip: bytes) -> tuple[faces.RGB, tuple[float, float, float]]:
    """The chip pasted into a photo; returns the photo and the face's centre and side."""
    canvas = photo_background(rng, WIDTH, HEIGHT).astype(np.float32)
    side = int(rng.integers(140, 261))
    x, y = int(rng.integers(40, WIDTH - side - 40)), int(rng.integers(40, HEIGHT - side - 40))
    paste(canvas, chip, x=x, y=y, side=side)
    return np.asarray(canvas, np.uint8), (x + (side - 1) / 2, y + (side - 1) / 2, side * FACE_SHARE)


def _moved(where: Affine, x: float, y: float) -> tuple[float, float]:
    moved = where @ np.array([x, y, 1.0])
    return float(moved[0]), float(moved[1])


def _nearest(boxes: list[tuple[float, float, float, float]], centre: tuple[float, float], side: float) -> int | None:
    """The box (left, top, width, height) whose centre is nearest ``centre``, if within a quarter side."""
    best, best_distance = None, side / 4
    for i, (x, y, w, h) in enumerate(boxes):
        distance = math.hypot(x + (w - 1) / 2 - centre[0], y + (h - 1) / 2 - centre[1])
        if distance <= best_distance:
            best, best_distance = i, distance
    return best


class Scorer:
    """The served pipeline's age for the face at a given place (detected as uploads are),
    and for a crop geometry given outright."""

    def __init__(self, estimator: Estimator) -> None:
        self.estimator = estimator
        self.model = estimator.age_model

    def detect(self, rgb: faces.RGB, centre: tuple[float, float], side: float) -> faces.Detection | None:
        found = [f for f in self.estimator.detector.detect(rgb) if min(f.box[2:]) >= faces.MIN_FACE]
        index = _nearest([tuple(map(float, f.box)) for f in found], centre, side)  # type: ignore[misc]
        return None if index is None else found[index]

    def age(self, rgb: faces.RGB, face: faces.Detection) -> float:
        return ages.summarize(self.model.predict(rgb, [face])[0]).age

    def carried_age(self, rgb: faces.RGB, face: faces.Detection, where: Affine) -> float:
        """The age of the crops of ``face`` (found in the original) cut from the variant ``rgb``
        through the variant's transformation ``where``: the same geometry, the variant's pixels."""
        size = self.model.spec.input_size
        lift = np.vstack([where, [0.0, 0.0, 1.0]])
        crops = [
            faces.warp(rgb, (lift @ np.vstack([faces.alignment_matrix(face, margin, size), [0, 0, 1]]))[:2], size)
            for margin in self.model.spec.views
        ]
        return ages.summarize(self.model.score(np.stack(crops)[None])[0]).age


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None}
    return {"median": round(float(np.median(values)), 2), "p90": round(float(np.percentile(values, 90)), 2)}


def measure(
    estimator: Estimator, pool: list[tuple[int, bytes]], seed: int, keep: Path | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Our figures over ``pool`` (true age, chip); with ``keep``, every image is saved there as
    PNG for the rival, and the list of (file, face centre, side) is returned too."""
    rng = np.random.default_rng(seed)
    scorer = Scorer(estimator)
    per_face: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    for index, (true_age, chip) in enumerate(tqdm(pool, desc="faces", unit="face")):
        photo, (cx, cy, side) = original_photo(rng, chip)
        variants = {"original": Variant(photo, np.eye(2, 3))} | {
            name: make(photo, rng) for name, make in VARIANTS.items()
        }
        first = scorer.detect(photo, (cx, cy), side)
        row: dict[str, Any] = {"true": true_age, "ages": {}, "carried": {}}
        for name, variant in variants.items():
            centre = _moved(variant.where, cx, cy)
            scale = math.hypot(variant.where[0, 0], variant.where[1, 0])
            face = scorer.detect(variant.image, centre, side * scale)
            row["ages"][name] = None if face is None else scorer.age(variant.image, face)
            if first is not None and name != "original":
                row["carried"][name] = scorer.carried_age(variant.image, first, variant.where)
            if keep is not None:
                path = keep / f"{index:04d}-{name}.png"
                Image.fromarray(variant.image).save(path)
                files.append(
                    {"file": str(path), "face": index, "variant": name, "centre": centre, "side": side * scale}
                )
        per_face.append(row)
    return summarise(per_face), files


def summarise(per_face: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's figures from each face's ages (``ages``: variant -> age or None; ``true``;
    optionally ``carried``: variant -> age with the original's geometry)."""
    spreads, mirror = [], []
    for row in per_face:
        found = [a for a in row["ages"].values() if a is not None]
        if row["ages"].get("original") is not None and len(found) > 1:
            spreads.append(max(found) - min(found))
        if row["ages"].get("original") is not None and row["ages"].get("mirror") is not None:
            mirror.append(abs(row["ages"]["mirror"] - row["ages"]["original"]))
    variants: dict[str, Any] = {}
    for name in per_face[0]["ages"] if per_face else []:
        pairs = [(r["ages"][name], r["ages"].get("original"), r["true"]) for r in per_face]
        found = [(a, o, t) for a, o, t in pairs if a is not None]
        changes = [abs(a - o) for a, o, _ in found if o is not None]
        carried = [
            abs(r["carried"][name] - r["ages"]["original"])
            for r in per_face
            if name in r.get("carried", {}) and r["ages"].get("original") is not None
        ]
        variants[name] = {
            "found": round(len(found) / len(pairs), 3),
            "change": _stats(changes) if name != "original" else None,
            "change_same_geometry": _stats(carried) if carried else None,
            "mae": round(float(np.mean([abs(a - t) for a, _, t in found])), 2) if found else None,
        }
    return {"faces": len(per_face), "spread": _stats(spreads), "mirror": _stats(mirror), "variants": variants}


def score_rival(files: list[dict[str, Any]], true_ages: list[float]) -> dict[str, Any]:
    """The rival's figures on the same images, each face matched as ours are."""
    answers: dict[str, Any] = {str(a["file"]): a for a in rival.run_rival("photos", [f["file"] for f in files])}
    per_face: list[dict[str, Any]] = [{"true": t, "ages": {}} for t in true_ages]
    for f in files:
        answer = answers.get(f["file"], {"ages": [], "boxes": []})
        boxes = [(float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)) for x0, y0, x1, y1 in answer["boxes"]]
        # The rival's boxes are tighter than ours (dlib's HOG box): match by its centre
        # within half a face side.
        index = _nearest(boxes, f["centre"], 2 * f["side"])
        per_face[f["face"]]["ages"][f["variant"]] = None if index is None else float(answer["ages"][index])
    return summarise(per_face)


def _table(ours: dict[str, Any], theirs: dict[str, Any] | None) -> str:
    def cell(stats: dict[str, Any] | None) -> str:
        if not stats or stats.get("median") is None:
            return "-"
        return f"{stats['median']:.2f} ({stats['p90']:.2f})"

    lines = [
        f"{ours['faces']} faces, each in an original photo and {len(VARIANTS)} variants; "
        "median (90th percentile) in years",
        f"{'':28}{'ageweb':>16}{'rival':>16}",
        f"{'spread over the variants':28}{cell(ours['spread']):>16}{cell(theirs and theirs['spread']):>16}",
        f"{'mirror vs original':28}{cell(ours['mirror']):>16}{cell(theirs and theirs['mirror']):>16}",
        "",
        f"{'variant':14}{'found':>7}{'change':>15}{'same geometry':>15}{'MAE':>7}"
        f"{'rival found':>13}{'change':>15}{'MAE':>7}",
    ]
    for name, v in ours["variants"].items():
        r = theirs["variants"].get(name, {}) if theirs else {}
        lines.append(
            f"{name:14}{v['found']:>7.3f}{cell(v['change']):>15}{cell(v['change_same_geometry']):>15}"
            f"{v['mae'] if v['mae'] is not None else '-':>7}"
            f"{r.get('found', '-'):>13}{cell(r.get('change')):>15}{r.get('mae') or '-':>7}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="UTKFace folder or .tar.gz")
    parser.add_argument("--split", default="test", choices=["train", "val", "test", "all"])
    parser.add_argument("--faces", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--rival", action="store_true", help="score the same images with the rival (make rival)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--save", type=Path, help="write the report as JSON to this file")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    chips = [(float(r.age), blob) for r, blob in labelled_files(args.data, args.split, clean=False)]
    pool = [chips[i] for i in rng.choice(len(chips), size=min(args.faces, len(chips)), replace=False)]
    estimator = Estimator(model_dir=MODELS_DIR / args.model)
    with tempfile.TemporaryDirectory() as folder:
        ours, files = measure(estimator, pool, args.seed, keep=Path(folder) if args.rival else None)
        theirs = score_rival(files, [t for t, _ in pool]) if args.rival else None
    report = {"model": estimator.spec.version, "split": args.split, "seed": args.seed, "ours": ours, "rival": theirs}
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1) if args.json else _table(ours, theirs))


if __name__ == "__main__":
    main()
