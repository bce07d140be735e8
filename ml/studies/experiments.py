"""The seed's experiments, ours: the 8-group ensemble, Table 3 and Table 4.

    python -m ml.studies.experiments --data data/UTKFace.tar.gz [--only NAME ...] [--list]

Every experiment is the shipped config (``ml/training/configs/age101.yaml``) plus overrides. Runs
go to ``runs/exp/<name>``; a finished run is skipped, an interrupted one resumed. Each
finished run's test-split outputs (the cached crops of ml.data's fixed test split, made
by the same face pipeline) are saved to ``docs/results/preds/<name>.npz``, which
``python -m ml.studies.report`` turns into tables and figures. Ensemble members are exported to
``ml/models/ensemble8/<name>/`` for serving.

Budgets: the table rows are shortened to fit this 2-core CPU, and every row of a table
gets the same one (``TABLE_BUDGET``); the ensemble members start from the shipped
101-class model's weights and get ``MEMBER_BUDGET``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ml import ages
from ml.training import cache, train

ROOT = Path(__file__).resolve().parents[2]
BASE_CONFIG = ROOT / "ml" / "training" / "configs" / "age101.yaml"
PREDS_DIR = ROOT / "docs" / "results" / "preds"
ENSEMBLE_DIR = ROOT / "ml" / "models" / "ensemble8"

TABLE_BUDGET = ["input_size=96", "margin=0.1", "epochs=4", "head_epochs=1", "warmup_epochs=1"]
# Ensemble members: stage 1 ran on a GPU host (ml/training/gpu_train.py, JOBS: 24-26 epochs
# from the 101-class model's weights, on WebP-packed crops); this stage, one epoch at a low
# learning rate on the exact crops of the face pipeline, removes what the WebP packing
# taught them (it cost the GPU members 0.01-0.02 of accuracy on clean crops).
MEMBER_BUDGET = [
    "init_head=true",
    "head_epochs=0",
    "epochs=1",
    "warmup_epochs=0",
    "first_trainable_block=0",
    "lr=5.0e-5",
]


NO_AUGMENT = [
    'augment={"flip": false, "rotate": 0.0, "zoom": 0.0, "shift": 0.0, "brightness": 0.0, "contrast": 0.0}',
    'random_erasing={"p": 0.0, "area": [0.02, 0.2], "aspect": [0.3, 3.3]}',
]
NO_MIXUP = ['mixup={"p": 0.0, "alpha": 0.4}']
NO_LABEL_AUG = ["label_sigma=[0.01, 0.0]"]  # one-hot targets

EXPERIMENTS: dict[str, list[str]] = {
    # The shipped ensemble: three 8-group members differing in crop margin and input size.
    # dlib's box on a UTKFace chip is ~78% of the chip, so margins past ~15% would train on
    # replicated border. (Their GPU stage cut the narrower crops from the centres of packed
    # 10% ones; this stage uses the face pipeline's own crops at each margin and size.)
    "ens-m0": [
        *MEMBER_BUDGET,
        "head=groups8",
        "margin=0.0",
        "input_size=112",
        "init_from=runs/gpu/export/ens-m0/model.keras",
    ],
    "ens-m5": [
        *MEMBER_BUDGET,
        "head=groups8",
        "margin=0.05",
        "input_size=120",
        "init_from=runs/gpu/export/ens-m5/model.keras",
    ],
    "ens-m10": [
        *MEMBER_BUDGET,
        "head=groups8",
        "margin=0.1",
        "input_size=128",
        "init_from=runs/gpu/export/ens-m10/model.keras",
    ],
    # Table 4: backbone x output size x strategy (strategies are read off each run's outputs).
    "t4-lite0-101": [*TABLE_BUDGET, "head=dist101"],
    "t4-lite0-8": [*TABLE_BUDGET, "head=groups8"],
    "t4-lite0-reg": [*TABLE_BUDGET, "head=regression"],
    # Table 3: regularisers on the 101-class model (the full set is t4-lite0-101).
    "t3-none": [*TABLE_BUDGET, "head=dist101", *NO_AUGMENT, *NO_MIXUP, *NO_LABEL_AUG],
    "t3-augment": [*TABLE_BUDGET, "head=dist101", *NO_MIXUP, *NO_LABEL_AUG],
    "t3-augment-mixup": [*TABLE_BUDGET, "head=dist101", *NO_LABEL_AUG],
    "t3-augment-labels": [*TABLE_BUDGET, "head=dist101", *NO_MIXUP],
    "t4-lite1-101": [*TABLE_BUDGET, "head=dist101", "variant=lite1"],
    "t4-lite1-8": [*TABLE_BUDGET, "head=groups8", "variant=lite1"],
    "t4-lite1-reg": [*TABLE_BUDGET, "head=regression", "variant=lite1"],
}


def config_of(name: str) -> dict[str, Any]:
    cfg = train.load_config(BASE_CONFIG, EXPERIMENTS[name])
    cfg["name"] = name
    return cfg


def faces_for(cfg: dict[str, Any], data: str | None) -> cache.FaceSet:
    path = cache.cache_path(cfg["margin"], cfg["input_size"])
    if not path.exists():
        if data is None:
            raise SystemExit(f"{path} is missing: pass --data to build it")
        faceset, stats = cache.build_faceset(data, cfg["margin"], cfg["input_size"])
        cache.save(faceset, path)
        path.with_suffix(".json").write_text(json.dumps(stats, indent=1))
    return cache.load_faceset(path)


def group_mean_ages(train_ages: np.ndarray) -> list[float]:
    """Mean training age of each of the 8 groups (the seed's stage-3 weights)."""
    groups = ages.group_of(train_ages)
    return [round(float(train_ages[groups == g].mean()), 3) for g in range(len(ages.GROUPS))]


def run_experiment(name: str, data: str | None) -> Path:
    cfg = config_of(name)
    run_dir = ROOT / "runs" / "exp" / name
    out = PREDS_DIR / f"{name}.npz"
    if out.exists():
        print(f"{name}: done already ({out})")
        return out
    if cfg.get("init_from") and not (ROOT / cfg["init_from"]).exists():
        raise SystemExit(
            f"{name} starts from {cfg['init_from']}, which is missing: for the ensemble members that is "
            "the GPU stage (ml/training/gpu_train.py, then its --install)"
        )
    faces = faces_for(cfg, data)
    best = train.train(cfg, faces.subset("train"), val_set=faces.subset("val"), run_dir=run_dir, resume=True)
    model = keras.models.load_model(best, compile=False)
    test = faces.subset("test")
    outputs = model.predict(test.images.astype(np.float32), batch_size=128, verbose=0)
    means = group_mean_ages(faces.subset("train").ages.astype(np.float64))
    PREDS_DIR.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        outputs=outputs.astype(np.float32),
        ages=test.ages,
        genders=test.genders,
        races=test.races,
        detected=test.detected,
        names=test.names,
        head=cfg["head"],
        group_mean_ages=np.array(means),
        config=json.dumps(cfg),
    )
    if name.startswith("ens-"):
        val = faces.subset("val")
        acc = float(
            (
                model.predict(val.images.astype(np.float32), batch_size=128, verbose=0).argmax(1)
                == ages.group_of(val.ages)
            ).mean()
        )
        member_dir = ENSEMBLE_DIR / name
        train.export(best, cfg, out_dir=member_dir, metrics={"val_acc8": round(acc, 4)})
        meta = json.loads((member_dir / "meta.json").read_text())
        meta["group_mean_ages"] = means
        (member_dir / "meta.json").write_text(json.dumps(meta, indent=1))
    print(f"{name}: wrote {out}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="UTKFace folder or .tar.gz, to build missing face caches")
    parser.add_argument("--only", nargs="*", help="experiment names (default: all, in order)")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list:
        for name, overrides in EXPERIMENTS.items():
            print(f"{name:20} {' '.join(overrides)}")
        return
    for name in args.only or EXPERIMENTS:
        run_experiment(name, args.data)


if __name__ == "__main__":
    main()
