"""Evaluate the shipped model through the whole pipeline on UTKFace-named images.

    python -m ml.studies.evaluate --data DIR_OR_TAR [--model NAME] [--split test] [--clean] [--json]

Each image is decoded, its face detected, aligned and cropped exactly as the worker does
(a pre-aligned chip where no face is detected is used whole and counted in ``no_face``),
then the model gives a 101-way distribution. Labels come from the file names, so any
folder of UTKFace-named images works. By default every parsable image is scored;
``--split`` keeps one part of ml.data's fixed split and ``--clean`` applies its cleaning
rules (duplicates, ages over 100). With ``--json`` the last line of output is one JSON
object: n, mae, cs5 (share within 5 years), acc8 (seed groups), no_face, ms_per_image and
breakdowns by age band, gender and race; with the 8-group ensemble shipped, also
acc8_ensemble and mae_ensemble (its stage-3 precise age). ``--save FILE.npz`` keeps per-image predictions.
``--fit-temperature`` (on the validation split) also prints the ``temperature`` for the
model's ``meta.json`` under which the 80% range holds the true age 80% of the time.

An export of the site's reviewed feedback (``manage.py export_dataset OUT_DIR``: a folder
with ``manifest.jsonl``) is recognised as such, or forced with ``--aligned``. Its images are
already the model's aligned training crops, so they are scored whole: no detection, no
re-alignment, one crop each (the test-time augmentation's extra margins need the photo,
which the export does not hold). The report then also has ``stored``: the same metrics for
the estimates people were shown on the site (the manifest's ``estimate``, made on the
photo with the serving crops) against the same labels, and ``release``.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from ml import ages, data, faces
from ml.inference import DEFAULT_MODEL, MODELS_DIR, Estimator
from ml.studies import report, rival
from ml.training import cache, detectors


def labelled_files(source: str | Path, split: str, clean: bool) -> Iterator[tuple[data.Record, bytes]]:
    if clean:
        records, _ = data.clean(data.iter_files(source))
        yield from ((r, b) for r, b in records if split == "all" or r.split == split)
        return
    for name, blob in data.iter_files(source):
        labels = data.parse_name(name)
        if labels is None:
            continue
        record = data.Record(name, labels.age, gender=labels.gender, race=labels.race, split=data.split_of(name))
        if split == "all" or record.split == split:
            yield record, blob


def predict_all(estimator: Estimator, files: Iterator[tuple[data.Record, bytes]], limit: int | None) -> dict[str, Any]:
    """Per-image predictions through the full pipeline, one image at a time (as served)."""
    rows: dict[str, list[Any]] = {k: [] for k in ("name", "age", "gender", "race", "dist", "groups8", "detected", "ms")}
    unreadable = 0
    for i, (record, blob) in enumerate(tqdm(files, desc="images", mininterval=5)):
        if limit is not None and i >= limit:
            break
        start = time.perf_counter()
        try:
            rgb = faces.decode(blob)
        except faces.ImageError:
            unreadable += 1
            continue
        face = faces.main_face(rgb, estimator.detector.detect(rgb))
        dist = estimator.distributions(rgb, [face])[0]
        rows["ms"].append((time.perf_counter() - start) * 1000)
        groups8 = estimator.ensemble_groups(rgb, face)
        if groups8 is not None:
            rows["groups8"].append(groups8)
        for key, value in (
            ("name", record.name),
            ("age", record.age),
            ("dist", dist),
            ("detected", face is not None),
            ("gender", -1 if record.gender is None else record.gender),
            ("race", -1 if record.race is None else record.race),
        ):
            rows[key].append(value)
    out = {k: np.array(v) for k, v in rows.items()}
    out["dist"] = out["dist"].astype(np.float32).reshape(-1, 101)
    out["groups8"] = out["groups8"].astype(np.float32).reshape(-1, len(ages.GROUPS))
    out["unreadable"] = np.array(unreadable)
    return out


def predict_aligned(estimator: Estimator, export: data.Export, split: str) -> dict[str, Any]:
    """101-way distributions for an export's aligned crops, each scored whole, once."""
    items = export.split(split)
    margin = float(export.release.get("margin", estimator.spec.margin))
    if margin < estimator.spec.margin:
        raise SystemExit(f"the export's crops ({margin} margin) are tighter than the model's ({estimator.spec.margin})")
    crops = np.stack([faces.decode(export.folder / item["file"]) for item in items]) if items else None
    dist = np.zeros((0, 101), np.float32)
    start = time.perf_counter()
    if crops is not None:
        size = crops.shape[1]
        if (margin, size) != (estimator.spec.margin, estimator.spec.input_size):
            crops = _narrow(crops, margin, new_margin=estimator.spec.margin, size=estimator.spec.input_size)
        dist = np.concatenate([estimator.age_model(crops[i : i + 64]) for i in range(0, len(crops), 64)])
    ms = (time.perf_counter() - start) * 1000 / max(len(items), 1)
    return {
        "name": np.array([item["file"] for item in items]),
        "age": np.array([item["age"] for item in items]),
        "estimate": np.array([item["estimate"] for item in items], np.float64),
        "dist": dist.astype(np.float32).reshape(-1, 101),
        "ms": ms,
    }


