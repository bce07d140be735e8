"""The end-to-end scene builder: what it says it placed is where it placed it."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from ml import camera, data, faces
from ml.inference import Estimator
from ml.studies import scenes
from ml.studies.evaluate import labelled_files
from ml.training import detectors


@pytest.fixture(scope="module")
def pool(utkface_sample: Path) -> list[tuple[data.Record, bytes]]:
    return list(labelled_files(utkface_sample, "all", clean=False))


def test_each_placed_chip_is_in_the_upright_scene_where_the_scene_says(pool: list[tuple[data.Record, bytes]]) -> None:
    rng = np.random.default_rng(3)
    orientations = set()
    for _ in range(12):
        scene = scenes.build_scene(rng, pool)
        orientations.add(scene.orientation)
        rgb = faces.decode(scene.image)  # applies the EXIF orientation
        assert rgb.shape[:2] == (scene.height, scene.width)
        assert 1 <= len(scene.placed) <= 3
        for placed in scene.placed:
            x, y, side, _ = placed.box
            assert x >= 0 and x + side <= scene.width and y >= 0 and y + side <= scene.height
            expected = cv2.resize(faces.decode(placed.chip), (side, side), interpolation=cv2.INTER_AREA)
            inner = slice(side // 5, side - side // 5)  # away from the soft edge
            got = rgb[y : y + side, x : x + side][inner, inner].astype(np.float64)
            assert np.abs(got - expected[inner, inner]).mean() < 8  # only the encoding's loss
            assert placed.record.age == data.parse_name(placed.record.name).age  # type: ignore[union-attr]
    assert len(orientations) > 1  # some scenes were stored turned, with their EXIF orientation


def test_a_detection_matches_the_chip_it_sits_in_at_a_plausible_size(pool: list[tuple[data.Record, bytes]]) -> None:
    record, chip = pool[0]
    placed = [scenes.Placed(record, chip, (100, 100, 200, 200)), scenes.Placed(record, chip, (400, 100, 100, 100))]
    detections = [(420, 120, 70, 70), (120, 120, 150, 150), (600, 300, 50, 50), (110, 110, 20, 20)]
    assert scenes.match(placed, detections) == {0: 1, 1: 0}


def _moved_crop_changes(detector: faces.Detector, pool: list[tuple[data.Record, bytes]]) -> list[float]:
    """How much a face's crop changes (mean grey levels) when its chip moves a few pixels."""
    diffs = []
    for _, blob in pool[:20]:
        chip = faces.decode(blob)
        crops = []
        for top, left in ((140, 170), (101, 203), (163, 157)):
            scene = np.full((480, 480, 3), 90, np.uint8)
            scene[top : top + 200, left : left + 200] = chip
            face = faces.main_face(scene, detector.detect(scene))
            if face is not None:
                crops.append(faces.crop_face(scene, face, margin=0.05, size=128).astype(np.float64)[16:-16, 16:-16])
        diffs += [float(np.abs(crops[0] - other).mean()) for other in crops[1:]]
    return diffs


def test_yunet_follows_a_face_that_moves_more_steadily_than_hog(pool: list[tuple[data.Record, bytes]]) -> None:
    """HOG's boxes jump with its 8-px cell grid, so a face moved a few pixels gets a crop of
    another scale (model card, "Photos, not chips"); YuNet's follow the face."""
    yunet, hog = _moved_crop_changes(faces.YuNetDetector(), pool), _moved_crop_changes(detectors.HogDetector(), pool)
    assert len(yunet) == 40  # YuNet found every face at every place
    assert np.median(yunet) < 0.75 * np.median(hog)


def test_the_end_to_end_report_scores_the_faces_it_found_and_splits_their_changes_by_size(
    pool: list[tuple[data.Record, bytes]], shipped_estimator: Estimator
) -> None:
    estimator = shipped_estimator
    result = scenes.evaluate(estimator, scenes.build_scenes(pool, 4, seed=3), 4)
    assert result["photos"] == 4 and result["placed"] >= 4
    assert result["placed"] == sum(len(s.placed) for s in scenes.build_scenes(pool, 4, seed=3))
    found = round(result["recall"] * result["placed"])
    assert result["n"] == found > 0  # every face found is scored, and only those
    moved = result["chip_vs_scene"]
    assert sum(part["n"] for part in moved["by_size"].values()) == moved["n"] == result["n"]
    assert moved["mae_photos"] == pytest.approx(result["mae"], abs=0.01)  # the same faces, the same estimates
    assert moved["mae_chips"] >= 0
    assert 0 <= result["acc8_ensemble"] <= 1  # the ensemble ships, so it is scored on the same faces


