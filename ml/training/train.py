"""Train an age model from a config file, resumably, and export it for serving.

    python -m ml.training.train --config ml/training/configs/age101.yaml --data data/UTKFace.tar.gz
    python -m ml.training.train --config ml/training/configs/age101-finetune.yaml --data ... --feedback EXPORT_DIR

Data sources: the config's ``sources`` list, each ``{path, weight}``, where the path
``utkface`` is the UTKFace face cache and any other path is an export of the site's
reviewed feedback (``manage.py export_dataset``); ``--feedback DIR`` adds one with the
config's ``feedback_weight``. Without ``sources``, UTKFace alone. A weight sets how often a
source's images are drawn relative to the others' (sampled with replacement, an epoch
still being as many images as the sources hold); the exported model's ``meta.json`` lists
the data-set releases it learned from (``releases``).

Face crops come from the cache (:mod:`ml.training.cache`, built on first use from ``--data``).
Two stages: the new head alone on a frozen backbone, then fine-tuning from block
``first_trainable_block`` on with a warm-up and cosine decay. Each epoch ends with a
validation pass on exact ages and a checkpoint (``last.keras``, ``best.keras``) in the run
folder, which also keeps the config, ``history.csv`` and ``run.json``; ``--resume`` goes
on from ``last.keras``. ``--export DIR`` writes the best model and its ``meta.json``.

The code is Keras 3 and numpy only, so ``KERAS_BACKEND=jax`` (or ``torch``) runs it on a GPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import yaml
from numpy.typing import NDArray

from ml import ages
from ml.training import augment, cache, detectors, litert
from ml.training.model import AgeLoss, build_model, set_trainable

ROOT = Path(__file__).resolve().parents[2]


def load_config(path: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    return load_config_dict(yaml.safe_load(Path(path).read_text()), overrides)


def load_config_dict(cfg: dict[str, Any], overrides: list[str] | None = None) -> dict[str, Any]:
    """A copy of ``cfg`` with ``KEY=VALUE`` overrides (values in YAML)."""
    cfg = dict(cfg)
    for item in overrides or []:
        key, _, value = item.partition("=")
        cfg[key] = yaml.safe_load(value)
    return cfg


def targets(faceset: cache.FaceSet, cfg: dict[str, Any]) -> NDArray[np.float32]:
    """``[label distribution..., age]`` per image, for the config's head."""
    a, b = cfg["label_sigma"]
    dist = ages.gaussian_labels(faceset.ages, a + b * faceset.ages)
    if cfg["head"] == "groups8":
        dist = ages.group_probs(dist)
    elif cfg["head"] == "regression":
        dist = np.zeros((len(faceset.ages), 0))
    return np.concatenate([dist, faceset.ages[:, None]], axis=1).astype(np.float32)


