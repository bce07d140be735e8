"""End-to-end evaluation on photos, not chips: a split's faces placed in larger scenes.

    python -m ml.studies.scenes --data DIR_OR_TAR [--split test] [--photos 1000] [--seed 0]
        [--style portrait|faded] [--degrade all|none|light,blur,noise,jpeg] [--model NAME]
        [--json] [--save FILE.json] [--save-faces FILE.npz] [--contact-sheet FILE.png [--sheet-faces 24]]

Each scene is a photo of 480 to 1920 pixels a side: a background (a real photo without
people from scikit-image's data, or a smooth gradient with noise) and one to three UTKFace
chips of the split at face sizes from 40 to 600 pixels (log-uniform, wherever they fit with
a fifth of the larger one's side between them), composited in one of two styles:

- ``portrait`` (the default): each chip with its own surroundings continued past its edges
  (its hair, ears, neck and background go on as its mirror image, blurred more with
  distance, as a shallow depth of field would) over an oval that only then fades into the
  background, so that nothing marks where the chip ends;
- ``faded``: each chip's outer 8% faded into the background (the scenes of earlier
  sessions): the crops then reach past the face into a frame no real photo has.

Then, per photo, what a phone camera and a photo's later life do (``ml.studies.camera``:
light, blur, noise, JPEG; all by default, any subset with ``--degrade``); it is saved as
JPEG, PNG or WebP, a quarter stored sideways or upside down with the EXIF orientation that
turns them upright. A seed gives the same faces in the same places for every style and
choice of degradations, so runs that differ in one compare face by face (``--save-faces``).
Every scene goes through the uploads' whole pipeline (``Estimator.estimate``: decode, EXIF,
detection, crops, model); each detected face is matched to the placed chip whose square
holds its centre at a plausible size. It reports:

- ``recall`` (every placed face), ``recall_60`` (faces of 60 px and more), and by size;
  a face found but smaller than the model's minimum (``ml.faces.MIN_FACE``) counts as missed;
- ``false_faces``: detections matching no placed face (and per 100 photos);
- for the matched faces, the same figures as ``ml.studies.evaluate`` (n, mae, cs5, acc8, the 80%
  interval's coverage, by age band, gender and race);
- ``chip_vs_scene``: the same face's age estimated on its chip alone and in the scene,
  median change and share changing by more than 5 years, the MAE and the 80% range's
  coverage of the same faces as chips alone and in the photos, overall and by face size;
- ``acc8_ensemble``, with the 8-group ensemble shipped: its accuracy on the same faces.

``--contact-sheet`` saves the faces whose age moved most between chip and photo, each as
the model saw it alone and in the photo (the widest served crop, side by side, with the
true age and both estimates), to look at what differs.

A placed face's size is its chip's side times 0.78, the share of a 200-px UTKFace chip that
HOG's face box covers (median over 600 chips).

What these photos cannot show: they are composites of aligned, mostly frontal chips, not
photos taken in the wild; there is no real occlusion, pose, crowd, body, or a real camera's
processing, and what lies just past a chip is its own mirror image, not what stood there.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image
from tqdm import tqdm

from ml import ages, camera, data, faces
from ml.inference import DEFAULT_MODEL, MODELS_DIR, Estimate, Estimator, FaceEstimate
from ml.studies import report
from ml.studies.evaluate import labelled_files, summarise
from ml.training import detectors

FACE_SHARE = 0.78  # HOG's face box side / chip side on UTKFace's 200-px chips
SIZES = ((640, 480), (1024, 768), (1280, 960), (1920, 1080), (480, 640), (1080, 1440), (800, 800))
BACKGROUNDS = ("coffee", "chelsea", "rocket", "coins", "horse", "clock", "hubble_deep_field", "brick", "gravel")
SIZE_BANDS = ((0, 60), (60, 120), (120, 300), (300, 10_000))
STYLES = ("faded", "portrait")  # how a chip is composited into a scene (compose)
GAP = 0.2  # the least gap between two chips' squares, a share of the larger side (no chip abuts another)
HALO = (1.5, 1.7)  # portrait: the oval a chip's surroundings fill, width and height in chip sides
WORK_SIDE = 256  # portrait: larger chips' surroundings are made at this size and enlarged
HALO_FADE = 0.4  # portrait: past the oval they fade into the background over this share of its size
# EXIF orientation -> how the stored pixels are turned from upright (PIL's transpose).
ORIENTATIONS = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


@dataclass(frozen=True)
class Placed:
    record: data.Record
    chip: bytes
    box: tuple[int, int, int, int]  # the chip's square in the upright scene

    @property
    def face_side(self) -> float:
        return self.box[2] * FACE_SHARE


@dataclass(frozen=True)
class Scene:
    image: bytes  # encoded, possibly with an EXIF orientation
    width: int  # upright
    height: int
    placed: list[Placed]
    fmt: str
    orientation: int  # 1: upright as stored
    conditions: camera.Conditions | None = None  # the camera's, when any were applied


@dataclass(frozen=True)
class Pair:
    """One face as the model saw it alone and in a photo: its widest served crops, side by side."""

    true_age: int
    chip_age: float
    photo_age: float
    side: float  # the placed face's side in the photo, px
    chip_crop: faces.RGB
    photo_crop: faces.RGB

    @property
    def change(self) -> float:
        """|age in the photo - age alone|, years."""
        return abs(self.photo_age - self.chip_age)


class ContactSheet:
    """The ``size`` faces whose age moved most between chip and photo (``evaluate`` adds every
    matched face); :meth:`save` draws them as pairs, chip crop left, photo crop right."""

    COLUMNS = 4

    def __init__(self, size: int = 24) -> None:
        self.size = size
        self.pairs: list[Pair] = []

    def add(self, pair: Pair) -> None:
        self.pairs.append(pair)
        if len(self.pairs) > 2 * self.size:  # keep memory flat over a long run
            self.pairs = self.top()

    def top(self) -> list[Pair]:
        return sorted(self.pairs, key=lambda p: -p.change)[: self.size]

    def save(self, path: str | Path) -> Image.Image:
        from PIL import ImageDraw

        pairs = self.top()
        crop = pairs[0].chip_crop.shape[0] if pairs else 128
        cell_w, cell_h, pad = 2 * crop + 6, crop + 34, 10
        rows = max(1, math.ceil(len(pairs) / self.COLUMNS))
        sheet = Image.new("RGB", (pad + self.COLUMNS * (cell_w + pad), pad + rows * (cell_h + pad)), "white")
        draw = ImageDraw.Draw(sheet)
        for i, pair in enumerate(pairs):
            x = pad + (i % self.COLUMNS) * (cell_w + pad)
            y = pad + (i // self.COLUMNS) * (cell_h + pad)
            sheet.paste(Image.fromarray(pair.chip_crop), (x, y))
            sheet.paste(Image.fromarray(pair.photo_crop), (x + crop + 6, y))
            draw.text((x, y + crop + 3), f"age {pair.true_age}: alone {pair.chip_age:.1f}", fill="black")
            draw.text((x, y + crop + 17), f"in photo {pair.photo_age:.1f} at {pair.side:.0f} px", fill="black")
        sheet.save(path)
        return sheet


def photo_background(rng: np.random.Generator, width: int, height: int) -> NDArray[np.uint8]:
    import skimage.data

    name = BACKGROUNDS[rng.integers(len(BACKGROUNDS))] if rng.random() < 0.8 else None
    if name is None:  # a smooth gradient with some noise
        ys, xs = np.mgrid[0:height, 0:width] / max(width, height)
        a, b = rng.integers(40, 220, size=(2, 3))
        grad = a + (b - a) * ((xs + ys) / 2)[..., None]
        return np.asarray(np.clip(grad + rng.normal(0, 6, grad.shape), 0, 255), np.uint8)
    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    image = image[..., :3].astype(np.uint8)
    scale = max(width / image.shape[1], height / image.shape[0])
    big = cv2.resize(image, (math.ceil(image.shape[1] * scale), math.ceil(image.shape[0] * scale)))
    top, left = rng.integers(big.shape[0] - height + 1), rng.integers(big.shape[1] - width + 1)
    return np.ascontiguousarray(big[top : top + height, left : left + width])


def soft_mask(side: int) -> NDArray[np.float32]:
    """1 inside the chip, fading to 0 over its outer 8%: no hard square edge in the scene."""
    ramp = np.clip(np.minimum(np.arange(side), np.arange(side)[::-1]) / max(side * 0.08, 1.0), 0, 1)
    return np.asarray(np.minimum.outer(ramp, ramp), np.float32)[..., None]


def paste(canvas: NDArray[np.float32], chip: bytes, *, x: int, y: int, side: int) -> None:
    """The chip, resized to ``side``, blended into ``canvas`` at (x, y) with soft edges."""
    rgb = cv2.resize(faces.decode(chip), (side, side), interpolation=cv2.INTER_AREA)
    mask = soft_mask(side)
    region = canvas[y : y + side, x : x + side]
    canvas[y : y + side, x : x + side] = region * (1 - mask) + rgb.astype(np.float32) * mask


def paste_portraits(canvas: NDArray[np.float32], chips: Sequence[tuple[bytes, tuple[int, int, int, int]]]) -> None:
    """Each chip, resized to its square's side, at its square (x, y, side, side) with its own
    surroundings continued past its edges (:func:`surroundings`), blending into ``canvas``
    only far from the face. Where the surroundings of two chips meet, each pixel mixes them
    by how near it lies to either chip, so each chip's own surroundings rule at its edge;
    every chip's own pixels are then left exactly as resized."""
    colour, weight, cover = np.zeros_like(canvas), np.zeros_like(canvas[..., :1]), np.zeros_like(canvas[..., :1])
    squares = []
    for chip, (x, y, side, _) in chips:
        rgb = cv2.resize(faces.decode(chip), (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
        squares.append((rgb, x, y, side))
        pad = math.ceil((max(HALO) * (1 + HALO_FADE) - 1) * side / 2) + 1
        around, alpha, distance = _surroundings_of_any_size(rgb, pad)
        top, left = max(y - pad, 0), max(x - pad, 0)
        bottom, right = min(y + side + pad, canvas.shape[0]), min(x + side + pad, canvas.shape[1])
        cut = (slice(top - y + pad, bottom - y + pad), slice(left - x + pad, right - x + pad))
        near = alpha[cut] / (distance[cut][..., None] + 0.01) ** 4  # each chip's own edge is its own
        colour[top:bottom, left:right] += near * around[cut]
        weight[top:bottom, left:right] += near
        cover[top:bottom, left:right] = np.maximum(cover[top:bottom, left:right], alpha[cut])
    mixed = colour / np.maximum(weight, 1e-12)
    canvas[:] = canvas * (1 - cover) + mixed * cover
    for rgb, x, y, side in squares:
        canvas[y : y + side, x : x + side] = rgb


def _surroundings_of_any_size(
    rgb: NDArray[np.float32], pad: int
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """:func:`surroundings`, made on a copy WORK_SIDE px a side for a larger chip and enlarged
    (a large chip is itself a 200-px chip enlarged, and its surroundings are blurred): the
    same look at a tenth of the time for the largest faces."""
    side = rgb.shape[0]
    if side <= WORK_SIDE:
        return surroundings(rgb, pad)
    small_pad = math.ceil(pad * WORK_SIDE / side)
    small = np.asarray(cv2.resize(rgb, (WORK_SIDE, WORK_SIDE), interpolation=cv2.INTER_AREA), np.float32)
    parts = surroundings(small, small_pad)
    large = round((WORK_SIDE + 2 * small_pad) * side / WORK_SIDE)
    start = (large - side - 2 * pad) // 2
    window = slice(start, start + side + 2 * pad)
    around, alpha, distance = (
        np.asarray(cv2.resize(part, (large, large), interpolation=cv2.INTER_LINEAR), np.float32).reshape(
            large, large, -1
        )[window, window]
        for part in parts
    )
    return around, alpha, distance[..., 0]


def surroundings(
    rgb: NDArray[np.float32], pad: int
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """The chip ``rgb`` continued by ``pad`` px on every side, how opaque that is, and each
    pixel's distance from the chip's square (in chip sides).

    A chip shows a face with its hair, ears, neck and a little background; past its edge
    they go on as the chip's mirror image, blurred the more the farther from the chip (a
    sigma of 2.5% of the chip's side at 5% from its edge, 13.5% at 15%, as a shallow depth of
    field would, and so that no mirrored eye or mouth can be made out), so that nothing
    marks where the chip ends. The opacity is 1 over an oval around the chip (HALO), falls
    smoothly to 0 past it, and is 0 by ``pad`` from the chip's edge: only there does the
    scene's background show."""
    side = rgb.shape[0]
    big = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    along = np.arange(big.shape[0], dtype=np.float32) - (pad + (side - 1) / 2)  # from the chip's centre, px
    outside = np.maximum(np.abs(along) - (side - 1) / 2, 0)
    distance = np.asarray(np.hypot(outside[:, None], outside[None, :]) / side, np.float32)  # to the square, in sides
    sigma = side * (0.3 * distance + 4.0 * distance**2)
    oval = np.hypot(along[:, None] / (HALO[1] * side / 2), along[None, :] / (HALO[0] * side / 2))
    t = np.clip((oval - 1) / HALO_FADE, 0, 1)
    alpha = (1 - t * t * (3 - 2 * t))[..., None]
    return _progressive_blur(np.asarray(big, np.float32), sigma), np.asarray(alpha, np.float32), distance


def _progressive_blur(image: NDArray[np.float32], sigma: NDArray[np.float32]) -> NDArray[np.float32]:
    """``image`` blurred by a Gaussian of a different ``sigma`` at every pixel: interpolated
    between copies blurred at 0, 1, 2, 4, ... px."""
    levels = [0.0, 1.0]
    while levels[-1] < float(sigma.max()):
        levels.append(2 * levels[-1])
    index = np.where(sigma <= 1, sigma, 1 + np.log2(np.maximum(sigma, 1)))  # 0, 1, 2, 3... at the levels
    out = np.zeros_like(image)
    for k, level in enumerate(levels):
        weight = np.clip(1 - np.abs(index - k), 0, 1)
        if weight.any():
            out += weight[..., None] * _blurred(image, level)
    return out


def _blurred(image: NDArray[np.float32], sigma: float) -> NDArray[np.float32]:
    """A Gaussian blur, done on a smaller copy when it is wide (the result is as smooth)."""
    if sigma == 0:
        return image
    height, width = image.shape[:2]
    shrink = max(1.0, sigma / 2)
    small = cv2.resize(
        image, (max(1, round(width / shrink)), max(1, round(height / shrink))), interpolation=cv2.INTER_AREA
    )
    blurred = cv2.GaussianBlur(small, (0, 0), sigma / shrink)
    return np.asarray(cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR), np.float32)


def build_scene(
    rng: np.random.Generator,
    pool: list[tuple[data.Record, bytes]],
    *,
    style: str = "portrait",
    conditions: camera.Conditions | None = None,
    apply: Collection[str] = camera.DEGRADATIONS,
) -> Scene:
    """One photo: its layout drawn from ``rng``; its faces composited in ``style``; then, when
    ``conditions`` are given, those of them named in ``apply`` (``camera.DEGRADATIONS``)."""
    width, height = SIZES[rng.integers(len(SIZES))]
    canvas = photo_background(rng, width, height).astype(np.float32)
    placed: list[Placed] = []
    for _ in range(int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))):
        record, chip = pool[rng.integers(len(pool))]
        face = math.exp(rng.uniform(math.log(40), math.log(600)))
        side = round(min(face / FACE_SHARE, 0.9 * min(width, height)))
        for _ in range(20):  # a place that overlaps no other chip
            x, y = int(rng.integers(width - side + 1)), int(rng.integers(height - side + 1))
            if all(_apart((x, y, side, side), p.box) for p in placed):  # with a gap between them
                placed.append(Placed(record, chip, (x, y, side, side)))
                break
    compose(canvas, placed, style=style)
    pixels = np.clip(canvas, 0, 255).astype(np.uint8)
    if conditions is not None:
        pixels = camera.develop(pixels, conditions, apply)
    upright = Image.fromarray(pixels)
    orientation = int(rng.choice([1, 3, 6, 8], p=[0.75, 0.05, 0.1, 0.1]))
    stored = upright.transpose(ORIENTATIONS[orientation]) if orientation != 1 else upright
    fmt = str(rng.choice(["JPEG", "PNG", "WEBP"], p=[0.7, 0.15, 0.15]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = camera.encode(stored, conditions, apply, fmt, exif.tobytes())
    return Scene(image, width, height=height, placed=placed, fmt=fmt, orientation=orientation, conditions=conditions)


def compose(canvas: NDArray[np.float32], placed: list[Placed], *, style: str) -> None:
    """The placed chips into ``canvas``: ``faded``, each with its outer 8% faded into the
    background (:func:`paste`), or ``portrait``, with their surroundings continued
    (:func:`paste_portraits`)."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, not {style!r}")
    if style == "portrait":
        paste_portraits(canvas, [(p.chip, p.box) for p in placed])
        return
    for p in placed:
        x, y, side, _ = p.box
        paste(canvas, p.chip, x=x, y=y, side=side)


def _apart(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Two chips' squares at least GAP times the larger side apart, in x or in y."""
    gap = GAP * max(a[2], b[2])
    return (
        a[0] + a[2] + gap <= b[0] or b[0] + b[2] + gap <= a[0] or a[1] + a[3] + gap <= b[1] or b[1] + b[3] + gap <= a[1]
    )


def build_scenes(
    pool: list[tuple[data.Record, bytes]],
    count: int,
    seed: int,
    *,
    style: str = "portrait",
    apply: Collection[str] = camera.DEGRADATIONS,
) -> Iterator[Scene]:
    """``count`` photos. Their layouts (faces, sizes, places, backgrounds, formats) come from
    ``seed`` alone and their conditions from a second stream of it, drawn whichever are
    applied: the same seed gives the same faces in the same places for every style and every
    choice of degradations, so runs that differ in one of them compare face by face."""
    rng, camera_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    for _ in range(count):
        conditions = camera.Conditions.draw(camera_rng)
        yield build_scene(rng, pool, style=style, conditions=conditions if apply else None, apply=apply)


def match(placed: list[Placed], boxes: list[tuple[int, int, int, int]]) -> dict[int, int]:
    """Placed face index -> detection index: the detection's centre inside the chip's
    square and its side within 0.5-1.6 times the placed face's, nearest centres first."""
    pairs = []
    for i, p in enumerate(placed):
        px, py, ps, _ = p.box
        for j, (x, y, w, h) in enumerate(boxes):
            cx, cy = x + w / 2, y + h / 2
            inside = px <= cx <= px + ps and py <= cy <= py + ps
            if inside and 0.5 <= max(w, h) / p.face_side <= 1.6:
                pairs.append((math.hypot(cx - px - ps / 2, cy - py - ps / 2), i, j))
    found: dict[int, int] = {}
    for _, i, j in sorted(pairs):
        if i not in found and j not in found.values():
            found[i] = j
    return found


def evaluate(
    estimator: Estimator,
    scenes: Iterator[Scene],
    count: int,
    sheet: ContactSheet | None = None,
    save_faces: str | Path | None = None,
) -> dict[str, Any]:
    """The report (module docstring) on ``count`` scenes; ``save_faces`` also writes every
    matched face (its photo and place, true age, size, and its distributions in the photo and
    alone) to an ``.npz``, for comparing runs face by face."""
    keys = ("photo", "place", "age", "gender", "race", "dist", "chip_dist", "chip_age", "side", "groups8")
    rows: dict[str, list[Any]] = {k: [] for k in keys}
    sizes, hits, false_faces, photos = [], [], 0, 0
    for scene in tqdm(scenes, total=count, desc="scenes", mininterval=5):
        photos += 1
        result = estimator.estimate(scene.image)
        upright = faces.decode(scene.image) if sheet is not None else None  # once a photo, for the sheet's crops
        assert (result.width, result.height) == (scene.width, scene.height), "EXIF orientation not applied"
        found = match(scene.placed, [f.box for f in result.faces])
        false_faces += len(result.faces) - len(found)
        for i, placed in enumerate(scene.placed):
            sizes.append(placed.face_side)
            hits.append(i in found)
            if i not in found:
                continue
            face = result.faces[found[i]]
            record = placed.record
            chip_face = _central_face(estimator.estimate(placed.chip))
            for key, value in (
                ("photo", photos - 1),
                ("place", i),
                ("age", record.age),
                ("gender", -1 if record.gender is None else record.gender),
                ("race", -1 if record.race is None else record.race),
                ("dist", face.distribution),
                ("chip_dist", (math.nan,) * len(ages.AGES) if chip_face is None else chip_face.distribution),
                ("chip_age", math.nan if chip_face is None else chip_face.age),
                ("side", placed.face_side),
            ):
                rows[key].append(value)
            if upright is not None and sheet is not None and chip_face is not None:
                sheet.add(_pair(estimator, upright, placed=placed, face=face, chip_face=chip_face))
            if face.ensemble_groups is not None:
                rows["groups8"].append([face.ensemble_groups[name] for name in ages.GROUP_NAMES])
    hit, side = np.array(hits), np.array(sizes)
    out = {k: np.array(v) for k, v in rows.items()}
    if save_faces is not None:
        saved: dict[str, Any] = {k: v for k, v in out.items() if k != "groups8"}
        np.savez_compressed(save_faces, **saved)
    known = ~np.isnan(out["chip_age"])  # the faces whose chip alone had a face found
    same = {k: out[k][known] for k in ("age", "dist", "chip_dist", "side")}
    summary = summarise(out["age"], out["dist"], genders=out["gender"], races=out["race"])
    ensemble = {}
    if len(out["groups8"]) and len(out["groups8"]) == len(out["age"]):
        right = out["groups8"].argmax(1) == ages.group_of(out["age"])
        ensemble = {"acc8_ensemble": round(float(right.mean()), 4)}
    return {
        **ensemble,
        **summary,
        "photos": photos,
        "placed": len(hits),
        "recall": round(float(hit.mean()), 4),
        "recall_60": _share(hit[side >= 60]),
        "recall_by_size": {
            f"{lo}-{hi if hi < 10_000 else ''}": {
                "n": int(((side >= lo) & (side < hi)).sum()),
                "recall": _share(hit[(side >= lo) & (side < hi)]),
            }
            for lo, hi in SIZE_BANDS
        },
        "false_faces": int(false_faces),
        "false_faces_per_100_photos": round(100 * false_faces / max(photos, 1), 2),
        "interval80_width": round(float(np.subtract(*ages.interval(out["dist"])[::-1]).mean()), 2),
        "chip_vs_scene": {
            **_compared(same),
            "by_size": {
                f"{lo}-{hi if hi < 10_000 else ''}": _compared(
                    {k: v[(same["side"] >= lo) & (same["side"] < hi)] for k, v in same.items()}
                )
                for lo, hi in SIZE_BANDS
            },
        },
    }


def _compared(faces_: dict[str, NDArray[Any]]) -> dict[str, Any]:
    """The same faces in the photos and as chips alone: how far their ages moved (``_changes``),
    their MAE either way (the issue's "photos within 5% of chips") and how often either 80%
    range held the true age."""
    photo, chip = ages.expected_age(faces_["dist"]), ages.expected_age(faces_["chip_dist"])
    return {
        **_changes(np.abs(photo - chip)),
        "mae_chips": _mae(chip, faces_["age"]),
        "mae_photos": _mae(photo, faces_["age"]),
        "interval80_coverage_chips": _coverage(faces_["age"], faces_["chip_dist"]),
        "interval80_coverage_photos": _coverage(faces_["age"], faces_["dist"]),
    }


def _coverage(true_ages: NDArray[Any], dist: NDArray[np.float64]) -> float | None:
    return report.coverage(true_ages, dist)["0.80"] if len(true_ages) else None


def _changes(change: NDArray[np.float64]) -> dict[str, Any]:
    """How many faces, their median change and the share changing by more than 5 years."""
    if not len(change):
        return {"n": 0, "median_change": None, "share_over_5": None}
    return {
        "n": len(change),
        "median_change": round(float(np.median(change)), 2),
        "share_over_5": round(float((change > 5).mean()), 4),
    }


def _share(hits: NDArray[np.bool_]) -> float | None:
    """The share of True, or None for no faces (a small run can leave a size band empty)."""
    return round(float(hits.mean()), 4) if len(hits) else None


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


def _mae(estimates: NDArray[np.float64], true_ages: NDArray[Any]) -> float | None:
    return round(float(np.abs(estimates - true_ages).mean()), 3) if len(estimates) else None


def _central_face(estimate: Estimate) -> FaceEstimate | None:
    """The face nearest the centre of a chip (None when none was found)."""
    if not estimate.faces:
        return None
    cx, cy = estimate.width / 2, estimate.height / 2
    return min(estimate.faces, key=lambda f: math.hypot(f.box[0] + f.box[2] / 2 - cx, f.box[1] + f.box[3] / 2 - cy))


def _pair(
    estimator: Estimator, upright: faces.RGB, placed: Placed, face: FaceEstimate, chip_face: FaceEstimate
) -> Pair:
    """The face's widest served crop alone and in the (decoded, upright) scene, as the model saw them."""

    def crop(rgb: faces.RGB, estimate: FaceEstimate) -> faces.RGB:
        found = faces.Detection(estimate.box, estimate.landmarks, estimate.detection_score)
        return faces.crop_face(rgb, found, margin=max(estimator.age_model.spec.views), size=estimator.spec.input_size)

    return Pair(
        true_age=placed.record.age,
        chip_age=chip_face.age,
        photo_age=face.age,
        side=placed.face_side,
        chip_crop=crop(faces.decode(placed.chip), chip_face),
        photo_crop=crop(upright, face),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder or .tar(.gz) of UTKFace-named images")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--style", default="portrait", choices=STYLES, help="how the faces are composited")
    parser.add_argument(
        "--degrade",
        default="all",
        help=f"the camera's changes to apply: all, none, or some of {','.join(camera.DEGRADATIONS)}",
    )
    parser.add_argument(
        "--detector", choices=sorted(detectors.DETECTORS), help="default: the uploads' detector for the model's crops"
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"a folder name under {MODELS_DIR}, or a path")
    parser.add_argument("--save", help="write the JSON result to this file")
    parser.add_argument(
        "--contact-sheet", help="save the faces that moved most, chip crop beside photo crop, to this PNG"
    )
    parser.add_argument("--sheet-faces", type=int, default=24, help="how many faces the contact sheet shows")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--save-faces", help="write every matched face's distributions to this .npz")
    args = parser.parse_args()
    try:
        degradations = camera.parse(args.degrade)
    except ValueError as error:
        parser.error(str(error))
    pool = list(labelled_files(args.data, args.split, clean=True))
    if not pool:
        raise SystemExit("no UTKFace-named images found")
    detector = detectors.make_detector(args.detector) if args.detector else None
    estimator = Estimator(MODELS_DIR / args.model, detector=detector)
    sheet = ContactSheet(args.sheet_faces) if args.contact_sheet else None
    photos = build_scenes(pool, args.photos, args.seed, style=args.style, apply=degradations)
    result = evaluate(estimator, photos, count=args.photos, sheet=sheet, save_faces=args.save_faces)
    if sheet is not None:
        sheet.save(args.contact_sheet)
    result.update(
        model=estimator.spec.version,
        split=args.split,
        seed=args.seed,
        detector=args.detector or "uploads'",
        style=args.style,
        degradations=list(degradations),
    )
    same = result["chip_vs_scene"]
    print(
        f"{result['photos']} {args.style} photos ({', '.join(degradations) or 'no degradations'}), "
        f"{result['placed']} faces ({args.split} split), model {result['model']}: "
        f"recall {result['recall']:.1%} ({_percent(result['recall_60'])} of faces of 60 px and more), "
        f"{result['false_faces']} false faces; on the {result['n']} found: MAE {result['mae']:.2f}, "
        f"within 5 years {result['cs5']:.1%}, 8-group accuracy {result['acc8']:.1%}; chip alone vs in the photo "
        f"({same['n']} faces): median change {same['median_change']} years, {_percent(same['share_over_5'])} over 5, "
        f"MAE {same['mae_chips']} as chips, {same['mae_photos']} in photos, 80% range holds the age "
        f"{_percent(same['interval80_coverage_chips'])} as chips, "
        f"{_percent(same['interval80_coverage_photos'])} in photos"
    )
    for size, part in result["recall_by_size"].items():
        moved = same["by_size"][size]
        line = f"  faces {size} px: {part['n']}, recall {_percent(part['recall'])}"
        if moved["n"]:
            line += (
                f"; chip vs photo {moved['median_change']} years, {moved['share_over_5']:.1%} over 5, "
                f"MAE {moved['mae_chips']} as chips, {moved['mae_photos']} in photos"
            )
        print(line)
    if "acc8_ensemble" in result:
        print(f"  8-group accuracy: the age model {result['acc8']:.1%}, the ensemble {result['acc8_ensemble']:.1%}")
    print("  by_age: " + ", ".join(f"{k} {v['mae']} (n={v['n']})" for k, v in result["by_age"].items()))
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=1) + "\n")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
