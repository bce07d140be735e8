"""The evaluation CLI on any folder of UTKFace-named images."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_evaluate_prints_a_json_summary_last(utkface_sample: Path, shipped_model: Path, tmp_path: Path) -> None:
    saved = tmp_path / "preds.npz"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ml.training.evaluate",
            "--data",
            str(utkface_sample),
            "--json",
            "--limit",
            "12",
            "--save",
            str(saved),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["n"] == 12
    for key in ("mae", "cs5", "acc8", "no_face", "ms_per_image"):
        assert key in summary
    assert 0 <= summary["cs5"] <= 1 and 0 <= summary["acc8"] <= 1 and summary["mae"] >= 0
    assert saved.exists()
