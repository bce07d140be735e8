"""Training-time regularisers on numpy batches (backend-agnostic, cheap next to a step).

- geometry: one affine per image (flip, small rotation, zoom, shift), border replicated
  as the face crop does; then, with ``lowres: {p, min_side}``, a share ``p`` of the images
  shrunk to a side between ``min_side`` and the full size and enlarged back, as a small
  face in a photo is (its crop is upscaled from a few dozen pixels, and blurred);
- surroundings: with ``surroundings: {p, inset, fade}``, a share ``p`` of the crops keep
  only a centred square (``inset``: how far in from the crop's edge its sides lie, drawn
  from a range, as a share of the side) and show a random background beyond it, faded in
  over ``fade`` of the side: in a photo, what lies around the face is not what lay around
  it in its UTKFace chip, and the age must not follow it;
- camera: with ``camera: {p, side_px}``, a share ``p`` of the crops as a face in a phone's
  photo gives them: the crop drawn at a side in the photo's pixels from ``side_px``
  (log-uniform; a face of 40-600 px gives a crop of about 28-420 px), through the camera's
  light, blur and noise and its JPEG (:mod:`ml.camera`), then resized back as the served
  crop is: blur and noise act at the face's own scale, much harder on a small face;
- photometric: brightness and contrast;
- random erasing: a rectangle of noise;
- mixup: blends pairs of images and their targets (distribution and age alike).
"""

from __future__ import annotations

import io
import math
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from ml import camera as phone

Batch = NDArray[np.float32]


def geometry(images: NDArray[np.uint8], rng: np.random.Generator, cfg: dict[str, Any]) -> NDArray[np.uint8]:
    out = np.empty_like(images)
    size = images.shape[1]
    centre = ((size - 1) / 2.0, (size - 1) / 2.0)
    for i, image in enumerate(images):
        angle = rng.uniform(-cfg["rotate"], cfg["rotate"])
        scale = math.exp(rng.uniform(-cfg["zoom"], cfg["zoom"]))
        matrix = cv2.getRotationMatrix2D(centre, angle, scale)
        matrix[:, 2] += rng.uniform(-cfg["shift"], cfg["shift"], 2) * size
        if cfg["flip"] and rng.random() < 0.5:
            matrix[0] = -matrix[0]
            matrix[0, 2] += size - 1
        out[i] = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        lowres = cfg.get("lowres")
        if lowres and rng.random() < lowres["p"]:
            side = int(rng.integers(lowres["min_side"], size + 1))
            small = cv2.resize(out[i], (side, side), interpolation=cv2.INTER_AREA)
            out[i] = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
    return out


def surroundings(images: NDArray[np.uint8], rng: np.random.Generator, cfg: dict[str, Any]) -> NDArray[np.uint8]:
    """A share ``cfg["p"]`` of the crops with a random background around a centred square
    (see the module docstring); the others unchanged. Works on a copy."""
    out = images.copy()
    size = images.shape[1]
    ramp = np.arange(size, dtype=np.float32)
    for image in out:
        if rng.random() >= cfg["p"]:
            continue
        inset = rng.uniform(*cfg["inset"]) * size
        fade = max(rng.uniform(*cfg["fade"]) * size, 1.0)
        shift = rng.uniform(-0.5, 0.5, 2) * inset  # the square need not be centred exactly
        lines = [np.clip((np.minimum(ramp - inset - d, size - 1 - inset + d - ramp)) / fade, 0, 1) for d in shift]
        keep = np.minimum.outer(lines[1], lines[0])[..., None]  # rows (y), columns (x)
        image[:] = np.clip(image * keep + background(rng, size) * (1 - keep), 0, 255).astype(np.uint8)
    return out


def background(rng: np.random.Generator, size: int) -> NDArray[np.float32]:
    """A random ``size`` square scene-like background: a smooth field of a few random
    shades, tinted, enlarged, with a texture of noise at a random scale on top."""
    cells = int(rng.integers(2, 9))
    shades = rng.uniform(0, 255, (cells, cells, 1)) + rng.normal(0, 25, (cells, cells, 3))
    field = cv2.resize(shades.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    grain = int(rng.integers(1, 17))
    coarse = rng.normal(0, 1, (math.ceil(size / grain), math.ceil(size / grain), 1)).astype(np.float32)
    noise = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_LINEAR)[..., None]
    return np.asarray(np.clip(field + noise * rng.uniform(0, 40), 0, 255), np.float32)


