"""The end-to-end scene builder: what it says it placed is where it placed it."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml import data, faces
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
