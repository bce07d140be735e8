"""Check an uploaded photo and turn it into the JPEG we store and hand to the model.

The type is read from the content, never the name; size, pixel count, animation and
truncation are refused with a message a person can act on; EXIF rotation is applied,
colours are converted to sRGB, and every JPEG the site writes (photos, thumbnails, kept
face crops) goes through :func:`jpeg_without_metadata`: pixels only.
"""

from __future__ import annotations

import functools
import io
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from ml.rgb import to_rgb

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")  # JPEG includes MPO
MB = 1024 * 1024

# The errors Pillow raises on malformed data, beyond UnidentifiedImageError.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError)


@dataclass(frozen=True)
class CleanImage:
    jpeg: bytes
    width: int
    height: int
    thumbnail: bytes  # at most THUMBNAIL_SIDE pixels a side, for lists of photos


THUMBNAIL_SIDE = 320


def _refuse(message: str, code: str) -> ValidationError:
    return ValidationError(message, code=code)


def image_read(upload: File[bytes]) -> bytes:
    """The upload's bytes, refusing an empty or oversized file before reading it all."""
    limit = settings.AGEWEB_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise _refuse(f"The file is {upload.size / MB:.1f} MB; the limit is {limit / MB:.0f} MB.", "too_large")
    upload.seek(0)
    data: bytes = upload.read(limit + 1)
    return data


def _check_size(data: bytes) -> None:
    limit = settings.AGEWEB_MAX_UPLOAD_BYTES
    if not data:
        raise _refuse("The file is empty.", "empty")
    if len(data) > limit:
        raise _refuse(f"The file is larger than the {limit / MB:.0f} MB limit.", "too_large")


def _too_many_pixels(width: int | None = None, height: int | None = None) -> ValidationError:
    limit = settings.AGEWEB_MAX_PIXELS / 1e6
    if width is None or height is None:
        return _refuse(f"The image has too many pixels; the limit is {limit:.0f} megapixels.", "too_many_pixels")
    size = f"{width}x{height} pixels ({width * height / 1e6:.0f} megapixels)"
    return _refuse(f"The image is {size}; the limit is {limit:.0f} megapixels.", "too_many_pixels")


def _check_aspect(width: int, height: int) -> None:
    """A sliver (1x60000) has no room for a face and breaks the detector: refuse it up front."""
    limit = settings.AGEWEB_MAX_ASPECT_RATIO
    if max(width, height) > limit * max(min(width, height), 1):
        raise _refuse(
            f"The image is {width}x{height} pixels, too long and thin for a photo of a face; "
            f"the longer side may be at most {limit} times the shorter.",
            "bad_aspect_ratio",
        )


def image_header(data: bytes) -> Image.Image:
    """``data`` opened from its header only (format and size; no pixel decoded yet), for
    uploads and live frames alike. Refuses what is not an image of ALLOWED_FORMATS
    (``not_an_image``) and a decompression bomb (``too_many_pixels``)."""
    Image.init()  # registers every format plugin; `formats=` only knows the loaded ones
    try:
        return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError:
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, *_DECODE_ERRORS):
        raise _refuse(
            "This file is not an image we can read. Upload a JPEG, PNG, WebP, GIF, BMP or TIFF photo.",
            "not_an_image",
        ) from None


def _open(data: bytes) -> Image.Image:
    image = image_header(data)
    if image.width * image.height > settings.AGEWEB_MAX_PIXELS:
        raise _too_many_pixels(image.width, image.height)
    if image.format == "WEBP" and image.width * image.height > settings.AGEWEB_MAX_WEBP_PIXELS:
        # Pillow decodes a WebP whole, at about 15 bytes a pixel: 600 MB at 40 megapixels.
        limit = settings.AGEWEB_MAX_WEBP_PIXELS / 1e6
        raise _refuse(
            f"The WebP image is {image.width}x{image.height} pixels; WebP photos may have at most "
            f"{limit:.0f} megapixels. Save it as JPEG, or smaller.",
            "too_many_pixels",
        )
    _check_aspect(image.width, image.height)
    # MPO is how some cameras store a JPEG with a preview attached: its first frame is the photo.
    if image.format != "MPO" and getattr(image, "n_frames", 1) > 1:
        raise _refuse("Animated or multi-frame images are not supported; upload a still photo.", "animated")
    return image