def jpeg(images: NDArray[np.uint8], rng: np.random.Generator, cfg: dict[str, Any]) -> NDArray[np.uint8]:
    """A share ``cfg["p"]`` of the crops saved as JPEG at a quality drawn from ``cfg["quality"]``
    (low, high) and read back: the blocks and ringing of a re-encoded upload."""
    out = images.copy()
    low, high = cfg["quality"]
    for i in range(len(out)):
        if rng.random() < cfg["p"]:
            quality = int(rng.integers(low, high + 1))
            _, encoded = cv2.imencode(".jpg", out[i][:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
            decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
            assert decoded is not None
            out[i] = decoded[:, :, ::-1]
    return out


def camera(images: NDArray[np.uint8], rng: np.random.Generator, cfg: dict[str, Any]) -> NDArray[np.uint8]:
    """A share ``cfg["p"]`` of the crops as a phone's photo of the face gives them (see the
    module docstring); the others unchanged. Works on a copy."""
    out = images.copy()
    size = images.shape[1]
    low, high = (math.log(side) for side in cfg["side_px"])
    for i in range(len(out)):
        if rng.random() >= cfg["p"]:
            continue
        side = round(math.exp(rng.uniform(low, high)))
        conditions = phone.Conditions.draw(rng)
        shot = cv2.resize(out[i], (side, side), interpolation=cv2.INTER_AREA if side < size else cv2.INTER_CUBIC)
        developed = phone.develop(shot, conditions, ("light", "blur", "noise"))
        stored = Image.open(io.BytesIO(phone.encode(Image.fromarray(developed), conditions, ("jpeg",), "JPEG", b"")))
        back = np.asarray(stored.convert("RGB"))
        out[i] = cv2.resize(back, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR)
    return out


def photometric(images: Batch, rng: np.random.Generator, cfg: dict[str, Any]) -> Batch:
    n = len(images)
    brightness = rng.uniform(1 - cfg["brightness"], 1 + cfg["brightness"], (n, 1, 1, 1))
    contrast = rng.uniform(1 - cfg["contrast"], 1 + cfg["contrast"], (n, 1, 1, 1))
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    out: Batch = np.clip((images - mean) * contrast + mean * brightness, 0.0, 255.0).astype(np.float32)
    return out


def random_erasing(images: Batch, rng: np.random.Generator, cfg: dict[str, Any]) -> Batch:
    size = images.shape[1]
    for image in images:
        if rng.random() >= cfg["p"]:
            continue
        area = rng.uniform(*cfg["area"]) * size * size
        aspect = math.exp(rng.uniform(math.log(cfg["aspect"][0]), math.log(cfg["aspect"][1])))
        h = min(size, round(math.sqrt(area * aspect)))
        w = min(size, round(math.sqrt(area / aspect)))
        y, x = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
        image[y : y + h, x : x + w] = rng.uniform(0, 255, (h, w, 3))
    return images


def mixup(images: Batch, targets: Batch, rng: np.random.Generator, cfg: dict[str, Any]) -> tuple[Batch, Batch]:
    """Mix a share ``p`` of the batch with a shuffled partner, weight ~ Beta(alpha, alpha)."""
    n = len(images)
    lam = rng.beta(cfg["alpha"], cfg["alpha"], n).astype(np.float32)
    lam = np.where(rng.random(n) < cfg["p"], np.maximum(lam, 1 - lam), 1.0).astype(np.float32)
    partner = rng.permutation(n)
    mixed_images = lam[:, None, None, None] * images + (1 - lam[:, None, None, None]) * images[partner]
    mixed_targets = lam[:, None] * targets + (1 - lam[:, None]) * targets[partner]
    return mixed_images.astype(np.float32), mixed_targets.astype(np.float32)
