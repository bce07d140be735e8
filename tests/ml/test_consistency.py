"""python -m ml.studies.consistency: one face's ages over variants of its photo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml.studies import consistency


def test_the_consistency_study_reports_each_variant_and_a_mirror_gives_the_same_age(
    utkface_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "consistency.json"
    consistency.main(["--data", str(utkface_sample), "--split", "all", "--faces", "4", "--save", str(out)])
    report = json.loads(out.read_text())["ours"]
    assert report["faces"] == 4
    assert set(report["variants"]) == {"original", *consistency.VARIANTS}
    found = report["variants"]["original"]["found"]
    assert found > 0 and report["spread"]["median"] is not None
    assert report["mirror"]["p90"] < 0.5  # the served crop of a mirrored face is (nearly) the mirrored crop
    assert "spread over the variants" in capsys.readouterr().out


def test_a_face_whose_ages_differ_by_three_years_has_a_spread_of_three() -> None:
    rows = [
        {"true": 30.0, "ages": {"original": 30.0, "mirror": 31.0, "half": 28.0, "jpeg60": None}},
        {"true": 50.0, "ages": {"original": 50.0, "mirror": 50.0, "half": None, "jpeg60": 51.0}},
    ]
    report = consistency.summarise(rows)
    assert report["spread"]["median"] == 2.0  # 3 and 1
    assert report["mirror"]["median"] == 0.5  # 1 and 0
    assert report["variants"]["half"]["found"] == 0.5 and report["variants"]["half"]["mae"] == 2.0