def test_a_size_band_without_faces_has_no_recall_rather_than_nan(
    pool: list[tuple[data.Record, bytes]], shipped_estimator: Estimator
) -> None:
    result = scenes.evaluate(shipped_estimator, scenes.build_scenes(pool, 1, seed=3), 1)
    bands = result["recall_by_size"].values()
    assert any(band["n"] == 0 for band in bands)  # one photo holds at most three faces: four bands
    for band in bands:
        assert (band["recall"] is None) == (band["n"] == 0)
    json.loads(json.dumps(result, allow_nan=False))  # the saved report is strict JSON


def test_the_contact_sheet_shows_the_faces_that_moved_most_as_the_model_saw_them(
    pool: list[tuple[data.Record, bytes]], shipped_estimator: Estimator, tmp_path: Path
) -> None:
    estimator = shipped_estimator
    everyone = scenes.ContactSheet(size=100)  # large enough to keep every face
    result = scenes.evaluate(estimator, scenes.build_scenes(pool, 4, seed=3), count=4, sheet=everyone)
    assert len(everyone.pairs) == result["chip_vs_scene"]["n"] >= 3
    sheet = scenes.ContactSheet(size=2)
    for pair in everyone.pairs:
        sheet.add(pair)
    top = sheet.top()
    assert [p.change for p in top] == sorted((p.change for p in everyone.pairs), reverse=True)[:2]
    for pair in top:
        assert pair.change == pytest.approx(abs(pair.photo_age - pair.chip_age))
        assert (
            pair.chip_crop.shape == pair.photo_crop.shape == (estimator.spec.input_size, estimator.spec.input_size, 3)
        )
        # the same face both times: the middle of its two crops (the face, not what lies around
        # it) is closer to each other than to the middle of any other face's photo crop
        same = _middle_distance(pair.chip_crop, pair.photo_crop)
        others = [_middle_distance(pair.chip_crop, p.photo_crop) for p in everyone.pairs if p is not pair]
        assert same < min(others)
    image = sheet.save(tmp_path / "sheet.png")
    assert image.size[0] > 4 * 2 * estimator.spec.input_size and (tmp_path / "sheet.png").stat().st_size > 0
    # the chip's crop is drawn where the sheet says: top left, from the first pair
    drawn = np.asarray(image)[10 : 10 + estimator.spec.input_size, 10 : 10 + estimator.spec.input_size]
    assert np.array_equal(drawn, top[0].chip_crop)


def _middle_distance(a: np.ndarray, b: np.ndarray) -> float:
    q = a.shape[0] // 4
    return float(np.abs(a[q:-q, q:-q].astype(int) - b[q:-q, q:-q].astype(int)).mean())


