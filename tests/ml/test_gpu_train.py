"""ml/training/gpu_train.py: how many epochs fit the GPU budget, and putting the results in place."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from ml.training import gpu_train


def test_the_plan_scales_the_calibration_epoch_and_leaves_time_for_start_up_and_export() -> None:
    # calibration on 1/8 of the data: epoch 1 = 50 s (40 s of compiling), epoch 2 = 10 s of which 2 s validation
    calibration = [(50.0, 2.0), (10.0, 2.0)]
    epoch = 8 * 8.0 + 2.0  # 66 s on the full set
    seconds = 600.0
    expected = int((seconds - gpu_train.EXPORT_SECONDS - (40 + 20)) // epoch)
    assert gpu_train.epochs_that_fit(calibration, 8.0, seconds, most=40) == expected == 7
    assert gpu_train.epochs_that_fit(calibration, 8.0, seconds, most=5) == 5
    assert gpu_train.epochs_that_fit(calibration, 8.0, 30.0, most=40) == 1  # never zero


def test_install_puts_models_where_the_second_stages_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_train, "ROOT", tmp_path)
    returned = tmp_path / "returned"
    returned.mkdir()
    (returned / "ens-m0.keras").write_bytes(b"model")
    with tarfile.open(returned / "logs.tgz", "w:gz") as tar:
        for name, text in {
            "ens-m0/history.csv": "epoch\n0\n",
            "export/ens-m0/meta.json": json.dumps({"name": "ens-m0"}),
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    gpu_train.install(returned)
    work = tmp_path / "runs" / "gpu"
    assert (work / "export" / "ens-m0" / "model.keras").read_bytes() == b"model"
    assert (work / "ens-m0" / "history.csv").read_text() == "epoch\n0\n"
    assert json.loads((work / "export" / "ens-m0" / "meta.json").read_text()) == {"name": "ens-m0"}
