"""Upload validation: every refusal has a clear message; accepted photos are cleaned."""

from __future__ import annotations

import io
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.files import File
from PIL import Image, ImageFile

from estimator.images import image_clean, image_read
from harness import photos


def refusal(data: bytes) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        image_clean(data)
    return caught.value


def test_it_refuses_an_empty_file() -> None:
    error = refusal(b"")
    assert error.code == "empty"
    assert error.messages == ["The file is empty."]


def test_it_refuses_text_renamed_to_jpg() -> None:
    error = refusal(photos.text_named_jpg())
    assert error.code == "not_an_image"
    assert "not an image we can read" in error.messages[0]


def test_it_refuses_a_truncated_jpeg() -> None:
    error = refusal(photos.truncated_jpeg())
    assert error.code == "damaged"
    assert "truncated or damaged" in error.messages[0]


def test_it_refuses_a_20000_by_20000_png_before_decoding_it() -> None:
    data = photos.huge_png()
    assert len(data) < 1024 * 1024  # a bomb: tiny file, 400 megapixels
    with mock.patch.object(ImageFile.ImageFile, "load", side_effect=AssertionError("the pixels were decoded")):
        error = refusal(data)  # only the header was read
    assert error.code == "too_many_pixels"
    assert "the limit is 40 megapixels" in error.messages[0]


def test_a_webp_over_its_own_pixel_limit_is_refused_before_decoding(settings: Any) -> None:
    settings.AGEWEB_MAX_WEBP_PIXELS = 10_000  # a 200x100 WebP is over; as JPEG it passes
    out = io.BytesIO()
    Image.new("RGB", (200, 100), (120, 90, 60)).save(out, "WEBP")
    with mock.patch.object(ImageFile.ImageFile, "load", side_effect=AssertionError("the pixels were decoded")):
        error = refusal(out.getvalue())
    assert error.code == "too_many_pixels"
    assert "WebP photos may have at most" in error.messages[0]
    jpeg = io.BytesIO()
    Image.new("RGB", (200, 100), (120, 90, 60)).save(jpeg, "JPEG")
    assert image_clean(jpeg.getvalue()).width == 200


def test_it_names_the_size_of_an_image_just_over_the_pixel_limit() -> None:
    error = refusal(photos.plain_jpeg(9000, 5000))
    assert error.messages == ["The image is 9000x5000 pixels (45 megapixels); the limit is 40 megapixels."]


def test_it_refuses_an_animated_gif() -> None:
    error = refusal(photos.animated_gif())
    assert error.code == "animated"
    assert "upload a still photo" in error.messages[0]


class CountingBytesIO(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def test_it_refuses_a_30_mb_file_without_reading_it() -> None:
    stream = CountingBytesIO(photos.oversized_file(30))
    file = File(stream, name="big.jpg")
    with pytest.raises(ValidationError) as caught:
        image_read(file)
    assert stream.bytes_read == 0
    assert caught.value.code == "too_large"
    assert caught.value.messages == ["The file is 30.0 MB; the limit is 10 MB."]


def test_it_refuses_oversized_bytes_too() -> None:
    assert refusal(photos.oversized_file(11)).code == "too_large"


def test_it_accepts_a_still_gif() -> None:
    still = photos.encode(Image.new("RGB", (40, 30), "blue"), "GIF")
    assert image_clean(still).width == 40


def test_it_applies_exif_rotation_and_strips_metadata() -> None:
    clean = image_clean(photos.rotated_by_exif())
    stored = Image.open(io.BytesIO(clean.jpeg))
    assert (clean.width, clean.height) == (200, 300) == stored.size  # turned upright
    assert stored.format == "JPEG"
    assert not stored.getexif()  # no orientation, no camera make, nothing
    red, white = (255, 0, 0), (255, 255, 255)
    assert stored.getpixel((100, 40)) == pytest.approx(red, abs=20)  # the red left third is now on top
    assert stored.getpixel((100, 250)) == pytest.approx(white, abs=20)


def test_it_reencodes_png_with_transparency_onto_white() -> None:
    clean = image_clean(photos.transparent_png())
    stored = Image.open(io.BytesIO(clean.jpeg))
    assert stored.mode == "RGB"
    assert stored.getpixel((40, 30)) == pytest.approx((255, 255, 255), abs=3)


def test_it_shrinks_very_large_photos_for_storage() -> None:
    clean = image_clean(photos.plain_jpeg(4000, 3000))
    assert (clean.width, clean.height) == (2560, 1920)


def test_it_keeps_a_normal_photo_at_its_size() -> None:
    clean = image_clean(photos.face_photo())
    assert (clean.width, clean.height) == (640, 480)
    assert clean.jpeg.startswith(b"\xff\xd8")


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the damaged TIFF tags
def test_damaged_files_are_refused_or_cleaned_but_never_crash() -> None:
    """Random bit flips, cuts and insertions in six formats: only ValidationError may escape."""
    import random

    base = Image.open(io.BytesIO(photos.face_photo(160, 120)))
    seeds = [photos.encode(base, fmt) for fmt in ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")]
    rng = random.Random(7)
    for _ in range(300):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data))
            if rng.random() < 0.6:
                data[at] = rng.randrange(256)
            else:
                del data[at : at + rng.randint(1, 40)]
        try:
            clean = image_clean(bytes(data))
        except ValidationError:
            continue
        assert Image.open(io.BytesIO(clean.jpeg)).format == "JPEG"


