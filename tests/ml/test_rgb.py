"""ml.rgb.to_rgb: converted a strip at a time, and shrunk on the way, exactly as if whole."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from harness import photos
from ml import rgb


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def _samples() -> dict[str, Image.Image]:
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (203, 301, 4), dtype=np.uint8)
    swapped = photos.rgb_icc_profile(description="swapped", red="green", green="blue", blue="red")
    tagged = Image.fromarray(noise[..., :3].copy())
    tagged.info["icc_profile"] = swapped
    palette = Image.fromarray(noise[..., :3].copy()).convert("P")
    palette.info["transparency"] = 0
    return {
        "RGBA": Image.fromarray(noise, "RGBA"),
        "I;16": Image.fromarray(noise[..., 0].astype(np.uint16) * 257),
        "P with transparency": palette,
        "RGB with an ICC profile": tagged,
        "L": Image.fromarray(noise[..., 1].copy()),
    }


@pytest.mark.parametrize("name", list(_samples()))
@pytest.mark.parametrize("reduce", [1, 3])
def test_converting_in_strips_gives_the_same_pixels_as_converting_whole(
    name: str, reduce: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = _samples()[name]
    whole = rgb.to_rgb(image)
    whole = whole.reduce(reduce) if reduce > 1 else whole
    monkeypatch.setattr(rgb, "STRIP_PIXELS", 2000)  # a few rows at a time, many strips
    strips = rgb.to_rgb(image, reduce=reduce)
    assert strips.mode == "RGB" and strips.size == whole.size
    assert np.array_equal(_pixels(strips), _pixels(whole))


def test_a_16_bit_image_is_scaled_alike_in_every_strip(monkeypatch: pytest.MonkeyPatch) -> None:
    levels = np.full((100, 40), 200, dtype=np.uint16)  # the top rows alone would fit in 8 bits
    levels[90:] = 65535
    monkeypatch.setattr(rgb, "STRIP_PIXELS", 400)
    converted = _pixels(rgb.to_rgb(Image.fromarray(levels)))
    assert converted[0, 0].tolist() == [0, 0, 0]  # 200 of 65535 is black, not 200 of 255
    assert converted[-1, 0].tolist() == [255, 255, 255]


def test_a_swapped_profile_is_honoured() -> None:
    red = Image.new("RGB", (8, 8), (255, 0, 0))
    red.info["icc_profile"] = photos.rgb_icc_profile(description="swapped", red="green", green="blue", blue="red")
    assert _pixels(rgb.to_rgb(red))[4, 4].tolist() == pytest.approx([0, 255, 0], abs=12)
