from __future__ import annotations

import io
import math

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from harness import photos
from ml import faces
from ml.training import detectors


def encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_it_decodes_common_formats_to_rgb(fmt: str) -> None:
    rgb = faces.decode(encode(Image.new("RGB", (30, 20), (200, 10, 10)), fmt, quality=95))
    assert rgb.shape == (20, 30, 3) and rgb.dtype == np.uint8
    assert abs(int(rgb[10, 15, 0]) - 200) < 8


def test_it_applies_exif_orientation() -> None:
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 10, 20))  # white stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    rgb = faces.decode(encode(image, "JPEG", exif=exif, quality=95))
    assert rgb.shape == (40, 20, 3)
    assert rgb[2, 10].mean() > 200 and rgb[-2, 10].mean() < 50  # the stripe is now on top


@pytest.mark.parametrize("mode", ["L", "LA", "P", "CMYK", "RGBA", "I;16"])
def test_it_converts_other_modes_keeping_the_grey_level(mode: str) -> None:
    grey = Image.new("RGB", (8, 8), (90, 90, 90))
    image = grey.convert("P", palette=Image.Palette.ADAPTIVE) if mode == "P" else grey.convert(mode)
    rgb = faces.decode(image)
    assert rgb.shape == (8, 8, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - 90).max() <= 2  # the same grey, in every channel


@pytest.mark.parametrize(("level", "expected"), [(32768, 128), (65535, 255), (6553, 25)])
def test_a_16_bit_photo_is_scaled_to_8_bits_not_clipped(level: int, expected: int) -> None:
    rgb = faces.decode(photos.sixteen_bit_png(level))
    assert rgb.shape == (48, 64, 3)
    assert np.abs(rgb.astype(int) - expected).max() <= 1  # a plain convert("RGB") would give 255


def test_transparency_is_composited_on_white() -> None:
    rgb = faces.decode(encode(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), "PNG"))
    assert rgb.min() == 255


@pytest.mark.parametrize("blob", [b"", b"hello, I am text", b"\xff\xd8\xff\xe0" + b"\x00" * 50])
def test_it_refuses_what_is_not_an_image(blob: bytes) -> None:
    with pytest.raises(faces.ImageError):
        faces.decode(blob)


