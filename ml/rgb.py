"""The one conversion of any decoded image to 8-bit RGB, for uploads (the site) and the face pipeline.

A plain ``convert("RGB")`` clips 16-bit pixels at 255, which turns almost every 16-bit
photo white; here they are scaled down instead. Transparency becomes white, not black.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

_WIDE = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def to_rgb(pil: Image.Image) -> Image.Image:
    if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
        rgba = pil.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if pil.mode in _WIDE:
        array = np.asarray(pil, dtype=np.float32)
        peak = 65535.0 if array.max() > 255 else 255.0
        return Image.fromarray((array * (255.0 / peak)).clip(0, 255).astype(np.uint8)).convert("RGB")
    return pil.convert("RGB")
