"""The one face pipeline: decode, detect, align on the eyes, crop with a margin, resize.

Training (through the face cache), evaluation, the worker, the live stream and the
benchmarks all call :func:`decode`, a :class:`Detector`'s ``detect`` and :func:`crop_face`
(or :func:`chip_face`, which is the same path plus the whole-chip fallback for pre-aligned
chips such as UTKFace).

Detectors share one interface, :class:`Detector`, and give :class:`Detection` s:

- :class:`YuNetDetector`, OpenCV's YuNet CNN (``cv2.FaceDetectorYN``, MIT), with dlib's
  5-point landmark model placing the eyes: the live stream's detector on a small copy of
  each frame, and the uploads' (:func:`upload_detector`, two passes) because the shipped
  age model was trained on its crops (meta.json ``"detector": "yunet"``).
- :class:`CascadeDetector`: one detector's faces, then another's for those it missed.

Where a crop goes (:func:`alignment_matrix`): for the shipped model (meta.json
``"alignment": "points"``), the least-squares fit of YuNet's five points onto a
mirror-symmetric :data:`TEMPLATE`, turned by dlib's eyes, to a fraction of a pixel; for
models trained earlier, YuNet's box mapped onto the box dlib's HOG detector draws (fitted
on UTKFace), turned by dlib's eyes. HOG itself lives with the studies that still use it
(``ml.training.detectors``).
"""

from __future__ import annotations

import importlib.util
import io
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from .rgb import to_rgb

RGB = NDArray[np.uint8]
ImageInput = bytes | str | Path | Image.Image | NDArray[Any]

# Box side in original pixels below which a face is "too small" to estimate. At 40-48 px
# (150 test faces placed in photos, 2026-12-06) the MAE was 5.50 against 4.93 for the same
# faces at 100 px and 5.18 at 56 px; smaller, it grows faster.
MIN_FACE = 40
YUNET_MODEL = Path(__file__).resolve().parent / "models" / "detectors" / "yunet_2026may.onnx"


class ImageError(ValueError):
    """The input is not an image this pipeline can read."""


