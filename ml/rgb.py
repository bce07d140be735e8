"""The one conversion of any decoded image to 8-bit sRGB, for uploads (the site) and the face pipeline.

A plain ``convert("RGB")`` clips 16-bit pixels at 255, which turns almost every 16-bit
photo white; here they are scaled down instead. Transparency becomes white, not black.
An embedded ICC profile is honoured: the pixels are converted to sRGB, so a wide-gamut
photo keeps its colours once the profile is dropped (the site stores no profile).

The conversion runs a strip of rows at a time, with integer arithmetic, and can shrink the
image by a whole factor on the way: besides the decoded image, a 40-megapixel upload costs
the (shrunk) result and a few MB, never a full-size copy.
"""

from __future__ import annotations

import io
import logging

import numpy as np
from PIL import Image, ImageCms

logger = logging.getLogger(__name__)

_WIDE = ("I;16", "I;16B", "I;16L", "I;16N", "I")
STRIP_PIXELS = 1 << 20  # pixels converted at once: their temporary copies take a few MB


def to_rgb(pil: Image.Image, *, reduce: int = 1) -> Image.Image:
    """``pil`` as 8-bit sRGB, shrunk ``reduce`` times: each pixel of the result is the mean of
    a ``reduce`` x ``reduce`` block, as ``Image.reduce`` makes it."""
    mode, peak = _eight_bit_mode(pil), _peak(pil)
    transform = _srgb_transform(pil.info.get("icc_profile"), mode)
    width, height = pil.size
    rows = reduce * max(1, STRIP_PIXELS // (width * reduce))  # whole blocks, so strips reduce as the whole
    if rows >= height:
        return _strip_rgb(pil, mode=mode, peak=peak, transform=transform, reduce=reduce)
    out = Image.new("RGB", (-(-width // reduce), -(-height // reduce)))
    for top in range(0, height, rows):
        strip = pil.crop((0, top, width, min(top + rows, height)))
        out.paste(_strip_rgb(strip, mode=mode, peak=peak, transform=transform, reduce=reduce), (0, top // reduce))
    return out


def _strip_rgb(
    strip: Image.Image, *, mode: str, peak: int, transform: ImageCms.ImageCmsTransform | None, reduce: int
) -> Image.Image:
    rgb = _srgb(_eight_bit(strip, mode=mode, peak=peak), transform)
    return rgb.reduce(reduce) if reduce > 1 else rgb


def _has_alpha(pil: Image.Image) -> bool:
    return pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info)


def _eight_bit_mode(pil: Image.Image) -> str:
    """The 8-bit mode ``pil`` becomes before any colour conversion: L, RGB or CMYK, the
    modes an ICC profile describes."""
    if _has_alpha(pil):
        return "RGB"
    if pil.mode in _WIDE:
        return "L"
    return pil.mode if pil.mode in ("L", "RGB", "CMYK") else "RGB"


def _peak(pil: Image.Image) -> int:
    """The value that becomes 255: 65535 for a 16-bit image that uses more than 8 bits, else
    255. Read from the whole image, so that every strip is scaled alike."""
    if pil.mode not in _WIDE:
        return 255
    extrema = pil.getextrema()
    assert isinstance(extrema[1], int | float)  # one band
    return 65535 if extrema[1] > 255 else 255


def _eight_bit(strip: Image.Image, *, mode: str, peak: int) -> Image.Image:
    if _has_alpha(strip):
        rgba = strip.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if strip.mode in _WIDE:
        values = np.clip(np.asarray(strip), 0, peak).astype(np.int32)  # integers: no float copy
        return Image.fromarray((values * 255 // peak).astype(np.uint8))
    return strip if strip.mode == mode else strip.convert(mode)


def _srgb_transform(icc: bytes | None, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The conversion of ``mode`` pixels described by ``icc`` to sRGB, or None without a
    profile or with one that does not fit (a damaged one, or an RGB profile on grey pixels)."""
    if not icc:
        return None
    try:
        return ImageCms.buildTransform(
            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
            ImageCms.createProfile("sRGB"),
            mode,
            "RGB",
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,  # as browsers show photos
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        logger.info("Ignoring an ICC profile that does not describe %s pixels", mode)
        return None


def _srgb(image: Image.Image, transform: ImageCms.ImageCmsTransform | None) -> Image.Image:
    if transform is None:
        return image.convert("RGB")
    converted = ImageCms.applyTransform(image, transform)
    assert converted is not None  # None only when applied in place
    return converted