class Batches(keras.utils.PyDataset):  # type: ignore[misc]
    """Shuffled, augmented training batches (or plain ones with ``train=False``)."""

    def __init__(
        self,
        faceset: cache.FaceSet,
        cfg: dict[str, Any],
        train: bool,
        seed: int = 0,
        weights: NDArray[np.float64] | None = None,
    ) -> None:
        # ``workers`` threads prepare batches ahead (OpenCV and numpy release the GIL).
        super().__init__(workers=cfg.get("workers", 1), use_multiprocessing=False)
        self.images, self.targets = faceset.images, targets(faceset, cfg)
        # Per-image sampling weights (several sources); None or all equal: a plain shuffle.
        self.weights = None if weights is None or np.all(weights == weights[0]) else weights / weights.sum()
        self.cfg, self.train = cfg, train
        self.batch_size = cfg["batch_size"]
        self.seed, self.epoch = seed, 0
        self.order = self._shuffled() if train else np.arange(len(self.images))

    def _shuffled(self) -> NDArray[np.int64]:
        rng = np.random.default_rng((self.seed, self.epoch))
        if self.weights is not None:
            return rng.choice(len(self.images), size=len(self.images), replace=True, p=self.weights)
        return rng.permutation(len(self.images))

    def __len__(self) -> int:
        if self.train:
            return max(1, len(self.images) // int(self.batch_size))
        return math.ceil(len(self.images) / int(self.batch_size))

    def __getitem__(self, index: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        picked = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images, y = self.images[picked], self.targets[picked]
        if not self.train:
            return images.astype(np.float32), y
        cfg, rng = self.cfg, np.random.default_rng((self.seed, self.epoch, index))  # per batch: thread-safe
        if cfg.get("surroundings"):
            images = augment.surroundings(images, rng, cfg["surroundings"])
        moved = augment.geometry(images, rng, cfg["augment"])
        if cfg.get("camera"):
            moved = augment.camera(moved, rng, cfg["camera"])
        if cfg.get("jpeg"):
            moved = augment.jpeg(moved, rng, cfg["jpeg"])
        x = augment.photometric(moved.astype(np.float32), rng, cfg["augment"])
        if cfg["random_erasing"]["p"]:
            x = augment.random_erasing(x, rng, cfg["random_erasing"])
        if cfg["mixup"]["p"]:
            x, y = augment.mixup(x, y, rng=rng, cfg=cfg["mixup"])
        return x, y

    def on_epoch_end(self) -> None:
        if self.train:
            self.epoch += 1
            self.order = self._shuffled()


def predict_ages(model: keras.Model, images: NDArray[np.uint8], head: str, batch: int = 128) -> NDArray[np.float64]:
    """Point age estimates: expected value (dist101), or the regression output."""
    out = model.predict(images.astype(np.float32), batch_size=batch, verbose=0)
    return ages.expected_age(out) if head == "dist101" else np.asarray(out[:, 0], np.float64)


class Validate(keras.callbacks.Callback):  # type: ignore[misc]
    """Validation on exact ages; checkpoints ``last`` and ``best`` and the run state."""

    def __init__(self, val: cache.FaceSet, cfg: dict[str, Any], run_dir: Path, best: float) -> None:
        super().__init__()
        self.val, self.cfg, self.run_dir, self.best = val, cfg, run_dir, best
        self.started = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        validation_started = time.monotonic()
        out = self.model.predict(self.val.images.astype(np.float32), batch_size=128, verbose=0)
        if self.cfg["head"] == "groups8":
            score = float(1.0 - (out.argmax(1) == ages.group_of(self.val.ages)).mean())
            logs["val_acc8"] = 1.0 - score
        else:
            pred = ages.expected_age(out) if self.cfg["head"] == "dist101" else out[:, 0]
            score = float(np.abs(pred - self.val.ages).mean())
            logs["val_mae"] = score
        logs["seconds"] = time.monotonic() - self.started  # training and validation
        logs["val_seconds"] = time.monotonic() - validation_started
        self.model.save(self.run_dir / "last.keras")
        if score < self.best:
            self.best = score
            self.model.save(self.run_dir / "best.keras")
        state = {"epoch": epoch + 1, "best": self.best}
        (self.run_dir / "state.json").write_text(json.dumps(state))
        print(f"epoch {epoch + 1}: {json.dumps({k: round(float(v), 4) for k, v in logs.items()})}", flush=True)


def _compile(model: keras.Model, cfg: dict[str, Any], stage: str, steps: int) -> None:
    if stage == "head":
        set_trainable(model, None)
        optimizer: keras.optimizers.Optimizer = keras.optimizers.Adam(cfg["head_lr"])
    else:
        set_trainable(model, cfg["first_trainable_block"])
        total = steps * (cfg["epochs"] - cfg["head_epochs"])
        warmup = min(total // 2, steps * cfg["warmup_epochs"])
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else cfg["lr"], max(1, total - warmup), warmup_target=cfg["lr"], warmup_steps=warmup
        )
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=cfg["weight_decay"])
    # run_eagerly: no graph is traced, which costs more than a smoke test's few steps
    model.compile(
        optimizer=optimizer, loss=AgeLoss(cfg["head"], cfg["l1"]), run_eagerly=bool(cfg.get("run_eagerly", False))
    )


def train(
    cfg: dict[str, Any],
    train_set: cache.FaceSet,
    val_set: cache.FaceSet,
    run_dir: Path,
    resume: bool = False,
    weights: NDArray[np.float64] | None = None,
) -> Path:
    """Run (or resume) both stages; returns the path of the best checkpoint. ``weights``:
    one sampling weight per training image (see the module docstring)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    keras.utils.set_random_seed(cfg["seed"])
    if cfg.get("limit"):
        train_set = _head(train_set, cfg["limit"])
        weights = None if weights is None else weights[: cfg["limit"]]
    state = json.loads((run_dir / "state.json").read_text()) if resume and (run_dir / "state.json").exists() else None
    seed = cfg["seed"] + (state["epoch"] if state else 0)
    batches = Batches(train_set, cfg, train=True, seed=seed, weights=weights)
    verbose = 1 if sys.stdout.isatty() else 2
    best = state["best"] if state else math.inf
    epoch = state["epoch"] if state else 0
    model = keras.models.load_model(run_dir / "last.keras") if state else _new_model(cfg)
    for stage, end in (("head", cfg["head_epochs"]), ("finetune", cfg["epochs"])):
        if epoch >= end:
            continue
        if not (state and stage == "finetune" and epoch > cfg["head_epochs"]):
            _compile(model, cfg, stage=stage, steps=len(batches))  # else the checkpoint's optimizer goes on
        callbacks = [
            Validate(val_set, cfg, run_dir, best),
            keras.callbacks.CSVLogger(run_dir / "history.csv", append=True),
        ]
        model.fit(batches, epochs=end, initial_epoch=epoch, callbacks=callbacks, verbose=verbose)
        best, epoch = callbacks[0].best, end
    return run_dir / "best.keras"


def _new_model(cfg: dict[str, Any]) -> keras.Model:
    """A fresh model on the ImageNet backbone (random with ``pretrained: false``), or on the
    backbone of a trained age model (``init_from``: a .keras file), whose weights are copied
    layer by layer; with ``init_head`` the head too (to go on training a model with another
    schedule)."""
    model = build_model(
        head=cfg["head"],
        variant=cfg["variant"],
        input_size=cfg["input_size"],
        dropout=cfg["dropout"],
        drop_connect=cfg["drop_connect"],
        # ImageNet weights (read once with torch) unless a trained model's are copied in, or
        # the config asks for none (``pretrained: false``: a test of the training loop).
        pretrained=cfg.get("pretrained", True) and not cfg.get("init_from"),
    )
    if cfg.get("init_from"):
        source = keras.models.load_model(ROOT / cfg["init_from"], compile=False)
        for layer in model.layers:
            if layer.weights and (cfg.get("init_head") or not layer.name.startswith("age")):
                layer.set_weights(source.get_layer(layer.name).get_weights())
    return model


def _head(faceset: cache.FaceSet, n: int) -> cache.FaceSet:
    return cache.FaceSet(*(getattr(faceset, f)[:n] for f in faceset.__dataclass_fields__))


@dataclass
class Sources:
    """The training and validation faces of every source, with per-image sampling weights."""

    train: cache.FaceSet
    val: cache.FaceSet
    weights: NDArray[np.float64]
    releases: list[dict[str, Any]]  # the site's data-set releases among the sources


UTKFACE = "utkface"


def load_sources(cfg: dict[str, Any], data: str | None, feedback: list[str] | None = None) -> Sources:
    """Every source of the config plus ``feedback`` exports (see the module docstring)."""
    sources = list(cfg.get("sources") or [{"path": UTKFACE, "weight": 1.0}])
    sources += [{"path": path, "weight": cfg.get("feedback_weight", 1.0)} for path in feedback or []]
    trains, vals, weights, releases = [], [], [], []
    for source in sources:
        if source["path"] == UTKFACE:
            faceset = utkface_faces(cfg, data)
        else:
            faceset, release = cache.from_export(_resolve(source["path"]), cfg["margin"], cfg["input_size"])
            releases.append({"release": release.get("release"), "hash": release.get("hash"), "path": source["path"]})
        trains.append(faceset.subset("train"))
        vals.append(faceset.subset("val"))
        weights.append(np.full(len(trains[-1].ages), float(source["weight"])))
    return Sources(cache.concat(trains), cache.concat(vals), weights=np.concatenate(weights), releases=releases)


def _resolve(path: str) -> Path:
    """A path as given (absolute, or relative to the working folder), else under the project."""
    given = Path(path).expanduser()
    return given if given.is_absolute() or given.exists() else ROOT / given


def utkface_faces(cfg: dict[str, Any], data: str | None) -> cache.FaceSet:
    """UTKFace's crops at the config's margin and size, from the face cache (built from ``data``)."""
    # whose faces place the crops (ml.training.detectors.DETECTORS), and how (ml.faces.alignment_matrix)
    detector = detectors.crop_detector(cfg.get("detector", "hog"), cfg.get("alignment", "box"))
    path = cache.cache_path(cfg["margin"], cfg["input_size"], detector)
    if not path.exists():
        if not data:
            raise SystemExit(f"{path} is missing: pass --data to build it")
        faceset, _ = cache.build_faceset(data, cfg["margin"], cfg["input_size"], detector=detector)
        cache.save(faceset, path)
    return cache.load_faceset(path)


def trained_on(releases: list[dict[str, Any]]) -> str:
    text = "UTKFace (aligned & cropped), ml.data split 'train'"
    for release in releases:
        text += f"; the site's reviewed feedback, release {release['release']} (sha256 {str(release['hash'])[:12]})"
    return text


def export(
    checkpoint: Path,
    cfg: dict[str, Any],
    out_dir: Path,
    metrics: dict[str, Any],
    releases: list[dict[str, Any]] | None = None,
) -> Path:
    """Save the model without optimizer state, plus ``meta.json`` describing it (with the
    data-set releases it learned from)."""
    model = keras.models.load_model(checkpoint, compile=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / "model.keras")
    meta = {
        "name": cfg["name"],
        "version": f"{cfg['name']}-{dt.date.today():%Y%m%d}-{_git_commit()[:7]}",
        "head": cfg["head"],
        "variant": cfg["variant"],
        "input_size": cfg["input_size"],
        "margin": cfg["margin"],
        "trained_on": trained_on(releases or []),
        "releases": releases or [],
        "metrics": metrics,
    }
    for key in ("tta_margins", "flip_tta", "temperature", "detector", "alignment"):  # how ml.inference scores a face
        if key in cfg:
            meta[key] = cfg[key]
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1))
    (out_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    litert.convert_to_litert(out_dir)  # the serving format (ml.inference runs it)
    return out_dir / "model.keras"


def _git_commit() -> str:
    if os.environ.get("AGEWEB_COMMIT"):  # set where the checkout travels without .git (a GPU host)
        return os.environ["AGEWEB_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--data", help="UTKFace folder or .tar.gz (to build the face cache if missing)")
    parser.add_argument("--run-dir", help="default: runs/<name>")
    parser.add_argument("--resume", action="store_true", help="go on from the run folder's last checkpoint")
    parser.add_argument("--export", help="folder to write the best model to, e.g. ml/models/age101")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config entries")
    parser.add_argument(
        "--feedback", action="append", default=[], metavar="DIR", help="an export of the site's data set (repeatable)"
    )
    args = parser.parse_args()
    cfg = load_config(args.config, args.set)
    sources = load_sources(cfg, args.data, args.feedback)
    run_dir = Path(args.run_dir or ROOT / "runs" / cfg["name"])
    started = dt.datetime.now(dt.UTC)
    best = train(cfg, sources.train, val_set=sources.val, run_dir=run_dir, resume=args.resume, weights=sources.weights)
    val = sources.val
    model = keras.models.load_model(best, compile=False)
    metrics: dict[str, Any] = {"val_n": len(val.ages)}
    if cfg["head"] != "groups8":
        metrics["val_mae"] = float(np.abs(predict_ages(model, val.images, cfg["head"]) - val.ages).mean())
    record = {
        "config": cfg,
        "started": started.isoformat(),
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "commit": _git_commit(),
        "releases": sources.releases,
        "metrics": metrics,
    }
    (run_dir / "run.json").write_text(json.dumps(record, indent=1))
    print(json.dumps(metrics))
    if args.export:
        print(f"exported {export(best, cfg, out_dir=Path(args.export), metrics=metrics, releases=sources.releases)}")


if __name__ == "__main__":
    main()
