"""The one conversion of any decoded image to 8-bit sRGB, for uploads (the site) and the face pipeline.

A plain ``convert("RGB")`` clips 16-bit pixels at 255, which turns almost every 16-bit
photo white; here they are scaled down instead. Transparency becomes white, not black.
An embedded ICC profile is honoured: the pixels are converted to sRGB, so a wide-gamut
photo keeps its colours once the profile is dropped (the site stores no profile).
"""

from __future__ import annotations

import io
import logging

import numpy as np
from PIL import Image, ImageCms

logger = logging.getLogger(__name__)

_WIDE = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def to_rgb(pil: Image.Image) -> Image.Image:
    return _to_srgb(_eight_bit(pil), pil.info.get("icc_profile"))


def _eight_bit(pil: Image.Image) -> Image.Image:
    """``pil`` as 8-bit L, RGB or CMYK: the modes an ICC profile describes."""
    if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
        rgba = pil.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if pil.mode in _WIDE:
        array = np.asarray(pil, dtype=np.float32)
        peak = 65535.0 if array.max() > 255 else 255.0
        return Image.fromarray((array * (255.0 / peak)).clip(0, 255).astype(np.uint8))
    if pil.mode in ("L", "RGB", "CMYK"):
        return pil
    return pil.convert("RGB")


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    if icc:
        try:
            transform = ImageCms.buildTransform(
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                ImageCms.createProfile("sRGB"),
                image.mode,
                "RGB",
                renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,  # as browsers show photos
            )
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            logger.info("Ignoring an ICC profile that does not describe %s pixels", image.mode)
        else:
            converted = ImageCms.applyTransform(image, transform)
            assert converted is not None  # only None when applied in place
            return converted
    return image.convert("RGB")
