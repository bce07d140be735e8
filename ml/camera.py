"""What a phone camera and a photo's later life do to a scene, drawn per photo (for
``ml.studies.scenes``; training draws the same on a face's crop: ``ml.training.augment.camera``).

Four kinds of change, each of which a study can switch on alone (``DEGRADATIONS``):

- ``light``: exposure (-1 to +0.8 stops), a colour cast (a white balance off by a few per
  cent, warm or cool, with a little tint), a soft light gradient across the scene (up to
  35% more light at one edge and as much less at the other) and a tone curve (gamma
  0.85-1.15);
- ``blur``: defocus (Gaussian, sigma 0.3-1.5 px, in 60% of photos), a small hand shake (a
  line 2-6 px long, in 30%), and the camera's resampling (half of the photos made at 60-90%
  of their size and enlarged back) with its sharpening (an unsharp mask, amount 0-0.6);
- ``noise``: sensor noise, partly shared by the three channels, of 1-3.5 grey levels at the
  scene's usual brightness, multiplied in darker photos by the gain a camera applies
  (up to 4 times);
- ``jpeg``: JPEG at a phone's quality (75-95), and in a third of photos once more at 60-85,
  as a photo shared and saved again.

Light, blur and noise change the pixels (:func:`develop`); ``jpeg`` changes how the photo
is stored (:func:`encode`). The values are drawn once per photo (:meth:`Conditions.draw`),
whichever are applied, so that a study switching one off keeps the others as they were.
"""

from __future__ import annotations

import io
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

DEGRADATIONS = ("light", "blur", "noise", "jpeg")
QUALITY = 88  # how a scene is stored when ``jpeg`` is not applied (JPEG and WebP)


@dataclass(frozen=True)
class Conditions:
    """One photo's conditions; :func:`develop` and :func:`encode` apply those asked for."""

    exposure: float  # stops
    cast: tuple[float, float, float]  # gains on red, green and blue light
    gradient: tuple[float, float]  # the light's slope across the scene (0.2: +-20%) and its direction, radians
    gamma: float  # the tone curve's exponent on 0..1 values
    defocus: float  # Gaussian sigma, px (0: sharp)
    shake: tuple[float, float]  # a motion blur's length, px (0: none), and direction, radians
    resample: float  # the share of its size the camera made the photo at (1: none)
    sharpen: float  # unsharp mask amount after resampling
    noise: float  # sensor noise, grey levels at unit gain
    noise_seed: int
    qualities: tuple[int, ...]  # JPEG qualities, in order: a phone's, then a second saving's

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Conditions:
        """Plausible conditions for a photo taken with a phone and perhaps shared."""
        temperature, tint = rng.uniform(-0.1, 0.1), rng.uniform(-0.04, 0.04)
        qualities = [int(rng.integers(75, 96))]
        if rng.random() < 1 / 3:
            qualities.append(int(rng.integers(60, 86)))
        return cls(
            exposure=float(np.clip(rng.normal(0, 0.4), -1.0, 0.8)),
            cast=(1 + temperature, 1 + tint, 1 - temperature),
            gradient=(float(rng.uniform(0, 0.35)), float(rng.uniform(0, 2 * math.pi))),
            gamma=float(rng.uniform(0.85, 1.15)),
            defocus=float(rng.uniform(0.3, 1.5)) if rng.random() < 0.6 else 0.0,
            shake=(float(rng.uniform(2, 6)) if rng.random() < 0.3 else 0.0, float(rng.uniform(0, math.pi))),
            resample=float(rng.uniform(0.6, 0.9)) if rng.random() < 0.5 else 1.0,
            sharpen=float(rng.uniform(0, 0.6)),
            noise=float(rng.uniform(1, 3.5)),
            noise_seed=int(rng.integers(2**31)),
            qualities=tuple(qualities),
        )


def parse(names: str) -> tuple[str, ...]:
    """``"all"``, ``"none"`` or a comma-separated list of DEGRADATIONS; ValueError otherwise."""
    if names in ("all", "none"):
        return DEGRADATIONS if names == "all" else ()
    chosen = tuple(n.strip() for n in names.split(",") if n.strip())
    unknown = set(chosen) - set(DEGRADATIONS)
    if unknown:
        raise ValueError(f"unknown degradations {sorted(unknown)}: choose from {', '.join(DEGRADATIONS)}")
    return tuple(n for n in DEGRADATIONS if n in chosen)