def _narrow(crops: NDArray[np.uint8], margin: float, new_margin: float, size: int) -> NDArray[np.uint8]:
    n = len(crops)
    minus_one = np.full(n, -1, np.int8)
    faceset = cache.FaceSet(
        images=crops, ages=np.zeros(n, np.int16), genders=minus_one, races=minus_one, splits=minus_one,
        detected=np.ones(n, np.bool_), names=np.array([""] * n),
    )  # fmt: skip
    return cache.narrow(faceset, margin, new_margin=new_margin, size=size).images


def evaluate_export(estimator: Estimator, args: argparse.Namespace) -> dict[str, Any]:
    export = data.read_export(args.data)
    rows = predict_aligned(estimator, export, args.split)
    if not len(rows["age"]):
        raise SystemExit("the export holds no faces for this split")
    unknown = np.full(len(rows["age"]), -1)
    result = summarise(rows["age"], rows["dist"], genders=unknown, races=unknown)
    result.update(
        model=estimator.spec.version,
        split=args.split,
        aligned=True,
        release=export.release.get("release"),
        release_hash=export.release.get("hash"),
        ms_per_image=round(float(rows["ms"]), 2),
        stored=report.point_metrics(rows["age"], rows["estimate"]),
    )
    if args.save:
        np.savez_compressed(args.save, **{k: v for k, v in rows.items() if k != "ms"}, model=estimator.spec.version)
    print(
        f"{result['n']} aligned crops of release {result['release']} ({args.split}), model {result['model']}: "
        f"MAE {result['mae']:.2f} years, within 5 years {result['cs5']:.1%}, 8-group accuracy {result['acc8']:.1%}; "
        f"the estimates shown on the site: MAE {result['stored']['mae']:.2f} years, "
        f"within 5 years {result['stored']['cs5']:.1%}"
    )
    return result


def summarise(
    true_ages: NDArray[Any], dist: NDArray[Any], genders: NDArray[Any], races: NDArray[Any]
) -> dict[str, Any]:
    pred = ages.expected_age(dist)
    group_hit = ages.group_probs(dist).argmax(1) == ages.group_of(true_ages)
    parts = report.breakdown(true_ages, pred, genders=genders, races=races)
    return {
        **report.point_metrics(true_ages, pred),
        "acc8": round(float(group_hit.mean()), 4),
        "interval80_coverage": report.coverage(true_ages, dist)["0.80"],
        "by_age": parts["age"],
        "by_gender": parts["gender"],
        "by_race": parts["race"],
    }


def fit_temperature(true_ages: NDArray[Any], dist: NDArray[Any], target: float = 0.80) -> float:
    """The temperature (:func:`ml.ages.sharpen`) under which the 80% interval of ``dist``
    holds ``true_ages`` a ``target`` share of the time: coverage grows with the temperature,
    so bisect it (on a log scale, between 0.25 and 4)."""
    low, high = math.log(0.25), math.log(4.0)
    for _ in range(30):
        middle = (low + high) / 2
        covered = report.coverage(true_ages, ages.sharpen(dist, math.exp(middle)))["0.80"]
        low, high = (middle, high) if covered < target else (low, middle)
    return round(math.exp((low + high) / 2), 3)


