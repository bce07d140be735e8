"""Run the face pipeline once over UTKFace and keep the crops, so training reads arrays.

    python -m ml.cache --data ../shared/data/UTKFace.tar.gz --margin 0.4 --size 128

writes ``.cache/faces-m40-s128.npz`` holding the aligned crops (uint8), the labels, the
split and whether a face was detected (pre-aligned chips where none is found are used
whole, see :func:`ml.faces.chip_face`). Every crop is made by :mod:`ml.faces`, the same
code the worker runs on uploads.
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from ml import data, faces

CACHE_DIR = Path(os.environ.get("AGEWEB_CACHE", Path(__file__).resolve().parent.parent / ".cache"))
SPLIT_CODE = {"train": 0, "val": 1, "test": 2}


@dataclass
class FaceSet:
    """Aligned crops with their labels; gender/race are -1 where the name lacks them."""

    images: NDArray[np.uint8]
    ages: NDArray[np.int16]
    genders: NDArray[np.int8]
    races: NDArray[np.int8]
    splits: NDArray[np.int8]
    detected: NDArray[np.bool_]
    names: NDArray[np.str_]

    def subset(self, split: str) -> FaceSet:
        keep = self.splits == SPLIT_CODE[split]
        return FaceSet(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))


def cache_path(margin: float, size: int) -> Path:
    return CACHE_DIR / f"faces-m{round(margin * 100)}-s{size}.npz"


_detector: faces.Detector | None = None


def _crop(job: tuple[bytes, float, int]) -> tuple[NDArray[np.uint8] | None, bool]:
    global _detector  # one detector per worker process
    if _detector is None:
        _detector = faces.Detector()
    blob, margin, size = job
    try:
        rgb = faces.decode(blob)
    except faces.ImageError:
        return None, False
    crop, face = faces.chip_face(rgb, _detector, margin, size)
    return crop, face is not None


def build(source: str | Path, margin: float, size: int, workers: int = 2) -> tuple[FaceSet, dict[str, object]]:
    records, report = data.clean(data.iter_files(source))
    jobs = ((blob, margin, size) for _, blob in records)
    kept: list[tuple[data.Record, NDArray[np.uint8], bool]] = []
    unreadable: list[str] = []
    with ProcessPoolExecutor(workers) as pool:
        results = pool.map(_crop, jobs, chunksize=64)
        for (record, _), (crop, found) in tqdm(zip(records, results, strict=False), total=len(records), desc="faces"):
            if crop is None:
                unreadable.append(record.name)
            else:
                kept.append((record, crop, found))
    faceset = FaceSet(
        images=np.stack([crop for _, crop, _ in kept]),
        ages=np.array([r.age for r, _, _ in kept], np.int16),
        genders=np.array([-1 if r.gender is None else r.gender for r, _, _ in kept], np.int8),
        races=np.array([-1 if r.race is None else r.race for r, _, _ in kept], np.int8),
        splits=np.array([SPLIT_CODE[r.split] for r, _, _ in kept], np.int8),
        detected=np.array([found for _, _, found in kept], np.bool_),
        names=np.array([r.name for r, _, _ in kept]),
    )
    stats = {
        "cleaning": report.summary(),
        "unreadable": unreadable,
        "images": len(kept),
        "no_face_whole_chip": int((~faceset.detected).sum()),
        "per_split": {s: int((faceset.splits == c).sum()) for s, c in SPLIT_CODE.items()},
    }
    return faceset, stats


def save(faceset: FaceSet, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{f: getattr(faceset, f) for f in faceset.__dataclass_fields__})
    tmp.replace(path)


def load(path: Path) -> FaceSet:
    with np.load(path) as archive:
        return FaceSet(**{f: archive[f] for f in FaceSet.__dataclass_fields__})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="UTKFace folder or .tar.gz")
    parser.add_argument("--margin", type=float, default=0.4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    faceset, stats = build(args.data, args.margin, args.size, args.workers)
    path = cache_path(args.margin, args.size)
    save(faceset, path)
    path.with_suffix(".json").write_text(json.dumps(stats, indent=1))
    print(json.dumps({k: v for k, v in stats.items() if k != "unreadable"}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