DECODERS_BUSY_RETRY_AFTER = 5  # seconds: a 40-megapixel upload decodes in about a second


class DecodersBusy(Exception):
    """Every decode slot of this process stayed taken for AGEWEB_DECODE_WAIT_SECONDS."""

    def __init__(self) -> None:
        super().__init__("The server is busy with other photos; try again in a few seconds.")


@functools.cache
def _decode_slots(limit: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(limit)


@contextmanager
def _decode_slot() -> Iterator[None]:
    """One of the AGEWEB_MAX_DECODES decodes this process runs at once. The wait is bounded,
    so that a flood of uploads is refused (``DecodersBusy``, a 503) instead of holding every
    request thread; a burst of a few is only delayed by a second or two."""
    slots = _decode_slots(settings.AGEWEB_MAX_DECODES)
    if not slots.acquire(timeout=settings.AGEWEB_DECODE_WAIT_SECONDS):
        raise DecodersBusy()
    try:
        yield
    finally:
        slots.release()


# How to turn each EXIF orientation upright (as ImageOps.exif_transpose does).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _decode(image: Image.Image, *, side: int) -> Image.Image:
    """The pixels as upright sRGB, shrunk on the way to between ``side`` and twice ``side``
    pixels a side where larger: a JPEG while it is decoded (``draft``), any other format a
    strip of rows at a time (``to_rgb``), so that the decoded image is the only full-size copy."""
    try:
        if image.format in ("JPEG", "MPO"):
            image.draft(None, _at_least(image.size, side))
        image.load()  # the full decode: a truncated or corrupt file fails here, not later
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        rgb = to_rgb(image, reduce=max(1, max(image.size) // side))
    except Image.DecompressionBombError:
        raise _too_many_pixels(image.width, image.height) from None
    except _DECODE_ERRORS:
        raise _refuse("The image file is truncated or damaged; try exporting it again.", "damaged") from None
    method = _UPRIGHT.get(orientation)
    return rgb if method is None else rgb.transpose(method)


def _at_least(size: tuple[int, int], side: int) -> tuple[int, int]:
    """``size`` scaled so that its longer side is ``side`` (never up): the least a draft may keep."""
    scale = min(1.0, side / max(size))
    return math.ceil(size[0] * scale), math.ceil(size[1] * scale)


def _within(image: Image.Image, side: int) -> Image.Image:
    if max(image.size) <= side:
        return image
    return ImageOps.contain(image, (side, side), Image.Resampling.LANCZOS)


def image_clean(data: bytes) -> CleanImage:
    """Validate ``data`` and re-encode it as a metadata-free, upright sRGB JPEG of at most
    AGEWEB_MAX_STORED_SIDE pixels a side, plus its thumbnail. Raises ``ValidationError``
    for a refused upload and ``DecodersBusy`` when this process is decoding its most."""
    _check_size(data)
    source = _open(data)  # the header only: what it refuses is refused without waiting for a slot
    side = settings.AGEWEB_MAX_STORED_SIDE
    with _decode_slot(), source:  # closed, and its full-size pixels freed, before the slot is given back
        image = _within(_decode(source, side=side), side)
    del source  # a WebP's decoder holds two more full-size canvases
    quality = settings.AGEWEB_JPEG_QUALITY
    return CleanImage(
        jpeg=jpeg_without_metadata(image, quality=quality),
        width=image.width,
        height=image.height,
        thumbnail=jpeg_without_metadata(_within(image, THUMBNAIL_SIDE), quality=quality),
    )


def jpeg_without_metadata(image: Image.Image, *, quality: int) -> bytes:
    """``image`` (RGB or L, already in sRGB) as a JPEG that holds its pixels and nothing else:
    no comment, EXIF, XMP or ICC profile, whatever the decoded file carried in ``info``
    (Pillow copies a JPEG's or GIF's comment from there into the file it writes)."""
    if image.info:
        image = image.copy()
        image.info.clear()
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()