def score_rival(args: argparse.Namespace, names: set[str], out: Path) -> dict[str, Any]:
    """The rival on the images we scored, each handed over whole as a face (no detection)."""
    with tempfile.TemporaryDirectory() as tmp:
        records = []
        for record, blob in labelled_files(args.data, args.split, args.clean):
            if record.name in names:
                (Path(tmp) / record.name).write_bytes(blob)
                records.append(record)
        answers: dict[str, Any] = {
            Path(str(a["file"])).name: a for a in rival.run_rival("ages", [str(Path(tmp) / r.name) for r in records])
        }
    true = np.array([r.age for r in records])
    pred = np.array([float(answers[r.name]["age"]) for r in records])
    np.savez_compressed(
        out,
        name=np.array([r.name for r in records]),
        age=true,
        pred=pred,
        gender=np.array([-1 if r.gender is None else r.gender for r in records]),
        race=np.array([-1 if r.race is None else r.race for r in records]),
        ms=np.array([float(answers[r.name]["ms"]) for r in records]),
    )
    return report.point_metrics(true, pred)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder or .tar(.gz) of UTKFace-named images")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"a folder name under {MODELS_DIR}")
    parser.add_argument(
        "--detector", choices=sorted(detectors.DETECTORS), help="default: the uploads' detector for the model's crops"
    )
    parser.add_argument("--split", default="all", choices=["all", "train", "val", "test"])
    parser.add_argument("--clean", action="store_true", help="apply ml.data's cleaning rules")
    parser.add_argument("--limit", type=int, help="score the first N images only")
    parser.add_argument("--save", help="write per-image predictions to this .npz")
    parser.add_argument("--rival-save", help="also run the rival (make rival) on the same images; save to this .npz")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument(
        "--fit-temperature", action="store_true", help="also fit meta.json's temperature (on the validation split)"
    )
    parser.add_argument(
        "--aligned", action="store_true", help="the data is an export of aligned crops (found by its manifest.jsonl)"
    )
    args = parser.parse_args(argv)

    detector = detectors.make_detector(args.detector) if args.detector else None
    estimator = Estimator(MODELS_DIR / args.model, detector=detector)
    if args.aligned or data.is_export(args.data):
        result = evaluate_export(estimator, args)
        if args.json:
            print(json.dumps(result))
        return
    rows = predict_all(estimator, labelled_files(args.data, args.split, args.clean), args.limit)
    if not len(rows["age"]):
        raise SystemExit("no UTKFace-named images found")
    result = summarise(rows["age"], rows["dist"], genders=rows["gender"], races=rows["race"])
    result.update(
        model=estimator.spec.version,
        split=args.split,
        no_face=int((~rows["detected"].astype(bool)).sum()),
        unreadable=int(rows["unreadable"]),
        ms_per_image=round(float(np.median(rows["ms"])), 2),
    )
    if estimator.members:
        ensemble_ages = np.array([estimator.ensemble_age(g) for g in rows["groups8"]])
        result.update(
            ensemble=[m.spec.version for m in estimator.members],
            acc8_ensemble=round(float((rows["groups8"].argmax(1) == ages.group_of(rows["age"])).mean()), 4),
            mae_ensemble=round(float(np.abs(ensemble_ages - rows["age"]).mean()), 3),
        )
    if args.fit_temperature:  # the distributions are already sharpened by the model's own
        result["temperature"] = round(
            estimator.age_model.spec.temperature * fit_temperature(rows["age"], rows["dist"]), 3
        )
    if args.save:
        np.savez_compressed(args.save, **rows, model=estimator.spec.version)
    if args.rival_save:
        result["rival"] = score_rival(args, set(rows["name"].tolist()), Path(args.rival_save))
    print(
        f"{result['n']} images ({args.split}), model {result['model']}: MAE {result['mae']:.2f} years, "
        f"within 5 years {result['cs5']:.1%}, 8-group accuracy {result['acc8']:.1%}, "
        f"no face detected {result['no_face']}, {result['ms_per_image']:.1f} ms per image (median)"
    )
    if "temperature" in result:
        print(f"  temperature for an 80% range that holds 80%: {result['temperature']}")
    if "acc8_ensemble" in result:
        print(
            f"  8-group ensemble of {len(result['ensemble'])}: accuracy {result['acc8_ensemble']:.1%}, "
            f"stage-3 MAE {result['mae_ensemble']:.2f} years"
        )
    for part in ("by_age", "by_gender", "by_race"):
        print(f"  {part}: " + ", ".join(f"{k} {v['mae']} (n={v['n']})" for k, v in result[part].items()))
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
