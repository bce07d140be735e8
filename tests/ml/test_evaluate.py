"""The evaluation CLI on any folder of UTKFace-named images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml import ages
from ml.studies import evaluate, report

ROOT = Path(__file__).resolve().parents[2]


def test_evaluate_prints_a_json_summary_last(
    utkface_sample: Path, shipped_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "preds.npz"
    evaluate.main(["--data", str(utkface_sample), "--json", "--limit", "12", "--save", str(saved)])
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["n"] == 12
    for key in ("mae", "cs5", "acc8", "no_face", "ms_per_image"):
        assert key in summary
    assert 0 <= summary["cs5"] <= 1 and 0 <= summary["acc8"] <= 1 and summary["mae"] >= 0
    assert saved.exists()


def test_the_fitted_temperature_makes_the_80_percent_range_hold_80_percent() -> None:
    rng = np.random.default_rng(0)
    true = rng.integers(5, 95, 2000)
    # Each distribution a Gaussian of sd 8 around an estimate that is off by sd 4: too wide.
    estimates = true + rng.normal(0, 4, len(true))
    dist = ages.gaussian_labels(estimates, 8.0)
    assert report.coverage(true, dist)["0.80"] > 0.95
    temperature = evaluate.fit_temperature(true, dist)
    assert temperature < 1
    assert report.coverage(true, ages.sharpen(dist, temperature))["0.80"] == pytest.approx(0.80, abs=0.01)
