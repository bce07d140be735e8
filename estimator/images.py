"""Check an uploaded photo and turn it into the JPEG we store and hand to the model.

The type is read from the content, never the name; size, pixel count, animation and
truncation are refused with a message a person can act on; EXIF rotation is applied,
colours are converted to sRGB, and every JPEG the site writes (photos, thumbnails, kept
face crops) goes through :func:`jpeg_without_metadata`: pixels only.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from PIL import Image, ImageOps, UnidentifiedImageError

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
    _check_aspect(image.width, image.height)
    # MPO is how some cameras store a JPEG with a preview attached: its first frame is the photo.
    if image.format != "MPO" and getattr(image, "n_frames", 1) > 1:
        raise _refuse("Animated or multi-frame images are not supported; upload a still photo.", "animated")
    return image


def _decode(image: Image.Image) -> Image.Image:
    try:
        image.load()  # the full decode: a truncated or corrupt file fails here, not later
        return ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:
        raise _too_many_pixels(image.width, image.height) from None
    except _DECODE_ERRORS:
        raise _refuse("The image file is truncated or damaged; try exporting it again.", "damaged") from None


def image_clean(data: bytes) -> CleanImage:
    """Validate ``data`` and re-encode it as a metadata-free, upright RGB JPEG."""
    _check_size(data)
    image = to_rgb(_decode(_open(data)))
    side = settings.AGEWEB_MAX_STORED_SIDE
    if max(image.size) > side:
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
    small = image.copy()
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    quality = settings.AGEWEB_JPEG_QUALITY
    return CleanImage(
        jpeg=jpeg_without_metadata(image, quality=quality),
        width=image.width,
        height=image.height,
        thumbnail=jpeg_without_metadata(small, quality=quality),
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