def test_a_16_bit_photo_keeps_its_tones_instead_of_turning_white() -> None:
    clean = image_clean(photos.sixteen_bit_png(level=32768))  # half of 65535: mid grey
    stored = Image.open(io.BytesIO(clean.jpeg)).getpixel((10, 10))
    assert all(120 <= channel <= 136 for channel in stored), stored


def test_the_site_and_the_face_pipeline_convert_a_16_bit_photo_alike() -> None:
    import numpy as np

    from ml.faces import decode

    data = photos.sixteen_bit_png(level=20000)
    site = np.asarray(Image.open(io.BytesIO(image_clean(data).jpeg)), dtype=np.int16)
    pipeline = decode(data).astype(np.int16)
    assert np.abs(site - pipeline).max() <= 2  # JPEG rounding only


@pytest.mark.parametrize("size", [(1, 60000), (60000, 1), (900, 100)])
def test_it_refuses_extreme_aspect_ratios(size: tuple[int, int]) -> None:
    with pytest.raises(ValidationError) as caught:
        image_clean(photos.sliver_png(*size))
    assert caught.value.code == "bad_aspect_ratio"


def test_it_accepts_a_wide_panorama_within_the_aspect_limit() -> None:
    assert image_clean(photos.sliver_png(800, 100)).width == 800


def test_it_makes_a_small_thumbnail_for_lists() -> None:
    clean = image_clean(photos.face_photo(1600, 1200))
    assert Image.open(io.BytesIO(clean.thumbnail)).size == (320, 240)


APP0, COMMENT = 0xE0, 0xFE
APPS_AND_COMMENTS = {*range(0xE0, 0xF0), COMMENT}


def assert_no_metadata(jpeg: bytes) -> None:
    held = [hex(m) for m in photos.jpeg_markers(jpeg) if m in APPS_AND_COMMENTS and m != APP0]
    assert held == [], f"segments beyond JFIF: {held}"
    info = Image.open(io.BytesIO(jpeg)).info
    assert not {"comment", "icc_profile", "exif", "xmp"} & set(info), info
    assert photos.SECRET.encode() not in jpeg


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF"])
def test_the_stored_photo_and_thumbnail_hold_pixels_and_nothing_else(fmt: str) -> None:
    upload = photos.with_metadata(fmt)
    assert photos.SECRET.encode() in upload
    clean = image_clean(upload)
    assert_no_metadata(clean.jpeg)
    assert_no_metadata(clean.thumbnail)


def test_colours_are_converted_to_srgb_before_the_profile_is_dropped() -> None:
    # In this file's profile the red channel holds sRGB's green: honouring it turns red green.
    profile = photos.rgb_icc_profile(description="swapped", red="green", green="blue", blue="red")
    upload = photos.encode(Image.new("RGB", (64, 48), (255, 0, 0)), "PNG", icc_profile=profile)
    clean = image_clean(upload)
    assert Image.open(io.BytesIO(clean.jpeg)).getpixel((32, 24)) == pytest.approx((0, 255, 0), abs=12)
    assert Image.open(io.BytesIO(clean.thumbnail)).getpixel((10, 10)) == pytest.approx((0, 255, 0), abs=12)
    assert_no_metadata(clean.jpeg)


def test_an_srgb_photo_keeps_its_colours() -> None:
    profile = photos.rgb_icc_profile(description="plain")  # sRGB's primaries, gamma 2.2
    upload = photos.encode(Image.new("RGB", (64, 48), (180, 120, 60)), "PNG", icc_profile=profile)
    stored = Image.open(io.BytesIO(image_clean(upload).jpeg)).getpixel((32, 24))
    assert stored == pytest.approx((180, 120, 60), abs=4)


def test_a_profile_that_does_not_fit_the_pixels_is_dropped_and_the_photo_kept() -> None:
    upload = photos.encode(Image.new("L", (64, 48), 90), "PNG", icc_profile=photos.rgb_icc_profile(description="rgb"))
    clean = image_clean(upload)
    assert Image.open(io.BytesIO(clean.jpeg)).getpixel((32, 24)) == pytest.approx((90, 90, 90), abs=3)
    assert_no_metadata(clean.jpeg)