@dataclass(frozen=True)
class Detection:
    box: tuple[int, int, int, int]  # x, y, width, height in the decoded image: the crop's box
    # The image-left and image-right eye centres, then the nose base (dlib's 5-point model).
    landmarks: tuple[tuple[float, float], ...]
    score: float  # the detector's confidence (HOG: about 0.25 to 3; YuNet: 0 to 1)

    @property
    def eyes(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """(image-left eye centre, image-right eye centre)."""
        return self.landmarks[0], self.landmarks[1]


class Detector(Protocol):
    """Finds faces in an RGB image; implementations are safe to share between threads."""

    def detect(self, rgb: RGB) -> list[Detection]:
        """Every face found, best first."""
        ...


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


class LandmarkModel:
    """dlib's 5-point landmark model: eye centres and the nose base inside a face box."""

    def __init__(self) -> None:
        import dlib

        self._dlib = dlib
        self._predict = dlib.shape_predictor(_shape_predictor_path())

    def face(self, gray: NDArray[np.uint8], box: tuple[float, float, float, float], score: float) -> Detection:
        left, top, width, height = box
        rect = self._dlib.rectangle(round(left), round(top), round(left + width) - 1, round(top + height) - 1)
        p = [(float(q.x), float(q.y)) for q in self._predict(gray, rect).parts()]
        # dlib's points: image-right eye's corners, image-left eye's corners, nose base.
        eyes = (((p[2][0] + p[3][0]) / 2, (p[2][1] + p[3][1]) / 2), ((p[0][0] + p[1][0]) / 2, (p[0][1] + p[1][1]) / 2))
        return Detection(
            box=(round(left), round(top), round(width), round(height)), landmarks=(*eyes, p[4]), score=score
        )


# YuNet's box mapped onto HOG's, fitted by least squares on 513 UTKFace chips where both
# found the face: HOG's box centre is YuNet's eyes' midpoint plus these multiples of
# (mouth - eyes), the eye vector, its perpendicular and (nose - eyes) (median error 5% of
# the side); HOG's side is YuNet's box side divided by YUNET_SIDE (median error 8%).
YUNET_CENTRE = (0.3941, -0.0706, 0.3347, -0.6445)
YUNET_SIDE = 1.189

# Where YuNet's five points (image-left eye, image-right eye, nose tip, image-left and
# image-right mouth corners) lie in a face's square, in units of its side from its centre:
# their mean over 2,000 of UTKFace's training chips in the squares the earlier geometry placed
# (box and dlib's eyes), made mirror-symmetric (``python -m ml.studies.template``).
TEMPLATE = ((-0.2449, -0.1821), (0.2449, -0.1821), (0.0, 0.0815), (-0.1993, 0.2961), (0.1993, 0.2961))


# Faces placed by points are found a second time in a window of REFINE_SIDE px around
# them, where the face is REFINE_FACE px wide (YuNet finds faces of 10 px and more).
REFINE_SIDE, REFINE_FACE = 160, 64


class YuNetDetector:
    """OpenCV's YuNet face detector (``cv2.FaceDetectorYN``) finds the faces; dlib's 5-point
    model places the eyes in each.

    YuNet's own points barely follow a tilted head (a face turned 25 degrees in the image
    gets eyes within 1-2 degrees of level), so the angle always comes from dlib's eyes.

    With ``points`` (models whose spec says ``alignment: points``), a face is placed by
    YuNet's five points (:data:`TEMPLATE`): its landmarks are dlib's eyes and nose, then the
    five. With ``refine`` (uploads), the mirror image is searched too and each face's points
    averaged with its twin's, then found again in an upright window at a fixed size
    (:meth:`_refined`): the same face gets the same points wherever it falls, and a mirrored
    face the mirrored points. Without ``points``, dlib runs in the box YuNet's geometry maps
    to (:data:`YUNET_CENTRE`, :data:`YUNET_SIDE`) and the crop follows that box (models
    trained on those crops).

    The image is scaled so that its longer side is at most ``detect_side`` before detection
    (YuNet finds faces from about 10 px of that copy). With ``only_above``, images whose
    longer side is at most that are not searched (an earlier pass saw them whole). Each
    thread gets its own OpenCV detector, which is not thread-safe."""

    def __init__(
        self,
        detect_side: int = 640,
        min_score: float = 0.7,
        model: Path = YUNET_MODEL,
        only_above: int = 0,
        *,
        points: bool = False,
        refine: bool = True,
    ) -> None:
        self.detect_side, self.min_score, self.model = detect_side, min_score, str(model)
        self.only_above, self.points, self.refine = only_above, points, refine
        self._landmarks = LandmarkModel()
        self._local = threading.local()

    def _net(self) -> Any:
        if not hasattr(self._local, "net"):
            level = cv2.utils.logging.getLogLevel()  # OpenCV warns that its graph engine
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # ignores targets
            try:
                self._local.net = cv2.FaceDetectorYN.create(self.model, "", (320, 320), self.min_score, 0.3, 5000)
            finally:
                cv2.utils.logging.setLogLevel(level)
        return self._local.net

    def rows(self, rgb: RGB) -> NDArray[np.float64]:
        """YuNet's raw output in ``rgb``'s pixels: one row per face, box (x, y, w, h), its five
        points (image-left eye, image-right eye, nose tip, image-left and image-right mouth
        corners), score."""
        height, width = rgb.shape[:2]
        if max(height, width) <= self.only_above:
            return np.zeros((0, 15))
        scale = min(1.0, self.detect_side / max(height, width))
        small = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        rows = self.rows_at_scale(_u8(small))
        # The copy's pixel centres in the image's: (x + 0.5) / scale - 0.5; sides just scale.
        rows[:, :14] /= scale
        rows[:, [0, 1, *range(4, 14)]] += (1 / scale - 1) / 2
        return rows

    def detect(self, rgb: RGB) -> list[Detection]:
        rows = self.rows(rgb)
        if not len(rows):
            return []
        gray = _u8(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        if not self.points:
            found = [self._landmarks.face(gray, _yunet_box(row), float(row[14])) for row in rows]
            return sorted(found, key=lambda face: -face.score)
        if not self.refine:  # one pass: the points as found (live video's budget)
            found = [self._placed(gray, row[4:14], float(row[14])) for row in rows]
            return sorted(found, key=lambda face: -face.score)
        # The mirror image is searched too, and each face placed by its points averaged with
        # its twin's, then found again at a fixed size (:meth:`_refined`).
        twins = _mirrored_rows(self.rows(np.ascontiguousarray(rgb[:, ::-1])), rgb.shape[1])
        mirrored = np.ascontiguousarray(gray[:, ::-1])
        found = []
        for row in rows:
            twin = _twin(row, twins)
            points = row[4:14] if twin is None else (row[4:14] + twin[4:14]) / 2
            found.append(self._refined(rgb, self._placed(gray, points, float(row[14]), mirrored=mirrored)))
        return sorted(found, key=lambda face: -face.score)

    def _placed(
        self,
        gray: NDArray[np.uint8],
        points: NDArray[np.float64],
        score: float,
        *,
        mirrored: NDArray[np.uint8] | None = None,
    ) -> Detection:
        """A face from YuNet's five points (a row's 10 values), with dlib's eyes and nose found
        in the square the points give (given ``gray``'s ``mirrored`` image, averaged with
        those found there)."""
        placed = tuple((float(x), float(y)) for x, y in points.reshape(5, 2))
        x, y, side, _ = _template_box(placed)
        width = gray.shape[1]
        eyes = np.array(self._landmarks.face(gray, (x, y, side, side), 0.0).landmarks)
        if mirrored is not None:
            seen = np.array(self._landmarks.face(mirrored, (width - 1 - x - side, y, side, side), 0.0).landmarks)
            seen[:, 0] = width - 1 - seen[:, 0]
            eyes = (eyes + seen[[1, 0, 2]]) / 2
        return Detection(
            box=(round(x), round(y), round(side), round(side)),
            landmarks=(*((float(a), float(b)) for a, b in eyes), *placed),
            score=score,
        )

    def _refined(self, rgb: RGB, face: Detection) -> Detection:
        """``face`` found again in a window around it, turned upright and scaled so that the
        face is :data:`REFINE_FACE` px wide: the points then come from the same view of the
        face wherever it falls, however large the photo and whichever copy found it. The
        window's mirror image is searched too and each point averaged with its twin's:
        neither network is mirror-symmetric, their average is, so a mirrored photo gets the
        mirrored points (and, with the model's flip views, the same age)."""
        margin = (REFINE_SIDE / REFINE_FACE - 1) / 2
        matrix = alignment_matrix(face, margin, REFINE_SIDE)
        window = warp(rgb, matrix, REFINE_SIDE)
        rows = self.rows_at_scale(window)
        twins = _mirrored_rows(self.rows_at_scale(np.ascontiguousarray(window[:, ::-1])), REFINE_SIDE)
        middle = (REFINE_SIDE - 1) / 2
        off = [math.hypot(r[0] + r[2] / 2 - middle, r[1] + r[3] / 2 - middle) for r in rows]
        if not off or min(off) > REFINE_FACE / 4:  # not found again where it was: keep the first pass
            return face
        row = rows[int(np.argmin(off))]
        twin = _twin(row, twins)
        gray = _u8(cv2.cvtColor(window, cv2.COLOR_RGB2GRAY))
        inner = self._placed(
            gray,
            row[4:14] if twin is None else (row[4:14] + twin[4:14]) / 2,
            face.score,
            mirrored=np.ascontiguousarray(gray[:, ::-1]),
        )
        points = np.array(inner.landmarks) @ matrix[:, :2].T + matrix[:, 2]  # window -> image
        x, y, side, _ = _template_box(tuple((float(a), float(b)) for a, b in points[3:]))
        return Detection(
            box=(round(x), round(y), round(side), round(side)),
            landmarks=tuple((float(a), float(b)) for a, b in points),
            score=face.score,
        )

    def rows_at_scale(self, rgb: RGB) -> NDArray[np.float64]:
        """:meth:`rows` of an image searched as it is (no copy, no ``only_above``)."""
        net = self._net()
        net.setInputSize((rgb.shape[1], rgb.shape[0]))
        _, rows = net.detect(np.ascontiguousarray(rgb[:, :, ::-1]))  # YuNet reads BGR
        return np.zeros((0, 15)) if rows is None else np.array(rows, np.float64)


def _mirrored_rows(rows: NDArray[np.float64], width: int) -> NDArray[np.float64]:
    """Rows found in the mirror image of an image ``width`` wide, in the image's pixels and
    order of points (image-left first)."""
    out = rows.copy()
    out[:, 0] = width - 1 - rows[:, 0] - rows[:, 2]
    out[:, 4:14:2] = width - 1 - rows[:, 4:14:2]
    out[:, 4:14] = out[:, [6, 7, 4, 5, 8, 9, 12, 13, 10, 11]]  # swap the eyes, and the mouth corners
    return out


def _twin(row: NDArray[np.float64], others: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """The row of ``others`` whose box overlaps ``row``'s most, if by half (IoU) or more."""
    best, best_iou = None, 0.5
    for other in others:
        iou = _iou((row[0], row[1], row[2], row[3]), (other[0], other[1], other[2], other[3]))
        if iou >= best_iou:
            best, best_iou = other, iou
    return best


def _yunet_box(row: NDArray[np.float64]) -> tuple[float, float, float, float]:
    """The HOG-like square box for one row of YuNet's output (in full-image pixels)."""
    values = row
    points = values[4:14].reshape(5, 2)  # eyes, nose tip, mouth corners (image-left first)
    eyes, nose, mouth = points[:2].mean(axis=0), points[2], points[3:].mean(axis=0)
    eye = points[1] - points[0]
    terms = (mouth - eyes, eye, np.array([-eye[1], eye[0]]), nose - eyes)
    centre = eyes + sum(k * t for k, t in zip(YUNET_CENTRE, terms, strict=True))
    side = max(values[2], values[3]) / YUNET_SIDE
    x, y = centre - (side - 1) / 2
    return float(x), float(y), float(side), float(side)


class CascadeDetector:
    """The faces ``first`` finds, plus those only ``then`` finds (boxes overlapping one of
    ``first``'s by less than ``min_iou``). Each face's score is its own detector's."""

    def __init__(self, first: Detector, then: Detector, min_iou: float = 0.3) -> None:
        self.first, self.then, self.min_iou = first, then, min_iou

    def detect(self, rgb: RGB) -> list[Detection]:
        found = self.first.detect(rgb)
        more = [f for f in self.then.detect(rgb) if all(_iou(f.box, g.box) < self.min_iou for g in found)]
        return found + more


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(width, 0) * max(height, 0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter) if inter else 0.0


def upload_detector(*, points: bool = False) -> Detector:
    """Uploads' detector: YuNet on a 640-px copy, then, in photos larger than 640 px, YuNet
    again on a 1024-px copy for small faces, with a stricter score (at 0.7 that copy also
    finds faces in the textures of backgrounds). The model card gives its measured recall.
    ``points``: faces carry YuNet's five points (else dlib's eyes), see :class:`YuNetDetector`."""
    return CascadeDetector(
        YuNetDetector(points=points), YuNetDetector(detect_side=1024, min_score=0.8, only_above=640, points=points)
    )


def _similarity(points: tuple[tuple[float, float], ...]) -> tuple[float, float, float, float]:
    """The similarity (a, b, tx, ty) taking :data:`TEMPLATE` onto ``points`` by least squares:
    a template point (u, v) lands at (a u - b v + tx, b u + a v + ty). The template is
    mirror-symmetric, so a mirrored face (its points mirrored, image-left first) gets the
    mirrored similarity."""
    rows, values = [], []
    for (u, v), (x, y) in zip(TEMPLATE, points, strict=True):
        rows += [(u, -v, 1.0, 0.0), (v, u, 0.0, 1.0)]
        values += [x, y]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows), np.array(values), rcond=None)[0]
    return float(a), float(b), float(tx), float(ty)


def _template_box(points: tuple[tuple[float, float], ...]) -> tuple[float, float, float, float]:
    """The square (x, y, side, side) the template's unit square lands on, unrotated."""
    a, b, tx, ty = _similarity(points)
    side = math.hypot(a, b)
    return tx - (side - 1) / 2, ty - (side - 1) / 2, side, side


def alignment_matrix(face: Detection, margin: float, size: int) -> NDArray[np.float64]:
    """2x3 affine map from output pixels to source pixels.

    A face with YuNet's five points is placed by the least-squares similarity of
    :data:`TEMPLATE` onto them: the output is a ``size`` square showing the template's unit
    square enlarged by ``margin`` on every side. All five points decide centre, scale and
    angle to sub-pixel precision, so the same face gets the same crop wherever it falls, and
    a mirrored face the mirrored crop.

    A face with dlib's three points (faces stored by, and models trained on, the earlier
    geometry) shows the face box enlarged by ``margin`` of its side on every side (0.4: the
    crop is 1.8 box sides wide), centred on the box centre and rotated so that the eyes are
    level.
    """
    (lx, ly), (rx, ry) = face.eyes
    theta = math.atan2(ry - ly, rx - lx)
    if len(face.landmarks) == 3 + len(TEMPLATE):
        rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        template = np.array(TEMPLATE) @ rotation.T
        points = np.array(face.landmarks[3:])
        t_centred, p_centred = template - template.mean(axis=0), points - points.mean(axis=0)
        scale = float((t_centred * p_centred).sum() / (t_centred**2).sum())
        centre = points.mean(axis=0) - scale * template.mean(axis=0)
        half = (size - 1) / 2.0
        linear = rotation * scale * (1.0 + 2.0 * margin) / size
        return np.hstack([linear, (centre - linear @ np.array([half, half]))[:, None]])
    x, y, w, h = face.box
    side = max(w, h) * (1.0 + 2.0 * margin)
    a = side / size
    cos, sin = a * math.cos(theta), a * math.sin(theta)
    cx, cy = x + (w - 1) / 2.0, y + (h - 1) / 2.0
    half = (size - 1) / 2.0
    return np.array(
        [[cos, -sin, cx - cos * half + sin * half], [sin, cos, cy - sin * half - cos * half]],
        dtype=np.float64,
    )


def crop_face(rgb: RGB, face: Detection, margin: float, size: int) -> RGB:
    """The aligned ``size`` x ``size`` crop; pixels beyond the image replicate its border."""
    return warp(rgb, alignment_matrix(face, margin, size), size)


def warp(rgb: RGB, matrix: NDArray[np.float64], size: int) -> RGB:
    """The ``size`` x ``size`` image whose pixel (u, v) shows ``rgb`` at ``matrix @ (u, v, 1)``
    (an :func:`alignment_matrix`); pixels beyond the image replicate its border."""
    scale = math.hypot(matrix[0, 0], matrix[1, 0])  # source pixels per output pixel
    if scale > 1.0:  # average the pixels down first: a bilinear warp alone skips some and aliases
        # Only the pixels under the crop (and a few around) are shrunk, from whole pixels on
        # either side: the same face mirrored or moved by whole pixels is shrunk the same way.
        height, width = rgb.shape[:2]
        corners = matrix @ np.array([[0, size - 1, 0, size - 1], [0, 0, size - 1, size - 1], [1, 1, 1, 1]])
        pad = math.ceil(scale) + 1
        x0, y0 = (max(math.floor(corners[i].min()) - pad, 0) for i in (0, 1))
        x1 = min(max(math.ceil(corners[0].max()) + pad, x0), width - 1)
        y1 = min(max(math.ceil(corners[1].max()) + pad, y0), height - 1)
        x0, y0 = min(x0, x1), min(y0, y1)
        region = rgb[y0 : y1 + 1, x0 : x1 + 1]
        shrunk = (max(round(region.shape[1] / scale), 1), max(round(region.shape[0] / scale), 1))
        rgb = _u8(cv2.resize(region, shrunk, interpolation=cv2.INTER_AREA))
        f = np.array([rgb.shape[1] / region.shape[1], rgb.shape[0] / region.shape[0]])  # sizes were rounded
        matrix = np.diag(f) @ matrix
        matrix[:, 2] += (f - 1) / 2 - f * np.array([x0, y0])  # pixel centres move with the cut and the shrink
    return _u8(
        cv2.warpAffine(
            rgb,
            matrix,
            (size, size),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
    )


def chip_face(rgb: RGB, detector: Detector, margin: float, size: int) -> tuple[RGB, Detection | None]:
    """For a pre-aligned face chip: the aligned crop of its main face, or the whole chip
    resized when no face is detected (the caller counts those: the returned face is None)."""
    face = main_face(rgb, detector.detect(rgb))
    return crop_or_whole(rgb, face, margin=margin, size=size), face


def main_face(rgb: RGB, found: list[Detection]) -> Detection | None:
    """The detected face nearest the image centre (a chip's subject), if any."""
    if not found:
        return None
    centre = np.array([rgb.shape[1] / 2, rgb.shape[0] / 2])
    return min(found, key=lambda f: float(np.linalg.norm(np.array(f.box[:2]) + np.array(f.box[2:]) / 2 - centre)))


def crop_or_whole(rgb: RGB, face: Detection | None, margin: float, size: int) -> RGB:
    """:func:`crop_face`, or the whole image resized when there is no face (chips only)."""
    if face is None:
        return _u8(cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA))
    return crop_face(rgb, face, margin=margin, size=size)


def _u8(array: NDArray[Any]) -> RGB:
    """OpenCV's results typed as the uint8 arrays they are (no copy)."""
    return np.asarray(array, dtype=np.uint8)
