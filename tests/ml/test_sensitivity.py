"""The sensitivity probe: each change does what its name says, and the report measures it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml import faces
from ml.inference import Estimator
from ml.studies import sensitivity
from ml.studies.evaluate import labelled_files


@pytest.fixture(scope="module")
def chips(utkface_sample: Path) -> list[tuple[int, bytes]]:
    return [(record.age, blob) for record, blob in labelled_files(utkface_sample, "all", clean=False)]


def test_each_change_changes_what_its_name_says_and_leaves_the_face(chips: list[tuple[int, bytes]]) -> None:
    rgb = faces.decode(chips[0][1])
    changed = {
        name: change(rgb).astype(np.float64) for name, change in sensitivity.changes(np.random.default_rng(0)).items()
    }
    for name, image in changed.items():
        assert image.shape == rgb.shape, name
    middle = (slice(40, 160), slice(40, 160))
    original = rgb.astype(np.float64)
    assert np.abs(changed["jpeg88"] - original).mean() < 4  # only the encoding's loss
    assert np.array_equal(changed["shift1"][1:, 1:], original[:-1, :-1])
    assert np.array_equal(changed["surroundings"][middle], original[middle])  # the face untouched
    assert np.abs(changed["surroundings"][:4] - original[:4]).mean() > 10  # its edge replaced

    def detail(image: np.ndarray) -> float:
        return float(np.abs(np.diff(image, axis=1)).mean())

    assert detail(changed["shrink60"]) < detail(changed["shrink100"]) < detail(original)


def test_the_report_measures_no_change_as_none_and_a_changed_face_as_moved(
    shipped_estimator: Estimator, chips: list[tuple[int, bytes]]
) -> None:
    estimator = shipped_estimator
    named = {"none": lambda rgb: rgb, "darker": lambda rgb: (rgb // 3).astype(np.uint8)}
    report = sensitivity.measure(estimator, chips[:6], named=named)
    assert report["n"] >= 5  # the faces found in their chips
    none = report["changes"]["none"]
    for how in ("same_box", "detected"):
        assert none[how]["n"] == report["n"]
        assert none[how]["median_change"] == 0 and none[how]["share_over_5"] == 0
        assert none[how]["mae"] == pytest.approx(report["mae"], abs=1e-3)
    assert report["changes"]["darker"]["same_box"]["median_change"] > 0.1