def _grey(canvas: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(canvas, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float64)


def _bands_either_side(grey: np.ndarray, box: tuple[int, int, int, int], width: int) -> list[float]:
    """For each side of the square ``box``: the mean difference between the grey levels just
    inside and just outside it at equal distances from it (each row or column of the band
    averaged along the side): small where what lies past the side goes on from the chip."""
    x, y, side, _ = box
    inside = [
        grey[y : y + width, x : x + side].mean(1),
        grey[y + side - width : y + side, x : x + side].mean(1)[::-1],
        grey[y : y + side, x : x + width].mean(0),
        grey[y : y + side, x + side - width : x + side].mean(0)[::-1],
    ]
    outside = [
        grey[y - width : y, x : x + side].mean(1)[::-1],
        grey[y + side : y + side + width, x : x + side].mean(1),
        grey[y : y + side, x - width : x].mean(0)[::-1],
        grey[y : y + side, x + side : x + side + width].mean(0),
    ]
    return [float(np.abs(a - b).mean()) for a, b in zip(inside, outside, strict=True)]


def test_a_portrait_keeps_the_chip_where_the_face_is_and_frames_it_with_no_square(
    pool: list[tuple[data.Record, bytes]],
) -> None:
    """What lies past a portrait chip's edge goes on from the chip (hair, ears, neck), and the
    step from its last row to the first row past it is no larger than between its own outer
    rows; the faded style shows a background there instead, the frame no photo has."""
    box = (200, 200, 200, 200)
    portrait, faded = [], []
    for record, chip in pool[:12]:
        for style, bands in (("portrait", portrait), ("faded", faded)):
            canvas = np.full((600, 600, 3), 128, np.float32)
            scenes.compose(canvas, [scenes.Placed(record, chip, box)], style=style)
            grey = _grey(canvas)
            bands += _bands_either_side(grey, box, width=20)
            if style == "portrait":
                expected = cv2.resize(faces.decode(chip), (200, 200), interpolation=cv2.INTER_AREA)
                assert np.array_equal(canvas[200:400, 200:400], expected)  # the chip's own pixels, exactly
                across = np.abs(grey[199, 200:400] - grey[200, 200:400]).mean()  # the top edge
                within = np.abs(grey[200, 200:400] - grey[201, 200:400]).mean()
                assert across <= 1.25 * within + 0.5
    assert np.mean(portrait) < 5 and max(portrait) < 10
    assert np.mean(faded) > 10  # the test can tell: the faded style fails it


def test_portraits_that_stand_near_each_other_keep_each_face_and_leave_no_seam(
    pool: list[tuple[data.Record, bytes]],
) -> None:
    (a, chip_a), (b, chip_b) = pool[0], pool[1]
    placed = [scenes.Placed(a, chip_a, (100, 150, 200, 200)), scenes.Placed(b, chip_b, (340, 150, 200, 200))]
    canvas = np.full((500, 640, 3), 128, np.float32)
    scenes.compose(canvas, placed, style="portrait")
    for p in placed:
        x, y, side, _ = p.box
        expected = cv2.resize(faces.decode(p.chip), (side, side), interpolation=cv2.INTER_AREA)
        assert np.array_equal(canvas[y : y + side, x : x + side], expected)
    grey = _grey(canvas)
    # each chip's side that faces the other is still continued by its own surroundings
    assert _bands_either_side(grey, placed[0].box, width=15)[3] < 8
    assert _bands_either_side(grey, placed[1].box, width=15)[2] < 8


def test_the_same_seed_gives_the_same_photos_and_every_style_and_choice_of_degradations_the_same_faces(
    pool: list[tuple[data.Record, bytes]],
) -> None:
    def layout(scene: scenes.Scene) -> list[tuple[str, tuple[int, int, int, int]]]:
        return [(p.record.name, p.box) for p in scene.placed]

    first = list(scenes.build_scenes(pool, 2, seed=4))
    assert [s.image for s in first] == [s.image for s in scenes.build_scenes(pool, 2, seed=4)]
    assert first[0].image != next(scenes.build_scenes(pool, 1, seed=5)).image
    assert all(s.conditions is not None for s in first)
    for style, apply in (("faded", ()), ("portrait", ("blur",))):
        others = list(scenes.build_scenes(pool, 2, seed=4, style=style, apply=apply))
        assert [layout(s) for s in others] == [layout(s) for s in first]
        assert [s.conditions for s in others] == [s.conditions if apply else None for s in first]
    with pytest.raises(ValueError, match="style"):
        next(scenes.build_scenes(pool, 1, seed=4, style="collage"))


def test_the_styles_differ_only_around_the_faces(pool: list[tuple[data.Record, bytes]]) -> None:
    faded, portrait = (scenes.build_scene(np.random.default_rng(6), pool, style=style) for style in scenes.STYLES)
    a, b = (faces.decode(scene.image).astype(np.float64) for scene in (faded, portrait))
    x, y, side, _ = faded.placed[0].box
    inner = (slice(y + side // 5, y + side - side // 5), slice(x + side // 5, x + side - side // 5))
    assert np.abs(a[inner] - b[inner]).mean() < 4  # the face: the same chip (only encodings differ)
    ring = np.zeros(a.shape[:2], bool)
    ring[max(y - side // 10, 0) : y + side + side // 10, max(x - side // 10, 0) : x + side + side // 10] = True
    ring[y + side // 10 : y + side - side // 10, x + side // 10 : x + side - side // 10] = False
    assert np.abs(a[ring] - b[ring]).mean() > 8  # around it: a fade against surroundings


def test_the_degradations_are_named_as_a_study_asks_for_them() -> None:
    assert camera.parse("all") == camera.DEGRADATIONS
    assert camera.parse("none") == ()
    assert camera.parse("jpeg, blur") == ("blur", "jpeg")  # in the order they are applied
    with pytest.raises(ValueError, match="fog"):
        camera.parse("blur,fog")


def _neutral(**changes: Any) -> camera.Conditions:
    """Conditions that change nothing, but for ``changes``."""
    still = camera.Conditions(
        exposure=0.0,
        cast=(1.0, 1.0, 1.0),
        gradient=(0.0, 0.0),
        gamma=1.0,
        defocus=0.0,
        shake=(0.0, 0.0),
        resample=1.0,
        sharpen=0.0,
        noise=0.0,
        noise_seed=0,
        qualities=(90,),
    )
    return dataclasses.replace(still, **changes)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data as images

    return cv2.resize(np.asarray(images.astronaut()), (256, 256), interpolation=cv2.INTER_AREA)


def test_conditions_that_change_nothing_leave_the_photo_as_it_was(photo: np.ndarray) -> None:
    assert np.abs(camera.develop(photo, _neutral(), camera.DEGRADATIONS).astype(int) - photo).max() <= 1


def test_exposure_and_the_tone_curve_change_the_brightness_as_asked(photo: np.ndarray) -> None:
    def mean(**changes: Any) -> float:
        return float(camera.develop(photo, _neutral(**changes), ["light"]).mean())

    assert mean(exposure=-1.0) < photo.mean() - 20 < photo.mean() + 20 < mean(exposure=0.7)
    assert mean(gamma=1.15) < photo.mean() < mean(gamma=0.85)
    warm = camera.develop(photo, _neutral(cast=(1.1, 1.0, 0.9)), ["light"]).mean(axis=(0, 1))
    assert warm[0] > photo[..., 0].mean() and warm[2] < photo[..., 2].mean()
    lit = camera.develop(photo, _neutral(gradient=(0.3, 0.0)), ["light"]).astype(float)  # brighter to the right
    assert lit[:, -32:].mean() - photo[:, -32:].mean() > 10 and photo[:, :32].mean() - lit[:, :32].mean() > 10
    assert np.array_equal(camera.develop(photo, _neutral(exposure=0.7), ["blur", "noise"]), photo)  # light not asked


def _detail(rgb: np.ndarray) -> float:
    """High-frequency energy: the variance of the Laplacian of the grey image."""
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64), cv2.CV_64F).var())


@pytest.mark.parametrize(
    "changes", [{"defocus": 1.2}, {"shake": (5.0, 0.7)}, {"resample": 0.6}], ids=["defocus", "shake", "resample"]
)
def test_blur_takes_away_fine_detail(photo: np.ndarray, changes: dict[str, Any]) -> None:
    blurred = camera.develop(photo, _neutral(**changes), ["blur"])
    assert _detail(blurred) < 0.7 * _detail(photo)
    assert abs(float(blurred.mean()) - float(photo.mean())) < 1  # and leaves the light alone


def test_noise_is_reproducible_and_stronger_in_a_darker_photo(photo: np.ndarray) -> None:
    def spread(image: np.ndarray, seed: int = 1) -> float:
        noisy = camera.develop(image, _neutral(noise=3.0, noise_seed=seed), ["noise"])
        return float((noisy.astype(float) - image).std())

    assert spread(photo) == spread(photo)
    assert not np.array_equal(
        camera.develop(photo, _neutral(noise=3.0, noise_seed=1), ["noise"]),
        camera.develop(photo, _neutral(noise=3.0, noise_seed=2), ["noise"]),
    )
    dark = (photo * 0.3).astype(np.uint8)
    assert 2 < spread(photo) < 5 and spread(dark) > 2 * spread(photo)


def test_jpeg_reencoding_stores_the_photo_as_a_phone_would(photo: np.ndarray) -> None:
    image = Image.fromarray(photo)
    exif = Image.Exif()
    exif[0x0112] = 1
    once, twice = _neutral(qualities=(90,)), _neutral(qualities=(95, 60))

    def stored(conditions: camera.Conditions, apply: tuple[str, ...], fmt: str) -> bytes:
        return camera.encode(image, conditions, apply, fmt, exif.tobytes())

    assert np.array_equal(faces.decode(stored(once, (), "PNG")), photo)  # not asked for: lossless stays lossless
    assert not np.array_equal(faces.decode(stored(once, ("jpeg",), "PNG")), photo)  # a JPEG saved as PNG
    assert stored(once, ("jpeg",), "JPEG") != stored(once, (), "JPEG")  # the phone's quality, not QUALITY
    assert stored(once, ("jpeg",), "JPEG") == stored(once, ("jpeg",), "JPEG")
    error = {
        q: float(np.abs(faces.decode(stored(c, ("jpeg",), "JPEG")).astype(float) - photo).mean())
        for q, c in (("once", once), ("twice", twice))
    }
    assert error["twice"] > error["once"] > 0  # saved again, at a lower quality, loses more
    assert Image.open(io.BytesIO(stored(twice, ("jpeg",), "JPEG"))).getexif()[0x0112] == 1  # EXIF kept