def test_it_refuses_a_truncated_jpeg(astronaut_jpeg: bytes) -> None:
    with pytest.raises(faces.ImageError):
        faces.decode(astronaut_jpeg[: len(astronaut_jpeg) // 2])


def rotate(image: NDArray[np.uint8], degrees: float) -> NDArray[np.uint8]:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("degrees", [-20.0, 0.0, 15.0, 25.0])
def test_the_eyes_are_level_after_alignment(
    astronaut: NDArray[np.uint8], detector: faces.Detector, degrees: float
) -> None:
    found = detector.detect(rotate(astronaut, degrees))
    assert len(found) == 1
    face = found[0]
    to_output = cv2.invertAffineTransform(faces.alignment_matrix(face, 0.4, 128))
    (lx, ly), (rx, ry) = (to_output @ np.array([x, y, 1.0]) for x, y in face.eyes)
    assert abs(ly - ry) < 0.5
    assert lx < rx
    (ex0, ey0), (ex1, ey1) = face.eyes
    assert math.degrees(math.atan2(ey1 - ey0, ex1 - ex0)) == pytest.approx(-degrees, abs=6)


def test_the_crop_spans_the_box_plus_the_margin_on_each_side() -> None:
    level = ((42.0, 40.0), (58.0, 40.0), (50.0, 50.0))  # eyes level, then the nose
    face = faces.Detection(box=(30, 30, 40, 40), landmarks=level, score=1.0)
    for margin in (0.0, 0.2, 0.4):
        matrix = faces.alignment_matrix(face, margin, 100)
        corners = [matrix @ np.array([u, v, 1.0]) for u, v in ((0, 0), (99, 99))]
        side = 40 * (1 + 2 * margin)
        centre = 30 + 39 / 2
        assert corners[0] == pytest.approx([centre - side / 2 * 99 / 100] * 2, abs=1e-6)
        assert corners[1] == pytest.approx([centre + side / 2 * 99 / 100] * 2, abs=1e-6)


FIVE = ((40.3, 40.1), (60.3, 40.6), (50.3, 50.6), (42.3, 60.2), (58.3, 60.9))  # YuNet's points
DLIB = ((41.0, 40.0), (59.5, 40.5), (50.0, 51.0))  # dlib's eyes and nose


def test_points_place_the_crop_to_a_fraction_of_a_pixel_and_a_mirrored_face_gets_the_mirrored_crop() -> None:
    face = faces.Detection(box=(30, 30, 40, 40), landmarks=(*DLIB, *FIVE), score=1.0)
    matrix = faces.alignment_matrix(face, 0.1, 128)
    moved = faces.Detection(box=face.box, landmarks=tuple((x + 0.37, y - 0.21) for x, y in face.landmarks), score=1.0)
    shifted = faces.alignment_matrix(moved, 0.1, 128)
    assert shifted[:, :2] == pytest.approx(matrix[:, :2]) and shifted[:, 2] - matrix[:, 2] == pytest.approx(
        [0.37, -0.21]
    )
    # Mirrored in a 100-px-wide image, points listed image-left first: output pixel (u, v)
    # shows what the original crop shows at (127 - u, v), mirrored.
    swap = [1, 0, 2, 4, 3]
    mirrored = faces.Detection(
        box=(30, 30, 40, 40),
        landmarks=(
            *((99 - DLIB[i][0], DLIB[i][1]) for i in (1, 0, 2)),
            *((99 - FIVE[i][0], FIVE[i][1]) for i in swap),
        ),
        score=1.0,
    )
    flipped = faces.alignment_matrix(mirrored, 0.1, 128)
    for u, v in ((0, 0), (127, 0), (40, 90), (64, 64)):
        x, y = flipped @ np.array([u, v, 1.0])
        assert (99 - x, y) == pytest.approx(tuple(matrix @ np.array([127 - u, v, 1.0])), abs=1e-9)


def test_a_mirrored_photo_gets_the_mirrored_crop_and_the_same_age(astronaut: NDArray[np.uint8]) -> None:
    from ml.inference import shipped_spec

    spec = shipped_spec()
    assert spec.alignment == "points"
    detector = faces.upload_detector(points=True)
    mirror = np.ascontiguousarray(astronaut[:, ::-1])
    (face,), (twin,) = detector.detect(astronaut), detector.detect(mirror)
    crop = faces.crop_face(astronaut, face, margin=spec.margin, size=spec.input_size).astype(np.int16)
    other = faces.crop_face(mirror, twin, margin=spec.margin, size=spec.input_size)[:, ::-1].astype(np.int16)
    assert np.abs(crop - other).mean() < 0.5  # grey levels: the same pixels, mirrored
    assert np.abs(crop - np.roll(other, 1, axis=1)).mean() > 2  # a pixel's shift would show


def test_a_margin_beyond_the_image_replicates_the_border() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    image[:, :50] = (255, 0, 0)
    image[:, 50:] = (0, 0, 255)
    face = faces.Detection(box=(0, 0, 60, 60), landmarks=((22.0, 20.0), (38.0, 20.0), (30.0, 35.0)), score=1.0)
    crop = faces.crop_face(image, face, margin=0.4, size=64)
    assert crop[0, 0].tolist() == [255, 0, 0]  # left of and above the image: replicated red
    assert not (crop.sum(axis=2) == 0).any()  # never black


def test_a_downscaled_crop_averages_fine_detail_instead_of_aliasing() -> None:
    """1-pixel stripes shrunk 1.5 and 3 times: each output pixel averages the source pixels
    it covers (a ripple of 85 and 170 remains), where a bilinear warp alone picks some of
    them and leaves stripes of nearly full contrast (std 63.5 and 127.5 here)."""
    image = np.zeros((300, 300, 3), np.uint8)
    image[:, ::2] = 255
    level = ((135.0, 120.0), (165.0, 120.0), (150.0, 160.0))
    face = faces.Detection(box=(90, 90, 120, 120), landmarks=level, score=1.0)
    for size in (80, 40):  # 1.5 and 3 source pixels per output pixel
        crop = faces.crop_face(image, face, margin=0.0, size=size).astype(np.float64)
        assert crop.mean() == pytest.approx(127.5, abs=2)
        assert crop.std() < 45
    # and the shrink keeps the geometry: a dot at the box centre stays at the crop centre
    dot = np.zeros((300, 300, 3), np.uint8)
    dot[146:154, 146:154] = 255
    centre = faces.crop_face(dot, face, margin=0.0, size=80)[..., 0].astype(np.float64)  # 1.5x smaller
    ys, xs = np.nonzero(centre > 0)
    weights = centre[ys, xs]
    assert (xs @ weights / weights.sum(), ys @ weights / weights.sum()) == pytest.approx((39.5, 39.5), abs=0.35)


def test_the_crop_is_resized_to_the_requested_size(astronaut: NDArray[np.uint8], detector: faces.Detector) -> None:
    face = detector.detect(astronaut)[0]
    for size in (64, 128):
        assert faces.crop_face(astronaut, face, margin=0.2, size=size).shape == (size, size, 3)


def test_a_chip_without_a_detectable_face_is_used_whole(detector: faces.Detector) -> None:
    chip = np.full((200, 200, 3), 120, np.uint8)
    crop, face = faces.chip_face(chip, detector, margin=0.4, size=64)
    assert face is None and crop.shape == (64, 64, 3) and (crop == 120).all()


def test_a_picture_without_a_face_gives_no_detection(detector: faces.Detector) -> None:
    from skimage import data

    assert detector.detect(np.asarray(data.coffee())) == []


def test_a_face_in_a_large_photo_is_found_on_the_downscaled_copy(
    astronaut: NDArray[np.uint8], detector: faces.Detector
) -> None:
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    found = detector.detect(big)
    assert len(found) == 1
    x, _, w, _ = found[0].box
    small = detector.detect(astronaut)[0].box
    assert x == pytest.approx(small[0] * 4, rel=0.1) and w == pytest.approx(small[2] * 4, rel=0.1)


def test_the_cascade_adds_only_the_faces_its_first_detector_missed(astronaut: NDArray[np.uint8]) -> None:
    hog, yunet = detectors.HogDetector(), faces.YuNetDetector()
    cascade = faces.CascadeDetector(hog, yunet)
    assert cascade.detect(astronaut) == hog.detect(astronaut)  # both found her: HOG's face, once
    gray = np.full_like(astronaut, 128)
    gray[100:400, 100:400] = astronaut[50:350, 110:410]  # still found by both
    assert len(cascade.detect(gray)) == 1
    blind = faces.CascadeDetector(_Blind(), yunet)
    assert blind.detect(astronaut) == yunet.detect(astronaut)


def test_the_upload_detector_finds_a_small_face_in_a_large_photo_that_one_640_px_pass_misses(
    astronaut: NDArray[np.uint8],
) -> None:
    canvas = np.random.default_rng(0).integers(80, 140, (1080, 1920, 3)).astype(np.uint8)
    canvas[500:620, 900:1020] = cv2.resize(astronaut[30:250, 120:340], (120, 120), interpolation=cv2.INTER_AREA)
    assert faces.YuNetDetector().detect(canvas) == []  # 40 px on the 640-px copy, scored under 0.7
    [face] = detectors.make_detector("hog+yunet").detect(canvas)
    x, y, w, h = face.box
    assert 900 < x + w / 2 < 1020 and 500 < y + h / 2 < 620


def test_the_second_yunet_pass_skips_photos_the_first_one_saw_whole(astronaut: NDArray[np.uint8]) -> None:
    assert len(faces.YuNetDetector().detect(astronaut)) == 1  # 512 px: searched whole at 640
    assert faces.YuNetDetector(detect_side=1024, only_above=640).detect(astronaut) == []


class _Blind:
    def detect(self, rgb: NDArray[np.uint8]) -> list[faces.Detection]:
        return []


def test_yunet_finds_faces_that_hog_misses() -> None:
    """A face turned 50 degrees in the image: beyond HOG's upright templates."""
    from skimage import data

    tilted = rotate(np.asarray(data.astronaut()), 50.0)
    assert detectors.HogDetector().detect(tilted) == []
    assert len(faces.YuNetDetector().detect(tilted)) == 1
