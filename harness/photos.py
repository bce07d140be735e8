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


def group_photo(faces: int = 3) -> bytes:
    """A JPEG of ``faces`` people side by side (the astronaut, 400 px each), as a group photo."""
    portrait = astronaut().copy()
    portrait.thumbnail((400, 400))
    canvas = Image.new("RGB", (400 * faces, 420), (128, 128, 128))
    for i in range(faces):
        canvas.paste(portrait, (400 * i, 10))
    return encode(canvas, quality=90)


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


def _s15(value: float) -> bytes:
    return round(value * 65536).to_bytes(4, "big", signed=True)


def rgb_icc_profile(*, description: str, red: str = "red", green: str = "green", blue: str = "blue") -> bytes:
    """A minimal ICC v2 RGB display profile (gamma 2.2) whose primaries are sRGB's, in any
    order: ``red="green"`` makes the file's red mean sRGB's green, so a converted pixel
    shows whether the profile was honoured. ``description`` goes into its ``desc`` tag."""
    srgb = {"red": (0.4361, 0.2225, 0.0139), "green": (0.3851, 0.7169, 0.0971), "blue": (0.1431, 0.0606, 0.7141)}
    text = description.encode("ascii") + b"\0"
    desc = b"desc" + bytes(4) + len(text).to_bytes(4, "big") + text + bytes(4 + 4 + 2 + 1 + 67)
    curve = b"curv" + bytes(4) + (1).to_bytes(4, "big") + bytes([2, 51]) + bytes(2)  # gamma 2.2 as u8.8
    tags = [(b"desc", desc), (b"wtpt", b"XYZ " + bytes(4) + _s15(0.9642) + _s15(1.0) + _s15(0.8249))]
    for tag, name in ((b"rXYZ", red), (b"gXYZ", green), (b"bXYZ", blue)):
        tags.append((tag, b"XYZ " + bytes(4) + b"".join(_s15(v) for v in srgb[name])))
    tags += [(b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for tag, data in tags:
        data += bytes(-len(data) % 4)
        table += tag + (offset + len(body)).to_bytes(4, "big") + len(data).to_bytes(4, "big")
        body += data
    size = offset + len(body)
    header = (
        size.to_bytes(4, "big") + bytes(4) + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + bytes(12) + b"acsp"
        + bytes(24) + bytes(4) + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + bytes(48)
    )  # fmt: skip
    return header + len(tags).to_bytes(4, "big") + table + body


SECRET = "alice.secret@example.com"


def _xmp(secret: str) -> bytes:
    return (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="{secret}"/>'
        f"</rdf:RDF></x:xmpmeta>"
    ).encode()


def _exif(secret: str) -> bytes:
    exif = Image.Exif()
    exif[0x010E] = secret  # ImageDescription
    exif[0x013B] = secret  # Artist
    return exif.tobytes()


def with_metadata(fmt: str, secret: str = SECRET) -> bytes:
    """A 120x90 photo in ``fmt`` carrying ``secret`` in every kind of metadata the format
    holds (comments, text chunks, EXIF, XMP, TIFF tags) and an ICC profile whose
    description is ``secret``."""
    image = Image.open(io.BytesIO(face_photo(120, 90)))
    image.load()
    image.info.clear()
    icc = rgb_icc_profile(description=secret)
    if fmt == "JPEG":
        return encode(image, "JPEG", comment=secret, exif=_exif(secret), xmp=_xmp(secret), icc_profile=icc)
    if fmt == "PNG":
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", secret)  # tEXt
        info.add_text("Author", secret, zip=True)  # zTXt
        info.add_itxt("Description", secret, lang="en")  # iTXt
        info.add_itxt("XML:com.adobe.xmp", _xmp(secret).decode())
        return encode(image, "PNG", pnginfo=info, icc_profile=icc, exif=_exif(secret))
    if fmt == "GIF":
        return encode(image, "GIF", comment=secret)
    if fmt == "WEBP":
        return encode(image, "WEBP", exif=_exif(secret), xmp=_xmp(secret), icc_profile=icc, quality=95)
    if fmt == "TIFF":
        tags = {270: secret, 315: secret, 305: secret, 700: _xmp(secret)}  # description, artist, software, XMP
        return encode(image, "TIFF", tiffinfo=tags, icc_profile=icc)
    raise ValueError(fmt)


def jpeg_markers(data: bytes) -> list[int]:
    """The markers of a JPEG's segments up to the image data (0xE0 is JFIF's APP0, 0xE1
    EXIF or XMP, 0xE2 ICC, 0xFE a comment), read from the bytes, not through Pillow."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    markers, at = [], 2
    while at < len(data):
        assert data[at] == 0xFF, f"no marker at byte {at}"
        marker = data[at + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: the pixels follow
            return markers
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    raise AssertionError("the JPEG has no image data")


def sixteen_bit_tiff(width: int, height: int, *, level: int = 20000) -> bytes:
    """A 16-bit grey TIFF (deflate) whose rows go smoothly from ``level`` to twice it: 40
    megapixels (80 MB decoded) compress to about 120 KB."""
    ramp = np.linspace(level, 2 * level, height).astype(np.uint16)[:, None]
    return encode(
        Image.fromarray(np.broadcast_to(ramp, (height, width)).copy()), "TIFF", compression="tiff_adobe_deflate"
    )
