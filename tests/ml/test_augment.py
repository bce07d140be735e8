"""Training-time augmentation: low resolution blurs a crop the way a small face in a photo is;
the camera's blur and noise act at the face's size in the photo; new surroundings change what
lies around the face and leave the face alone."""

from __future__ import annotations

import numpy as np

from ml.training import augment

STILL = {"flip": False, "rotate": 0.0, "zoom": 0.0, "shift": 0.0}


def stripes() -> np.ndarray:
    images = np.zeros((8, 64, 64, 3), np.uint8)
    images[:, :, ::2] = 255  # the finest detail there is
    return images


def test_without_lowres_a_still_geometry_leaves_the_crop_as_it_was() -> None:
    out = augment.geometry(stripes(), np.random.default_rng(0), STILL)
    assert np.array_equal(out, stripes())


def test_lowres_shrinks_and_enlarges_a_share_of_the_crops_losing_fine_detail() -> None:
    cfg = {**STILL, "lowres": {"p": 0.5, "min_side": 16}}
    out = augment.geometry(stripes(), np.random.default_rng(1), cfg)
    assert out.shape == stripes().shape
    detail = np.abs(np.diff(out.astype(np.float64), axis=2)).mean(axis=(1, 2, 3))
    blurred = detail < 200  # the stripes' neighbours differ by 255 where untouched
    assert 0 < blurred.sum() < len(out)  # some crops, not all
    assert np.allclose(out[blurred].mean(), 127.5, atol=3)  # blurred, not darkened or brightened


def test_surroundings_replace_the_edges_of_a_share_of_the_crops_and_leave_their_centres() -> None:
    images = np.full((16, 64, 64, 3), 128, np.uint8)
    cfg = {"p": 0.5, "inset": [0.1, 0.2], "fade": [0.0, 0.05]}
    out = augment.surroundings(images, np.random.default_rng(3), cfg)
    assert np.array_equal(images, np.full_like(images, 128))  # the input is untouched
    changed = np.any(out != 128, axis=(1, 2, 3))
    assert 0 < changed.sum() < len(out)
    # 0.2 x 64 = 12.8 px in, moved by up to half of that, then a fade of up to 3.2 px: the
    # middle 12 px are the face's own; the corners are the new background's.
    assert np.all(out[:, 26:38, 26:38] == 128)
    corners = out[changed][:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert np.abs(corners.astype(np.int16) - 128).mean() > 10


def detail(images: np.ndarray) -> np.ndarray:
    return np.abs(np.diff(images.astype(np.float64), axis=2)).mean(axis=(1, 2, 3))


def test_the_camera_changes_a_share_of_the_crops_and_leaves_the_rest_and_the_input_alone() -> None:
    images = stripes()
    out = augment.camera(images, np.random.default_rng(4), {"p": 0.5, "side_px": [28, 420]})
    assert np.array_equal(images, stripes())
    assert out.shape == images.shape and out.dtype == np.uint8
    changed = np.any(out != images, axis=(1, 2, 3))
    assert 0 < changed.sum() < len(out)
    assert np.array_equal(augment.camera(images, np.random.default_rng(4), {"p": 0.0, "side_px": [28, 420]}), images)


def test_the_camera_blurs_a_small_face_far_more_than_a_large_one() -> None:
    small = augment.camera(stripes(), np.random.default_rng(5), {"p": 1.0, "side_px": [32, 32]})
    large = augment.camera(stripes(), np.random.default_rng(5), {"p": 1.0, "side_px": [400, 400]})
    # The same conditions for both (one seed): only the face's size in the photo differs.
    # Stripes of one pixel are gone at 32 px; at 400 px the camera's blur is a sixth as wide.
    assert detail(small).max() < 20
    assert detail(large).min() > 60
