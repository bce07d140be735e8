"""The end-to-end scene builder: what it says it placed is where it placed it."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml import data, faces
from ml.training import scenes
from ml.training.evaluate import labelled_files


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
                crops.append(faces.crop_face(scene, face, 0.05, 128).astype(np.float64)[16:-16, 16:-16])
        diffs += [float(np.abs(crops[0] - other).mean()) for other in crops[1:]]
    return diffs


def test_yunet_follows_a_face_that_moves_more_steadily_than_hog(pool: list[tuple[data.Record, bytes]]) -> None:
    """HOG's boxes jump with its 8-px cell grid, so a face moved a few pixels gets a crop of
    another scale (model card, "Photos, not chips"); YuNet's follow the face."""
    yunet, hog = _moved_crop_changes(faces.YuNetDetector(), pool), _moved_crop_changes(faces.HogDetector(), pool)
    assert len(yunet) == 40  # YuNet found every face at every place
    assert np.median(yunet) < 0.75 * np.median(hog)


def test_the_end_to_end_report_scores_the_faces_it_found_and_splits_their_changes_by_size(
    pool: list[tuple[data.Record, bytes]], shipped_model: Path
) -> None:
    from ml.inference import Estimator

    estimator = Estimator(shipped_model)
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
    pool: list[tuple[data.Record, bytes]], shipped_model: Path
) -> None:
    from ml.inference import Estimator

    result = scenes.evaluate(Estimator(shipped_model), scenes.build_scenes(pool, 1, seed=3), 1)
    bands = result["recall_by_size"].values()
    assert any(band["n"] == 0 for band in bands)  # one photo holds at most three faces: four bands
    for band in bands:
        assert (band["recall"] is None) == (band["n"] == 0)
    json.loads(json.dumps(result, allow_nan=False))  # the saved report is strict JSON
