"""The site's data-set exports in ml/: read, evaluated whole, and fine-tuned on with weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from ml import ages, data, faces
from ml.inference import Estimator
from ml.studies import evaluate
from ml.training import cache, train

ROOT = Path(__file__).resolve().parents[2]
FINETUNE = ROOT / "ml" / "training" / "configs" / "age101-finetune.yaml"
SPLITS = ["train", "train", "train", "train", "val", "val", "test"]


def write_export(folder: Path, rgb: NDArray[np.uint8], detector: faces.Detector, release: int, first_age: int) -> Path:
    """An export as ``manage.py export_dataset`` writes it: real aligned crops of a face (shifted
    a little each), a manifest with the estimates shown at the time, a release file."""
    [face] = detector.detect(rgb)
    folder.mkdir(parents=True)
    lines = []
    for i, split in enumerate(SPLITS):
        x, y, w, h = face.box
        moved = faces.Detection(box=(x + 3 * i, y - 2 * i, w, h), landmarks=face.landmarks, score=face.score)
        age = first_age + 4 * i
        name = f"{age}_{release * 100 + i}.jpg"
        Image.fromarray(faces.crop_face(rgb, moved, margin=0.1, size=128)).save(folder / name, quality=95)
        lines.append({"id": release * 100 + i, "file": name, "age": age, "estimate": 38.5 + i / 3, "split": split})
    (folder / data.EXPORT_MANIFEST).write_text("".join(json.dumps(line) + "\n" for line in lines))
    meta = {"release": release, "hash": f"{release:064x}", "margin": 0.1, "size": 128, "count": len(lines)}
    (folder / data.EXPORT_RELEASE).write_text(json.dumps(meta))
    return folder


@pytest.fixture(scope="module")
def uploads_detector() -> faces.Detector:
    """Exports hold faces of uploads, found by the uploads' detector."""
    return faces.upload_detector()


@pytest.fixture(scope="module")
def export(
    tmp_path_factory: pytest.TempPathFactory, astronaut: NDArray[np.uint8], uploads_detector: faces.Detector
) -> Path:
    return write_export(tmp_path_factory.mktemp("exports") / "release-1", astronaut, uploads_detector, 1, 20)


@pytest.fixture(scope="module")
def second_export(
    tmp_path_factory: pytest.TempPathFactory, astronaut: NDArray[np.uint8], uploads_detector: faces.Detector
) -> Path:
    flipped = astronaut[:, ::-1].copy()
    return write_export(tmp_path_factory.mktemp("exports") / "release-2", flipped, uploads_detector, 2, 50)


def test_an_export_is_recognised_and_read(export: Path, tmp_path: Path) -> None:
    assert data.is_export(export) and not data.is_export(tmp_path)
    read = data.read_export(export)
    assert read.release["release"] == 1 and len(read.items) == len(SPLITS)
    assert [item["file"] for item in read.split("val")] == ["36_104.jpg", "40_105.jpg"]
    assert data.parse_name(read.items[0]["file"]) == data.Labels(age=20, gender=None, race=None)
    with pytest.raises(ValueError, match="not an export"):
        data.read_export(tmp_path)


def test_an_export_becomes_training_faces_at_the_configs_size(export: Path) -> None:
    faceset, release = cache.from_export(export, margin=0.1, size=64)
    assert faceset.images.shape == (len(SPLITS), 64, 64, 3) and faceset.images.dtype == np.uint8
    assert faceset.ages.tolist() == [20 + 4 * i for i in range(len(SPLITS))]
    assert faceset.subset("train").ages.tolist() == [20, 24, 28, 32]
    assert release["release"] == 1
    with pytest.raises(ValueError, match="cannot widen"):
        cache.from_export(export, margin=0.4, size=64)


