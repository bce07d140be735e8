"""UTKFace: read it from a folder or the official archive, parse labels, clean, split.

File names carry the labels: ``<age>_<gender>_<race>_<yyyymmddHHMMSSfff>.jpg.chip.jpg``
(gender 0 male, 1 female; race 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others).

Cleaning rules (applied by :func:`load_records`, counted in :class:`CleaningReport`):

1. A name whose first field is not an age is skipped. A few names lack the gender or race
   field or have a stray character in the date (``61_1_2017...``, ``55_0_0_...357jpg``): the
   first number is always the age, so they are kept, with the missing labels set to None.
2. Ages above :data:`MAX_AGE` (100) are dropped: the model has 101 classes, and the few
   UTKFace images labelled 101-116 are mostly wrong (children and adults labelled 110+).
3. Exact duplicates (same bytes under two names) keep one copy, the first name in sorted
   order; when the copies disagree on the age, all of them are dropped.
4. Files that do not decode as images are dropped (the face pipeline raises ImageError).

The split is 80/10/10 by a stable hash of the file name (:func:`split_of`), so an image
stays in the same split across runs, machines and subsets of the data.

The site's reviewed feedback comes as an *export* folder (``manage.py export_dataset``):
``<age>_<id>.jpg`` face crops, already aligned and cropped as the model's training crops,
plus ``manifest.jsonl`` (one JSON object per crop: id, file, age, the model's estimate at
the time, split, ...) and ``release.json`` (the release id, the manifest's hash and the
crops' margin and size). :func:`read_export` reads one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

MAX_AGE = 100
Split = Literal["train", "val", "test"]
GENDERS = ("male", "female")
RACES = ("White", "Black", "Asian", "Indian", "Others")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
EXPORT_MANIFEST = "manifest.jsonl"
EXPORT_RELEASE = "release.json"

_NAME = re.compile(r"^(?P<age>\d+)_(?:(?P<gender>[01])_)?(?:(?P<race>[0-4])_)?")


@dataclass(frozen=True)
class Labels:
    age: int
    gender: int | None
    race: int | None


@dataclass(frozen=True)
class Record:
    name: str
    age: int
    gender: int | None
    race: int | None
    split: Split


@dataclass
class CleaningReport:
    files: int = 0
    unparsed: list[str] = field(default_factory=list)
    partial_labels: list[str] = field(default_factory=list)
    over_max_age: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    conflicting_duplicates: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.files} files; skipped: {len(self.unparsed)} unparsable names, "
            f"{len(self.over_max_age)} ages over {MAX_AGE}, {len(self.duplicates)} duplicate copies, "
            f"{len(self.conflicting_duplicates)} duplicates with conflicting ages; "
            f"kept with partial labels: {len(self.partial_labels)}"
        )


def parse_name(name: str) -> Labels | None:
    """Labels from a UTKFace file name (any folder prefix), or None if it has no age."""
    base = os.path.basename(name)
    match = _NAME.match(base)
    if match is None:
        return None
    gender, race = match.group("gender"), match.group("race")
    # "61_1_20170109..." matches race=None only if the date does not start with 0-4_.
    return Labels(
        age=int(match.group("age")),
        gender=None if gender is None else int(gender),
        race=None if race is None else int(race),
    )


def split_of(name: str) -> Split:
    """Stable 80/10/10 split by the SHA-1 of the file's base name."""
    bucket = int(hashlib.sha1(os.path.basename(name).encode()).hexdigest(), 16) % 10
    if bucket == 0:
        return "test"
    if bucket == 1:
        return "val"
    return "train"


def iter_files(source: str | Path) -> Iterator[tuple[str, bytes]]:
    """Yield (base name, bytes) of every image in a folder (recursively) or a .tar(.gz)."""
    source = Path(source)
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file() and path.name.lower().endswith(IMAGE_SUFFIXES):
                yield path.name, path.read_bytes()
        return
    if not tarfile.is_tarfile(source):
        raise ValueError(f"{source} is neither a folder nor a tar archive")
    with tarfile.open(source, "r:*") as archive:
        for member in archive:
            if member.isfile() and member.name.lower().endswith(IMAGE_SUFFIXES):
                handle = archive.extractfile(member)
                if handle is not None:
                    yield os.path.basename(member.name), handle.read()


def clean(files: Iterator[tuple[str, bytes]]) -> tuple[list[tuple[Record, bytes]], CleaningReport]:
    """Apply cleaning rules 1-3 (see the module docstring); rule 4 is the pipeline's."""
    report = CleaningReport()
    by_digest: dict[str, list[tuple[Record, bytes]]] = {}
    for name, blob in files:
        report.files += 1
        labels = parse_name(name)
        if labels is None:
            report.unparsed.append(name)
            continue
        if labels.age > MAX_AGE:
            report.over_max_age.append(name)
            continue
        if labels.gender is None or labels.race is None:
            report.partial_labels.append(name)
        record = Record(name, labels.age, gender=labels.gender, race=labels.race, split=split_of(name))
        by_digest.setdefault(hashlib.sha1(blob).hexdigest(), []).append((record, blob))
    kept: list[tuple[Record, bytes]] = []
    for copies in by_digest.values():
        copies.sort(key=lambda item: item[0].name)
        if len({record.age for record, _ in copies}) > 1:
            report.conflicting_duplicates.extend(record.name for record, _ in copies)
            continue
        report.duplicates.extend(record.name for record, _ in copies[1:])
        kept.append(copies[0])
    kept.sort(key=lambda item: item[0].name)
    return kept, report


@dataclass(frozen=True)
class Export:
    """One data-set release of the site's reviewed feedback (see the module docstring)."""

    folder: Path
    release: dict[str, Any]  # release.json: release, hash, created_at, count, margin, size
    items: list[dict[str, Any]]  # manifest.jsonl, one dict per crop

    def split(self, split: str) -> list[dict[str, Any]]:
        return [item for item in self.items if split == "all" or item["split"] == split]


def is_export(source: str | Path) -> bool:
    return (Path(source) / EXPORT_MANIFEST).is_file()


def read_export(source: str | Path) -> Export:
    folder = Path(source)
    if not is_export(folder):
        raise ValueError(f"{folder} is not an export of the site's data set (no {EXPORT_MANIFEST})")
    items = [json.loads(line) for line in (folder / EXPORT_MANIFEST).read_text().splitlines() if line.strip()]
    release_file = folder / EXPORT_RELEASE
    release: dict[str, Any] = json.loads(release_file.read_text()) if release_file.exists() else {}
    return Export(folder=folder, release=release, items=items)
