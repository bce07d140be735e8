"""The face cache's packing for a GPU host: WebP round trip, and narrower margins cut from wider crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from ml import faces
from ml.training import cache


def faceset_of(images: NDArray[np.uint8], detected: list[bool], splits: list[int]) -> cache.FaceSet:
    n = len(images)
    return cache.FaceSet(
        images=images,
        ages=np.arange(n, dtype=np.int16) + 20,
        genders=np.zeros(n, np.int8),
        races=np.full(n, -1, np.int8),
        splits=np.array(splits, np.int8),
        detected=np.array(detected),
        names=np.array([f"{20 + i}_0_0_x.jpg" for i in range(n)]),
    )


def test_a_narrower_margin_cut_from_a_wider_crop_matches_the_pipelines_own_crop(
    astronaut: NDArray[np.uint8], detector: faces.Detector
) -> None:
    face = detector.detect(astronaut)[0]
    wide = faces.crop_face(astronaut, face, margin=0.1, size=128)
    for margin, size in ((0.0, 112), (0.05, 120), (0.1, 96)):
        cut = cache.narrow(faceset_of(wide[None], [True], [0]), 0.1, new_margin=margin, size=size).images[0]
        direct = faces.crop_face(astronaut, face, margin=margin, size=size).astype(np.float64)
        assert cut.shape == (size, size, 3)
        assert np.abs(cut - direct).mean() < 4.0  # resampling differences only
        assert np.abs(np.roll(cut, 6, axis=1) - direct).mean() > 2 * np.abs(cut - direct).mean()  # and aligned


def test_whole_chips_are_only_resized_and_widening_is_refused() -> None:
    chip = np.zeros((1, 128, 128, 3), np.uint8)
    chip[0, :, :64] = 255
    narrowed = cache.narrow(faceset_of(chip, [False], [0]), 0.1, new_margin=0.0, size=64).images[0]
    assert (narrowed[:, :30] == 255).all() and (narrowed[:, 34:] == 0).all()  # the whole chip, smaller
    with pytest.raises(ValueError, match="widen"):
        cache.narrow(faceset_of(chip, [False], [0]), 0.1, new_margin=0.2, size=64)


def test_packing_keeps_train_and_val_labels_and_near_identical_pixels(
    astronaut: NDArray[np.uint8], detector: faces.Detector, tmp_path: Path
) -> None:
    face = detector.detect(astronaut)[0]
    crops = np.stack([faces.crop_face(astronaut, face, margin=m, size=96) for m in (0.0, 0.1, 0.2)])
    faceset = faceset_of(crops, [True, False, True], [0, 2, 1])  # train, test, val
    cache.pack(faceset, 0.1, tmp_path / "packed.npz")
    unpacked, margin = cache.unpack_faceset(tmp_path / "packed.npz")
    assert margin == 0.1
    assert unpacked.names.tolist() == [faceset.names[0], faceset.names[2]]  # the test split stays behind
    assert unpacked.ages.tolist() == [20, 22] and unpacked.detected.tolist() == [True, True]
    assert unpacked.images.shape == (2, 96, 96, 3) and unpacked.images.dtype == np.uint8
    error = np.abs(unpacked.images.astype(np.float64) - crops[[0, 2]]).mean()
    assert 0 < error < 5  # lossy, but only just


def test_crops_placed_by_another_detector_go_to_a_cache_of_their_own(astronaut_jpeg: bytes) -> None:
    assert cache.cache_path(0.1, 128) != cache.cache_path(0.1, 128, "yunet")
    assert cache.cache_path(0.1, 128).name == "faces-m10-s128.npz"  # HOG's, as before
    hog_crop, _ = cache._crop((astronaut_jpeg, 0.1, 128, "hog"))
    yunet_crop, found = cache._crop((astronaut_jpeg, 0.1, 128, "yunet"))
    rgb = faces.decode(astronaut_jpeg)
    assert found and yunet_crop is not None and hog_crop is not None
    expected, _ = faces.chip_face(rgb, faces.YuNetDetector(), margin=0.1, size=128)
    assert np.array_equal(yunet_crop, expected)
    assert not np.array_equal(yunet_crop, hog_crop)
