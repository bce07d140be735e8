"""Photos for tests, made in memory: real faces (scikit-image's astronaut) and bad files."""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image

MB = 1024 * 1024


def encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


@functools.cache
def astronaut() -> Image.Image:
    """A real photo of a woman of about 40 (Eileen Collins), 512x512, face near the top."""
    import skimage.data

    return Image.fromarray(skimage.data.astronaut())


def face_photo(width: int = 640, height: int = 480) -> bytes:
    """A ``width`` x ``height`` JPEG with one face: the astronaut on a grey canvas."""
    canvas = Image.new("RGB", (width, height), (128, 128, 128))
    portrait = astronaut().copy()
    portrait.thumbnail((width, height))
    canvas.paste(portrait, ((width - portrait.width) // 2, (height - portrait.height) // 2))
    return encode(canvas, quality=92)


def no_face_photo() -> bytes:
    """A real photo with no person in it (a cup of coffee)."""
    import skimage.data

    return encode(Image.fromarray(skimage.data.coffee()), quality=92)


def plain_jpeg(width: int = 320, height: int = 240, color: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    return encode(Image.new("RGB", (width, height), color))


def text_named_jpg() -> bytes:
    return b"Dear diary, this is plain text that someone renamed to photo.jpg.\n" * 20


def truncated_jpeg() -> bytes:
    data = face_photo()
    return data[: len(data) // 2]


def huge_png(side: int = 20000) -> bytes:
    """A 20000x20000 PNG: 400 megapixels that compress to a few kilobytes (a bomb)."""
    return encode(Image.new("1", (side, side)), "PNG", optimize=True)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 64), color) for color in ("red", "green", "blue")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def oversized_file(megabytes: int = 30) -> bytes:
    """A real JPEG padded with noise to ``megabytes`` MB (JPEG readers ignore trailing bytes)."""
    rng = np.random.default_rng(0)
    head = face_photo()
    return head + rng.integers(0, 256, megabytes * MB - len(head), dtype=np.uint8).tobytes()


def rotated_by_exif() -> bytes:
    """A landscape 300x200 JPEG whose EXIF says: show me turned 90 degrees (orientation 6)."""
    image = Image.new("RGB", (300, 200), "white")
    image.paste(Image.new("RGB", (100, 200), "red"), (0, 0))  # the left third is red
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    exif[0x010F] = "SecretCam"  # Make: metadata that must not survive
    return encode(image, exif=exif.tobytes())


def transparent_png() -> bytes:
    return encode(Image.new("RGBA", (80, 60), (0, 0, 0, 0)), "PNG")


def sixteen_bit_png(level: int = 32768, width: int = 64, height: int = 48) -> bytes:
    """A 16-bit grayscale PNG (mode I;16) of one mid-grey level (out of 65535)."""
    array = np.full((height, width), level, dtype=np.uint16)
    return encode(Image.fromarray(array), "PNG")  # uint16 -> mode I;16


def sliver_png(width: int = 1, height: int = 60000) -> bytes:
    """A valid image with no room for a face: 1x60000 pixels (well under the pixel limit)."""
    return encode(Image.new("RGB", (width, height), (90, 90, 90)), "PNG")
