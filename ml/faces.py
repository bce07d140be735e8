"""The one face pipeline: decode, detect, align on the eyes, crop with a margin, resize.

Training (through the face cache), evaluation, the worker and the benchmarks all call
:func:`decode`, :meth:`Detector.detect` and :func:`crop_face` (or :func:`chip_face`, which
is the same path plus the whole-chip fallback for pre-aligned chips such as UTKFace).

Detection is dlib's HOG detector with its 5-point landmark model (both CC0/Boost licensed,
CPU-fast): it runs on a copy downscaled to at most ``detect_side`` (512) pixels, and the
landmarks are then placed on the full-resolution image.
"""

from __future__ import annotations

import importlib.util
import io
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from .rgb import to_rgb

RGB = NDArray[np.uint8]
ImageInput = bytes | str | Path | Image.Image | NDArray[Any]

# Box side in original pixels below which a face is "too small": its 128-px crop would be
# upscaled more than 1.5 times and the age is no longer reliable.
MIN_FACE = 48
MIN_SCORE = 0.25  # HOG score below which a detection is dropped (false positives score ~0.1)


class ImageError(ValueError):
    """The input is not an image this pipeline can read."""


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]  # x, y, width, height in the decoded image
    landmarks: tuple[tuple[float, float], ...]  # dlib's 5 points: 4 eye corners, nose base
    score: float

    @property
    def eyes(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """(image-left eye centre, image-right eye centre)."""
        p = self.landmarks
        left = ((p[2][0] + p[3][0]) / 2, (p[2][1] + p[3][1]) / 2)
        right = ((p[0][0] + p[1][0]) / 2, (p[0][1] + p[1][1]) / 2)
        return left, right


def decode(image: ImageInput) -> RGB:
    """Any common image (JPEG, PNG, WebP, GIF's first frame...) as an upright RGB uint8 array.

    EXIF orientation is applied; grayscale, palette, CMYK and 16-bit images are converted;
    transparency is composited on white. Raises ImageError for anything unreadable.
    """
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image)
    try:
        if isinstance(image, Image.Image):
            pil = image
        elif isinstance(image, bytes):
            pil = Image.open(io.BytesIO(image))
        else:
            pil = Image.open(image)
        pil.load()
        pil = ImageOps.exif_transpose(pil)
        return np.asarray(to_rgb(pil), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageError(f"not a readable image: {error}") from error


def _array_to_rgb(array: NDArray[Any]) -> RGB:
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 1:
        raise ImageError(f"expected an HxW, HxWx3 or HxWx4 array, got shape {array.shape}")
    if array.dtype != np.uint8:
        raise ImageError(f"expected a uint8 array, got {array.dtype}")
    return np.ascontiguousarray(array[:, :, :3])


def _shape_predictor_path() -> str:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the face_recognition_models package (dlib's landmark models) is missing")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return str(folder / "models" / "shape_predictor_5_face_landmarks.dat")


class Detector:
    """dlib HOG face detector + 5-point landmarks. Safe to share between threads."""

    def __init__(self, detect_side: int = 512, min_score: float = MIN_SCORE) -> None:
        import dlib

        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(_shape_predictor_path())
        self._lock = threading.Lock()
        self.detect_side = detect_side
        self.min_score = min_score

    def detect(self, rgb: RGB) -> list[Face]:
        """Every face with a score of at least ``min_score``, best first."""
        gray = _u8(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        scale = min(1.0, self.detect_side / max(gray.shape))
        small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        # One upsampling step finds faces down to 40 px of the 512-px copy instead of 80 px
        # (50 px in a 640x480 photo, 80 px in a 1024x768 one), for ~40 ms on 640x480.
        with self._lock:
            rects, scores, _ = self._detector.run(small, 1, 0.0)
            faces = [
                self._face(gray, rect, score, scale)
                for rect, score in zip(rects, scores, strict=True)
                if score >= self.min_score
            ]
        return sorted(faces, key=lambda face: -face.score)

    def _face(self, gray: NDArray[np.uint8], rect: Any, score: float, scale: float) -> Face:
        dlib = self._dlib
        left, top = rect.left() / scale, rect.top() / scale
        right, bottom = (rect.right() + 1) / scale, (rect.bottom() + 1) / scale
        full = dlib.rectangle(round(left), round(top), round(right) - 1, round(bottom) - 1)
        shape = self._landmarks(gray, full)
        points = tuple((float(p.x), float(p.y)) for p in shape.parts())
        box = (round(left), round(top), round(right - left), round(bottom - top))
        return Face(box=box, landmarks=points, score=float(score))


def alignment_matrix(face: Face, margin: float, size: int) -> NDArray[np.float64]:
    """2x3 affine map from output pixels to source pixels.

    The output is a ``size`` square showing the face box enlarged by ``margin`` of its side on
    every side (0.4: the crop is 1.8 box sides wide), centred on the box centre and rotated
    so that the eyes are level.
    """
    x, y, w, h = face.box
    (lx, ly), (rx, ry) = face.eyes
    theta = math.atan2(ry - ly, rx - lx)
    side = max(w, h) * (1.0 + 2.0 * margin)
    a = side / size
    cos, sin = a * math.cos(theta), a * math.sin(theta)
    cx, cy = x + (w - 1) / 2.0, y + (h - 1) / 2.0
    half = (size - 1) / 2.0
    return np.array(
        [[cos, -sin, cx - cos * half + sin * half], [sin, cos, cy - sin * half - cos * half]],
        dtype=np.float64,
    )


def crop_face(rgb: RGB, face: Face, margin: float, size: int) -> RGB:
    """The aligned ``size`` x ``size`` crop; pixels beyond the image replicate its border."""
    matrix = alignment_matrix(face, margin, size)
    scale = math.hypot(matrix[0, 0], matrix[1, 0])  # source pixels per output pixel
    if scale > 1.0:  # average the pixels down first: a bilinear warp alone skips some and aliases
        height, width = rgb.shape[:2]
        rgb = _u8(cv2.resize(rgb, None, fx=1 / scale, fy=1 / scale, interpolation=cv2.INTER_AREA))
        fx, fy = rgb.shape[1] / width, rgb.shape[0] / height  # the sizes were rounded
        matrix = np.diag([fx, fy]) @ matrix
        matrix[:, 2] += (np.array([fx, fy]) - 1) / 2  # pixel centres move with the shrink
    return _u8(
        cv2.warpAffine(
            rgb,
            matrix,
            (size, size),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
    )


def chip_face(rgb: RGB, detector: Detector, margin: float, size: int) -> tuple[RGB, Face | None]:
    """For a pre-aligned face chip: the aligned crop of its main face, or the whole chip
    resized when no face is detected (the caller counts those: the returned face is None)."""
    face = main_face(rgb, detector.detect(rgb))
    return crop_or_whole(rgb, face, margin, size), face


def main_face(rgb: RGB, found: list[Face]) -> Face | None:
    """The detected face nearest the image centre (a chip's subject), if any."""
    if not found:
        return None
    centre = np.array([rgb.shape[1] / 2, rgb.shape[0] / 2])
    return min(found, key=lambda f: float(np.linalg.norm(np.array(f.box[:2]) + np.array(f.box[2:]) / 2 - centre)))


def crop_or_whole(rgb: RGB, face: Face | None, margin: float, size: int) -> RGB:
    """:func:`crop_face`, or the whole image resized when there is no face (chips only)."""
    if face is None:
        return _u8(cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA))
    return crop_face(rgb, face, margin, size)


def _u8(array: NDArray[Any]) -> RGB:
    """OpenCV's results typed as the uint8 arrays they are (no copy)."""
    return np.asarray(array, dtype=np.uint8)