def develop(rgb: NDArray[np.uint8], conditions: Conditions, apply: Collection[str]) -> NDArray[np.uint8]:
    """The scene ``rgb`` (upright) as the camera made it: light, then blur, then noise, as asked."""
    image = rgb.astype(np.float32)
    if "light" in apply:
        image = light(image, conditions)
    if "blur" in apply:
        image = blur(image, conditions)
    if "noise" in apply:
        image = noise(image, conditions)
    return np.asarray(np.clip(np.rint(image), 0, 255), np.uint8)


def light(image: NDArray[np.float32], conditions: Conditions) -> NDArray[np.float32]:
    """Exposure, cast and gradient on linear light (sRGB's curve approximated by 2.2), then the tone curve."""
    height, width = image.shape[:2]
    slope, angle = conditions.gradient
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    along = (xs - width / 2) * math.cos(angle) + (ys - height / 2) * math.sin(angle)
    field = 1 + slope * along / max(float(np.abs(along).max()), 1.0)
    gains = np.asarray(conditions.cast, np.float32) * 2**conditions.exposure
    linear = (image / 255) ** 2.2 * field[..., None] * gains
    return np.asarray(np.clip(linear, 0, 1) ** (conditions.gamma / 2.2) * 255, np.float32)


def blur(image: NDArray[np.float32], conditions: Conditions) -> NDArray[np.float32]:
    """Defocus, shake, then the camera's resampling and sharpening."""
    out: NDArray[Any] = image
    if conditions.defocus > 0:
        out = cv2.GaussianBlur(out, (0, 0), conditions.defocus)
    length, angle = conditions.shake
    if length > 0:
        out = cv2.filter2D(out, -1, _line_kernel(length, angle), borderType=cv2.BORDER_REFLECT)
    if conditions.resample < 1:
        height, width = out.shape[:2]
        small = (max(1, round(width * conditions.resample)), max(1, round(height * conditions.resample)))
        out = cv2.resize(
            cv2.resize(out, small, interpolation=cv2.INTER_AREA), (width, height), interpolation=cv2.INTER_CUBIC
        )
    if conditions.sharpen > 0:
        out = out + conditions.sharpen * (out - cv2.GaussianBlur(out, (0, 0), 1.0))
    return np.asarray(out, np.float32)


def _line_kernel(length: float, angle: float) -> NDArray[np.float32]:
    """A motion blur: a line ``length`` px long through the kernel's centre, summing to 1."""
    side = 2 * math.ceil(length / 2) + 1
    kernel = np.zeros((side, side), np.float32)
    centre, step = side // 2, length / 2
    dx, dy = step * math.cos(angle), step * math.sin(angle)
    cv2.line(kernel, (round(centre - dx), round(centre - dy)), (round(centre + dx), round(centre + dy)), 1.0, 1)
    return np.asarray(kernel / kernel.sum(), np.float32)


def noise(image: NDArray[np.float32], conditions: Conditions) -> NDArray[np.float32]:
    """Sensor noise, stronger the darker the photo is (the gain a camera applies to a dim scene)."""
    rng = np.random.default_rng(conditions.noise_seed)
    gain = float(np.clip(110 / max(float(image.mean()), 1.0), 1.0, 4.0))
    shared = rng.normal(0, 1, (*image.shape[:2], 1)).astype(np.float32)
    own = rng.normal(0, 1, image.shape).astype(np.float32)
    return np.asarray(image + conditions.noise * gain * (0.8 * shared + 0.6 * own), np.float32)


def encode(stored: Image.Image, conditions: Conditions | None, apply: Collection[str], fmt: str, exif: bytes) -> bytes:
    """``stored`` (as it lies in the file: any EXIF turn already made) saved as ``fmt``. With
    ``jpeg`` applied it is first a phone's JPEG, perhaps saved once more, and a JPEG file is
    that last JPEG; otherwise JPEG and WebP are saved at QUALITY."""
    options: dict[str, Any] = {"quality": QUALITY} if fmt != "PNG" else {}
    if conditions is not None and "jpeg" in apply:
        *before, last = conditions.qualities
        for quality in before:
            stored = _jpeg(stored, quality)
        if fmt == "JPEG":
            options = {"quality": last}
        else:
            stored = _jpeg(stored, last)
    out = io.BytesIO()
    stored.save(out, fmt, exif=exif, **options)
    return out.getvalue()


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    decoded = Image.open(out)
    decoded.load()
    return decoded