def test_evaluate_scores_an_exports_crops_whole_and_reports_the_shown_estimates(
    export: Path, shipped_estimator: Estimator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blank = export.parent / "with-blank"
    if not blank.exists():  # a crop with no face in it: detection would drop it, scoring whole keeps it
        import shutil

        shutil.copytree(export, blank)
        Image.new("RGB", (128, 128), (128, 128, 128)).save(blank / "20_100.jpg")
    evaluate.main(["--data", str(blank), "--json", "--save", str(tmp_path / "p.npz")])
    printed = capsys.readouterr().out
    result: dict[str, Any] = json.loads(printed.strip().splitlines()[-1])
    items = data.read_export(blank).items
    labels = np.array([item["age"] for item in items], np.float64)
    shown = np.array([item["estimate"] for item in items])
    assert result["aligned"] is True and result["release"] == 1 and result["n"] == len(items)
    assert result["stored"]["n"] == len(items)
    assert result["stored"]["mae"] == round(float(np.abs(shown - labels).mean()), 3)
    # The model's own MAE: each crop through the model once, exactly as it is.
    estimator = shipped_estimator
    crops = np.stack([faces.decode(blank / item["file"]) for item in items])
    expected = ages.expected_age(estimator.age_model(crops))
    assert result["mae"] == pytest.approx(float(np.abs(expected - labels).mean()), abs=2e-3)
    assert "aligned crops of release 1" in printed


def test_weighted_sources_are_drawn_in_proportion(export: Path) -> None:
    faceset, _ = cache.from_export(export, margin=0.1, size=64)
    cfg = train.load_config(FINETUNE, ["input_size=64", "batch_size=7"])
    both = cache.concat([faceset, faceset])
    weights = np.array([1.0] * len(SPLITS) + [9.0] * len(SPLITS))
    drawn = np.concatenate([train.Batches(both, cfg, train=True, seed=s, weights=weights).order for s in range(200)])
    heavy_share = float((drawn >= len(SPLITS)).mean())
    assert heavy_share == pytest.approx(0.9, abs=0.02)
    plain = train.Batches(both, cfg, train=True, seed=0, weights=np.ones(len(both.ages))).order
    assert sorted(plain.tolist()) == list(range(len(both.ages)))  # equal weights: a plain shuffle


def test_fine_tuning_starts_from_the_shipped_model_and_names_its_releases(
    export: Path,
    second_export: Path,
    shipped_model: Path,
    tmp_path: Path,
    astronaut: NDArray[np.uint8],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Fast: 32-px crops, one epoch of two steps, only the last block and the head trained.
    overrides = [
        "input_size=32",
        "batch_size=4",
        "epochs=1",
        "first_trainable_block=6",
        "feedback_weight=3",
        "run_eagerly=true",
    ]
    cfg = train.load_config(FINETUNE, [*overrides, f"sources=[{{path: {export}, weight: 1.0}}]"])
    sources = train.load_sources(cfg, None, [str(second_export)])
    assert len(sources.train.ages) == 8 and len(sources.val.ages) == 4
    assert sources.weights.tolist() == [1.0] * 4 + [3.0] * 4
    assert [r["release"] for r in sources.releases] == [1, 2]
    import keras

    start, shipped = train._new_model(cfg), keras.models.load_model(shipped_model / "model.keras", compile=False)
    for layer in ("age", "head_conv"):
        for ours, theirs in zip(
            start.get_layer(layer).get_weights(), shipped.get_layer(layer).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(ours, theirs)
    best = train.train(cfg, sources.train, val_set=sources.val, run_dir=tmp_path / "run", weights=sources.weights)
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert len(history) == 2  # one epoch of 8 // 4 = 2 steps
    # The LiteRT conversion on the way out is test_train's; this export is scored on Keras.
    converted: list[Path] = []
    monkeypatch.setattr(train.litert, "convert_to_litert", converted.append)
    out = train.export(best, cfg, out_dir=tmp_path / "export", metrics={"val_mae": 1.0}, releases=sources.releases)
    assert converted == [out.parent]
    meta = json.loads((out.parent / "meta.json").read_text())
    assert [(r["release"], r["hash"]) for r in meta["releases"]] == [(1, f"{1:064x}"), (2, f"{2:064x}")]
    assert "release 1" in meta["trained_on"] and "release 2" in meta["trained_on"]
    assert meta["version"].startswith("age101-ft-") and meta["tta_margins"] == [0.05, 0.15]
    assert not (shipped_model / "runs" / "finetune").exists()
    from ml.inference import Estimator

    result = Estimator(out.parent, runtime="keras").estimate(astronaut)
    assert len(result.faces) == 1 and 0 <= result.faces[0].age <= 100
