"""Check an uploaded photo and turn it into the JPEG we store and hand to the model.

The type is read from the content, never the name; size, pixel count, animation and
truncation are refused with a message a person can act on; EXIF rotation is applied and
the stored copy is re-encoded without metadata (location, camera, thumbnails).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")  # JPEG includes MPO
MB = 1024 * 1024

# The errors Pillow raises on malformed data, beyond UnidentifiedImageError.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError)


@dataclass(frozen=True)
class CleanImage:
    jpeg: bytes
    width: int
    height: int


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


def _open(data: bytes) -> Image.Image:
    Image.init()  # registers every format plugin; `formats=` only knows the loaded ones
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError:
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, *_DECODE_ERRORS):
        raise _refuse(
            "This file is not an image we can read. Upload a JPEG, PNG, WebP, GIF, BMP or TIFF photo.",
            "not_an_image",
        ) from None
    if image.width * image.height > settings.AGEWEB_MAX_PIXELS:
        raise _too_many_pixels(image.width, image.height)
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


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")  # transparency becomes white, not black
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def image_clean(data: bytes) -> CleanImage:
    """Validate ``data`` and re-encode it as a metadata-free, upright RGB JPEG."""
    _check_size(data)
    image = _to_rgb(_decode(_open(data)))
    side = settings.AGEWEB_MAX_STORED_SIDE
    if max(image.size) > side:
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=settings.AGEWEB_JPEG_QUALITY)
    return CleanImage(jpeg=out.getvalue(), width=image.width, height=image.height)
