"""Run the face pipeline once over UTKFace and keep the crops, so training reads arrays.

    python -m ml.training.cache --data data/UTKFace.tar.gz --margin 0.4 --size 128

writes ``.cache/faces-m40-s128.npz`` holding the aligned crops (uint8), the labels, the
split and whether a face was detected (pre-aligned chips where none is found are used
whole, see :func:`ml.faces.chip_face`). Every crop is made by :mod:`ml.faces`, the same
code the worker runs on uploads.

To train on a machine without the archive (a GPU host, where copying is costly), pack a cache's
training and validation crops as WebP (18.7k crops at 128 px: 34 MB at quality 80, 50 MB
at 90; the loss costs the shipped model 0.26 and 0.08 years of validation MAE, see
ml/training/gpu_train.py) and unpack it there, optionally narrowed to a tighter margin or
another size:

    python -m ml.training.cache --margin 0.1 --size 128 --pack faces-m10-s128.npz
    python -m ml.training.cache --unpack faces-m10-s128.npz [--margin 0 --size 112]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from ml import data, faces
from ml.training import detectors

CACHE_DIR = Path(os.environ.get("AGEWEB_CACHE", Path(__file__).resolve().parents[2] / ".cache"))
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


def cache_path(margin: float, size: int, detector: str = "hog") -> Path:
    """The cache of crops at ``margin`` and ``size`` placed by ``detector`` (``ml.detectors.DETECTORS``)."""
    suffix = "" if detector == "hog" else f"-{detector}"
    return CACHE_DIR / f"faces-m{round(margin * 100)}-s{size}{suffix}.npz"


_detectors: dict[str, faces.Detector] = {}  # one of each per worker process


def _crop(job: tuple[bytes, float, int, str]) -> tuple[NDArray[np.uint8] | None, bool]:
    blob, margin, size, name = job
    if name not in _detectors:
        _detectors[name] = detectors.make_detector(name)
    try:
        rgb = faces.decode(blob)
    except faces.ImageError:
        return None, False
    crop, face = faces.chip_face(rgb, _detectors[name], margin=margin, size=size)
    return crop, face is not None


def build_faceset(
    source: str | Path, margin: float, size: int, workers: int = 2, detector: str = "hog"
) -> tuple[FaceSet, dict[str, object]]:
    records, report = data.clean(data.iter_files(source))
    jobs = ((blob, margin, size, detector) for _, blob in records)
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


def load_faceset(path: Path) -> FaceSet:
    with np.load(path) as archive:
        return FaceSet(**{f: archive[f] for f in FaceSet.__dataclass_fields__})


LABELS = ("ages", "genders", "races", "splits", "detected", "names")


def pack(
    faceset: FaceSet, margin: float, path: Path, splits: tuple[str, ...] = ("train", "val"), quality: int = 80
) -> None:
    """Save the crops of ``splits`` as WebP (lossy, ~2 kB each at 128 px) with their labels."""
    keep = np.isin(faceset.splits, [SPLIT_CODE[s] for s in splits])
    blobs = [_encode(image, quality) for image in faceset.images[keep]]
    offsets = np.cumsum([0, *(len(b) for b in blobs)])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        webp=np.frombuffer(b"".join(blobs), np.uint8),
        offsets=offsets,
        margin=margin,
        **{f: getattr(faceset, f)[keep] for f in LABELS},
    )


def unpack_faceset(path: Path) -> tuple[FaceSet, float]:
    """The packed crops, decoded, and the margin they were made with."""
    with np.load(path) as archive:
        blob, offsets = archive["webp"], archive["offsets"]
        images = [_decode(blob[a:b]) for a, b in itertools.pairwise(offsets)]
        labels = {f: archive[f] for f in LABELS}
        margin = float(archive["margin"])
    return FaceSet(images=np.stack(images).astype(np.uint8), **labels), margin


def narrow(faceset: FaceSet, margin: float, new_margin: float, size: int) -> FaceSet:
    """The same faces at a tighter margin and/or another size.

    An aligned crop is centred on the face box and ``1 + 2 * margin`` box sides wide, so the
    crop at a smaller margin is its centre; whole chips (no face detected) are only resized,
    as :func:`ml.faces.crop_or_whole` does for any margin."""
    if new_margin > margin:
        raise ValueError(f"cannot widen {margin} crops to {new_margin}")
    source = faceset.images.shape[1]
    scale = (1 + 2 * new_margin) / (1 + 2 * margin) * source / size  # source pixels per output pixel
    centre = (source - 1) / 2.0
    offset = centre - scale * (size - 1) / 2.0
    matrix = np.array([[scale, 0.0, offset], [0.0, scale, offset]])
    images = np.empty((len(faceset.images), size, size, 3), np.uint8)
    for i, (image, found) in enumerate(zip(faceset.images, faceset.detected, strict=True)):
        if found:
            images[i] = cv2.warpAffine(
                image,
                matrix,
                (size, size),
                flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
        else:
            images[i] = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return FaceSet(images=images, **{f: getattr(faceset, f) for f in LABELS})


def from_export(folder: str | Path, margin: float, size: int) -> tuple[FaceSet, dict[str, object]]:
    """The faces of a site export (``manage.py export_dataset``) as a FaceSet at ``margin``
    and ``size``, and its release (id, hash). The crops are already aligned, so they are
    only narrowed or resized (ages over :data:`ml.data.MAX_AGE` are left out, as in UTKFace)."""
    export = data.read_export(folder)
    items = [item for item in export.items if int(item["age"]) <= data.MAX_AGE]
    if not items:
        raise ValueError(f"the export in {folder} holds no faces aged {data.MAX_AGE} or less")
    images = np.stack([faces.decode(export.folder / item["file"]) for item in items])
    n = len(items)
    faceset = FaceSet(
        images=images,
        ages=np.array([item["age"] for item in items], np.int16),
        genders=np.full(n, -1, np.int8),
        races=np.full(n, -1, np.int8),
        splits=np.array([SPLIT_CODE[item["split"]] for item in items], np.int8),
        detected=np.ones(n, np.bool_),
        names=np.array([item["file"] for item in items]),
    )
    source_margin = float(str(export.release.get("margin", margin)))
    if (source_margin, images.shape[1]) != (margin, size):
        faceset = narrow(faceset, source_margin, new_margin=margin, size=size)
    return faceset, dict(export.release)


def concat(sets: list[FaceSet]) -> FaceSet:
    return FaceSet(*(np.concatenate([getattr(s, f) for s in sets]) for f in FaceSet.__dataclass_fields__))


def _decode(blob: NDArray[np.uint8]) -> NDArray[np.uint8]:
    bgr = cv2.imdecode(blob, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("a packed crop is not a readable WebP")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8)


def _encode(image: NDArray[np.uint8], quality: int) -> bytes:
    ok, blob = cv2.imencode(".webp", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, quality])
    if not ok:
        raise ValueError("WebP encoding failed")
    return bytes(blob)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="UTKFace folder or .tar.gz (to build a cache)")
    parser.add_argument("--margin", type=float, help="default 0.4, or a packed file's own")
    parser.add_argument("--size", type=int, help="default 128, or a packed file's own")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pack", metavar="FILE", help="write the cache's train/val crops as WebP to FILE")
    parser.add_argument("--unpack", metavar="FILE", help="write a cache from a packed FILE (at --margin/--size)")
    parser.add_argument("--quality", type=int, default=80, help="WebP quality for --pack")
    parser.add_argument("--detector", default="hog", choices=sorted(detectors.DETECTORS), help="who places the crops")
    args = parser.parse_args()
    if args.unpack:
        faceset, margin = unpack_faceset(Path(args.unpack))
        new_margin = margin if args.margin is None else args.margin
        size = args.size or faceset.images.shape[1]
        if (new_margin, size) != (margin, faceset.images.shape[1]):
            faceset = narrow(faceset, margin, new_margin=new_margin, size=size)
        save(faceset, cache_path(new_margin, size))
        print(f"wrote {cache_path(new_margin, size)} ({len(faceset.ages)} crops)")
        return
    margin = 0.4 if args.margin is None else args.margin
    size = args.size or 128
    if args.pack:
        pack(load_faceset(cache_path(margin, size)), margin, Path(args.pack), quality=args.quality)
        print(f"wrote {args.pack} ({Path(args.pack).stat().st_size / 1e6:.1f} MB)")
        return
    if not args.data:
        parser.error("--data is needed to build a cache")
    faceset, stats = build_faceset(args.data, margin, size=size, workers=args.workers, detector=args.detector)
    path = cache_path(margin, size, args.detector)
    save(faceset, path)
    path.with_suffix(".json").write_text(json.dumps(stats, indent=1))
    print(json.dumps({k: v for k, v in stats.items() if k != "unreadable"}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
