"""A short training run on a handful of real faces: checkpoints, resume, export, serving.

The loop is tested from random weights (``pretrained=false``), so it needs no torch;
``tests/ml/test_backbone.py`` tests the ImageNet weights' conversion."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ml.inference import Estimator
from ml.training import cache, train

CONFIG = Path(__file__).resolve().parents[2] / "ml" / "training" / "configs" / "age101.yaml"


@pytest.fixture(scope="module")
def tiny_faces(utkface_sample: Path) -> cache.FaceSet:
    faceset, stats = cache.build_faceset(utkface_sample, margin=0.4, size=64, workers=1)
    assert stats["images"] == len(faceset.ages) > 0
    return faceset


def test_two_steps_of_training_checkpoint_resume_and_export(
    tiny_faces: cache.FaceSet, tmp_path: Path, astronaut: np.ndarray
) -> None:
    cfg = train.load_config(
        CONFIG,
        [
            "input_size=64",
            "batch_size=4",
            "limit=8",
            "head_epochs=1",
            "epochs=2",
            "detector=yunet",
            "pretrained=false",
            "run_eagerly=true",
        ],
    )
    run = tmp_path / "run"
    best = train.train(cfg, tiny_faces, val_set=tiny_faces, run_dir=run)
    assert best.exists() and (run / "last.keras").exists()
    assert json.loads((run / "state.json").read_text())["epoch"] == 2
    with open(run / "history.csv") as rows:
        history = list(csv.DictReader(rows))
    assert [int(r["epoch"]) for r in history] == [0, 1]
    assert all(np.isfinite(float(r["loss"])) and float(r["val_mae"]) >= 0 for r in history)

    cfg["epochs"] = 3
    train.train(cfg, tiny_faces, val_set=tiny_faces, run_dir=run, resume=True)
    assert json.loads((run / "state.json").read_text())["epoch"] == 3

    out = train.export(best, cfg, out_dir=tmp_path / "model", metrics={"val_mae": 1.0})
    meta = json.loads((out.parent / "meta.json").read_text())
    assert meta["input_size"] == 64 and meta["head"] == "dist101"
    result = Estimator(out.parent).estimate(astronaut)
    assert len(result.faces) == 1 and 0 <= result.faces[0].age <= 100


def test_training_batches_are_augmented_and_targets_stay_distributions(tiny_faces: cache.FaceSet) -> None:
    cfg = train.load_config(CONFIG, ["batch_size=8"])
    batches = train.Batches(tiny_faces, cfg, train=True, seed=0)
    x, y = batches[0]
    assert x.shape == (8, 64, 64, 3) and x.dtype == np.float32
    assert y.shape == (8, 102)
    assert y[:, :101].sum(axis=1) == pytest.approx(np.ones(8), abs=1e-5)
    plain_x, plain_y = train.Batches(tiny_faces, cfg, train=False)[0]
    assert not np.allclose(np.sort(x.ravel()), np.sort(plain_x.ravel()))
    assert plain_y[:, -1].tolist() == tiny_faces.ages[:8].tolist()


def test_a_config_with_surroundings_gives_its_batches_new_edges_around_the_same_faces(
    tiny_faces: cache.FaceSet,
) -> None:
    still = "{flip: false, rotate: 0, zoom: 0, shift: 0, brightness: 0, contrast: 0}"
    cfg = train.load_config(
        CONFIG,
        [
            "batch_size=8",
            f"augment={still}",
            "random_erasing={p: 0}",
            "mixup={p: 0}",
            "surroundings={p: 1.0, inset: [0.1, 0.1], fade: [0.0, 0.0]}",
        ],
    )
    x, _ = train.Batches(tiny_faces, cfg, train=True, seed=0)[0]
    picked = train.Batches(tiny_faces, cfg, train=True, seed=0).order[:8]
    faces = tiny_faces.images[picked].astype(np.float32)
    middle = (slice(None), slice(16, 48), slice(16, 48))  # 6.4 px in, moved by up to 3.2
    assert np.array_equal(x[middle], faces[middle])
    assert np.abs(x[:, :3] - faces[:, :3]).mean() > 10


@pytest.mark.parametrize(("warmup", "first_rate"), [(1, 0.0), (0, 5e-5)])
def test_the_schedule_warms_up_from_zero_or_starts_at_the_peak(warmup: int, first_rate: float) -> None:
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(101, activation="softmax", name="age")])
    cfg = train.load_config(CONFIG, [f"warmup_epochs={warmup}", "head_epochs=0", "epochs=2", "lr=5.0e-5"])
    train._compile(model, cfg, "finetune", steps=10)
    assert float(model.optimizer.learning_rate) == pytest.approx(first_rate, abs=1e-9)


def test_jpeg_augmentation_re_encodes_the_share_it_is_given(tiny_faces: cache.FaceSet) -> None:
    from ml.training import augment

    images = tiny_faces.images[:8]
    rng = np.random.default_rng(0)
    assert np.array_equal(augment.jpeg(images, rng, {"p": 0.0, "quality": [40, 95]}), images)
    changed = augment.jpeg(images, rng, {"p": 1.0, "quality": [40, 40]})
    assert changed.shape == images.shape and changed.dtype == np.uint8
    differences = np.abs(changed.astype(int) - images.astype(int)).mean(axis=(1, 2, 3))
    assert (differences > 0.5).all() and (differences < 12).all()  # JPEG's loss, not another image
