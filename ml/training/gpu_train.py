"""Train the models on a GPU host, inside a time budget you choose.

Training on a CPU takes hours per model; a GPU host runs the same jobs in minutes. This
script runs there, from a copy of this repository and a packed face cache made here:

    # here: the aligned face crops, packed once (WebP; see the note on quality below)
    python -m ml.training.cache --margin 0.1 --size 128 --pack faces-m10-s128.npz

    # on the GPU host (Keras runs there on JAX or TensorFlow; the training requirements)
    python -m ml.training.gpu_train --bundle faces-m10-s128.npz --minutes 30 --out OUT_DIR

    # back here, with OUT_DIR copied over
    python -m ml.training.gpu_train --install OUT_DIR

Steps on the GPU host: unpack the crops into face caches (the 10% margin crops, and narrower
ones cut from their centres for the members that want them); a short calibration run of
every job side by side, to time one epoch; then every job for as many epochs as fit the
budget (written into the run's config, so the config records what ran); each job exports
its best checkpoint. ``--out`` receives ``<job>.keras`` and ``logs.tgz`` (configs,
``history.csv``, ``run.json``, ``meta.json`` and the logs). ``--install`` puts them under
``runs/gpu/``; ``python -m ml.studies.experiments --only ens-m0 ens-m5 ens-m10`` then gives
each ensemble member its second stage on exact crops, saves its test outputs and exports
it for serving.

What it gave on one H200 (2026-11-28, an 8-minute budget, JAX, four jobs side by side, ~6 s
per epoch each): the members trained 24-26 epochs. The WebP packing (quality 80) is lossy
enough to matter: the shipped 101-class model scores validation MAE 4.79 on exact crops and
5.05 on packed ones, and ``age101`` (``configs/tried/age101-stage4.yaml``) came back at 5.02
on exact crops, worse than the model it started from, so it was not shipped.

The shipped model's validation MAE on the same 2,092 crops (128 px) by packing, with the
size of the train+val pack: exact 4.79; WebP quality 80: 5.05 (29.8 MiB); 90: 4.87
(47.6 MiB); 95: 4.83 (69.4 MiB); 100 (still lossy, 4:2:0 colour): 4.83 (99.5 MiB). Weigh
the pack's size against its loss, or train one epoch on exact crops here afterwards, as the
members do.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # several trainings share one GPU
ROOT = Path(__file__).resolve().parents[2]  # the repository
sys.path.insert(0, str(ROOT))

# Stage 1 of the ensemble members (ml.studies.experiments trains their stage 2 here, on exact crops).
GPU_MEMBER = [
    "head_epochs=1",
    "warmup_epochs=1",
    "first_trainable_block=0",
    "batch_size=128",
    "workers=4",
    "lr=3.0e-4",
    "init_from=ml/models/age101/model.keras",
    "head=groups8",
]
# job -> (config file, overrides)
JOBS: dict[str, tuple[str, list[str]]] = {
    "age101": ("ml/training/configs/tried/age101-stage4.yaml", []),
    "ens-m0": ("ml/training/configs/age101.yaml", [*GPU_MEMBER, "name=ens-m0", "margin=0.0", "input_size=112"]),
    "ens-m5": ("ml/training/configs/age101.yaml", [*GPU_MEMBER, "name=ens-m5", "margin=0.05", "input_size=120"]),
    "ens-m10": ("ml/training/configs/age101.yaml", [*GPU_MEMBER, "name=ens-m10", "margin=0.1", "input_size=128"]),
}
CALIBRATION = ["epochs=2", "head_epochs=0", "warmup_epochs=1"]
EXPORT_SECONDS = 60  # final validation pass, export, packing
MAX_EPOCHS = 40


def job_config(name: str, overrides: list[str]) -> dict[str, Any]:
    from ml.training import train

    source, extra = JOBS[name]
    return train.load_config(ROOT / source, [*extra, *overrides])


def unpack_bundle(bundle: Path, configs: dict[str, dict[str, Any]]) -> int:
    """Write the face cache each job reads; returns the number of training crops."""
    from ml.training import cache

    faceset, margin = cache.unpack_faceset(bundle)
    size = faceset.images.shape[1]
    for cfg in configs.values():
        path = cache.cache_path(cfg["margin"], cfg["input_size"])
        if not path.exists():
            same = (cfg["margin"], cfg["input_size"]) == (margin, size)
            cache.save(
                faceset if same else cache.narrow(faceset, margin, new_margin=cfg["margin"], size=cfg["input_size"]),
                path,
            )
            print(f"cache {path.name}", flush=True)
    return int((faceset.splits == cache.SPLIT_CODE["train"]).sum())


def launch(
    name: str, cfg: dict[str, Any], run_dir: Path, export: Path | None, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    run_dir.mkdir(parents=True, exist_ok=True)
    config = run_dir / "job.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    command = [sys.executable, "-m", "ml.training.train", "--config", str(config), "--run-dir", str(run_dir)]
    if export:
        command += ["--export", str(export)]
    log = open(run_dir / "train.log", "wb")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait(procs: dict[str, subprocess.Popen[bytes]], deadline: float) -> dict[str, int | None]:
    codes: dict[str, int | None] = {}
    for name, proc in procs.items():
        try:
            codes[name] = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes[name] = None
    return codes


def epoch_seconds(run_dir: Path) -> list[tuple[float, float]]:
    """(whole epoch, validation part) seconds of each epoch of a run."""
    with open(run_dir / "history.csv") as rows:
        return [(float(r["seconds"]), float(r["val_seconds"])) for r in csv.DictReader(rows)]


def epochs_that_fit(calibration: list[tuple[float, float]], scale: float, seconds: float, most: int) -> int:
    """Epochs of the full run that fit in ``seconds``, from a two-epoch calibration run on
    ``1 / scale`` of the training set: its second epoch's training part scaled up, plus a
    validation pass, after the start-up that its first epoch paid (compiling, loading) and
    the final export. At least 1, at most ``most``."""
    (first, _), (second, validation) = calibration[:2]
    epoch = (second - validation) * scale + validation
    startup = max(0.0, first - second) + 20
    return max(1, min(most, math.floor((seconds - EXPORT_SECONDS - startup) / epoch)))


def calibrate(
    configs: dict[str, dict[str, Any]], images: int, work: Path, env: dict[str, str], deadline: float
) -> dict[str, int | None]:
    from ml.training import train

    overrides = [*CALIBRATION, f"limit={images}"]
    procs = {
        name: launch(
            name, train.load_config_dict(cfg, overrides), run_dir=work / "calibration" / name, export=None, env=env
        )
        for name, cfg in configs.items()
    }
    return wait(procs, deadline)


def export_best(name: str, cfg: dict[str, Any], work: Path, env: dict[str, str]) -> None:
    """For a run stopped at the deadline: export its best checkpoint so far."""
    code = (
        "import sys, yaml; from pathlib import Path; from ml import train; "
        "cfg = yaml.safe_load(Path(sys.argv[1]).read_text()); "
        "train.export(Path(sys.argv[2]), cfg, Path(sys.argv[3]), {'stopped_at_deadline': True})"
    )
    run = work / name
    if (run / "best.keras").exists():
        subprocess.run(
            [sys.executable, "-c", code, str(run / "job.yaml"), str(run / "best.keras"), str(work / "export" / name)],
            cwd=ROOT,
            env=env,
            check=False,
            timeout=120,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, help="packed crops (ml.training.cache --pack)")
    parser.add_argument("--minutes", type=float, help="the time budget for everything, start-up and export included")
    parser.add_argument("--out", type=Path, help="where the models and logs.tgz go")
    parser.add_argument("--jobs", nargs="*", default=list(JOBS))
    parser.add_argument("--calibration-images", type=int, default=3072)
    parser.add_argument("--max-epochs", type=int, default=MAX_EPOCHS)
    parser.add_argument("--set", nargs="*", default=[], help="overrides for every job (e.g. workers=4)")
    parser.add_argument(
        "--install",
        type=Path,
        metavar="DIR",
        help="back here: install the models and logs from the GPU host",
    )
    args = parser.parse_args()
    if args.install:
        install(args.install)
        return
    if args.bundle is None or args.minutes is None or args.out is None:
        parser.error("training needs --bundle, --minutes and --out")
    deadline = time.monotonic() + args.minutes * 60
    env = {**os.environ}
    env.setdefault("KERAS_BACKEND", "jax")
    configs = {name: job_config(name, args.set) for name in args.jobs}
    n_train = unpack_bundle(args.bundle, configs)
    work = ROOT / "runs" / "gpu"

    # 1. Calibration: every job side by side on a slice of the data, two epochs.
    from ml.training import train

    codes = calibrate(configs, args.calibration_images, work=work, env=env, deadline=deadline - 150)
    if all(code not in (0, None) for code in codes.values()) and env["KERAS_BACKEND"] == "jax":
        print("every calibration run failed on jax: trying torch", flush=True)
        print((work / "calibration" / args.jobs[0] / "train.log").read_text()[-3000:], flush=True)
        env["KERAS_BACKEND"] = "torch"
        codes = calibrate(configs, args.calibration_images, work=work, env=env, deadline=deadline - 120)
    plan: dict[str, int] = {}
    now = time.monotonic()
    for name in configs:
        if codes[name] != 0:
            print(f"{name}: calibration failed ({codes[name]}), see its train.log", flush=True)
            print((work / "calibration" / name / "train.log").read_text()[-3000:], flush=True)
            continue
        plan[name] = epochs_that_fit(
            epoch_seconds(work / "calibration" / name),
            n_train / args.calibration_images,
            seconds=deadline - now,
            most=args.max_epochs,
        )
        print(f"{name}: {plan[name]} epochs", flush=True)

    # 2. The real runs, side by side.
    procs = {
        name: launch(
            name,
            train.load_config_dict(configs[name], [f"epochs={plan[name]}"]),
            run_dir=work / name,
            export=work / "export" / name,
            env=env,
        )
        for name in plan
    }
    codes = wait(procs, deadline)
    summary: dict[str, Any] = {"backend": env["KERAS_BACKEND"]}
    for name in plan:
        run_json = work / name / "run.json"
        summary[name] = {"exit": codes[name], "epochs": plan[name]}
        if run_json.exists():
            summary[name]["metrics"] = json.loads(run_json.read_text())["metrics"]
        elif codes[name] is None:
            export_best(name, train.load_config_dict(configs[name], [f"epochs={plan[name]}"]), work=work, env=env)
        if (work / name / "history.csv").exists():
            with open(work / name / "history.csv") as rows:
                history = [{k: round(float(v), 4) for k, v in r.items()} for r in csv.DictReader(rows)]
            (work / name / "history.json").write_text(json.dumps(history))
            summary[name]["last_epochs"] = history[-3:]
        else:
            print((work / name / "train.log").read_text()[-2000:], flush=True)
    (work / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1), flush=True)
    if args.out:
        collect(work, args.out)


def collect(work: Path, out: Path) -> None:
    """``<job>.keras`` for each exported model, everything small in ``logs.tgz``."""
    out.mkdir(parents=True, exist_ok=True)
    for model in sorted((work / "export").glob("*/model.keras")):
        shutil.copy(model, out / f"{model.parent.name}.keras")
    with tarfile.open(out / "logs.tgz", "w:gz") as tar:
        for path in sorted(work.rglob("*")):
            if path.is_file() and path.suffix != ".keras":
                tar.add(path, arcname=str(path.relative_to(work)))


def install(folder: Path) -> None:
    """Here, after the run: logs to runs/gpu/, each model to runs/gpu/export/<job>/,
    where the second stages (ml.studies.experiments for the members) start from."""
    work = ROOT / "runs" / "gpu"
    work.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "logs.tgz") as tar:
        tar.extractall(work, filter="data")
    for model in sorted(folder.glob("*.keras")):
        shutil.copy(model, work / "export" / model.stem / "model.keras")
        print(f"installed {work / 'export' / model.stem / 'model.keras'}")


if __name__ == "__main__":
    main()
