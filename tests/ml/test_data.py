from __future__ import annotations

import io
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ml import data

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "age", "gender", "race"),
    [
        ("25_1_3_20170104231305129.jpg.chip.jpg", 25, 1, 3),
        ("UTKFace/1_0_4_20161221193016140.jpg.chip.jpg", 1, 0, 4),
        ("61_1_20170109142408075.jpg.chip.jpg", 61, 1, None),  # race missing
        ("39_1_20170116174525125.jpg.chip.jpg", 39, 1, None),
        ("55_0_0_20170116232725357jpg.chip.jpg", 55, 0, 0),  # stray character in the date
        ("24_0_1_20170116220224657 .jpg.chip.jpg", 24, 0, 1),  # space in the name
        ("116_1_0_20170120134921760.jpg.chip.jpg", 116, 1, 0),
    ],
)
def test_it_parses_labels_from_normal_and_malformed_names(
    name: str, age: int, gender: int | None, race: int | None
) -> None:
    assert data.parse_name(name) == data.Labels(age, gender, race)


def test_it_refuses_names_without_an_age() -> None:
    assert data.parse_name("portrait.jpg") is None
    assert data.parse_name("x_1_2_2017.jpg") is None


def test_the_split_is_stable_and_close_to_80_10_10() -> None:
    names = [f"{i % 90}_{i % 2}_{i % 5}_2017{i:013d}.jpg.chip.jpg" for i in range(5000)]
    first = [data.split_of(n) for n in names]
    assert first == [data.split_of("some/folder/" + n) for n in names]
    counts = Counter(first)
    assert 0.77 < counts["train"] / 5000 < 0.83
    assert 0.08 < counts["val"] / 5000 < 0.12
    assert 0.08 < counts["test"] / 5000 < 0.12


# Real UTKFace names and the split each has been in since the first model: the published test
# results (docs/results) were measured on exactly these. A change to split_of would silently
# move test faces into training.
PINNED = {
    "10_0_0_20170110220111082.jpg.chip.jpg": "test",
    "10_0_0_20170110220514186.jpg.chip.jpg": "test",
    "100_1_0_20170117195420803.jpg.chip.jpg": "val",
    "105_0_0_20170112213001988.jpg.chip.jpg": "val",
    "100_0_0_20170112213500903.jpg.chip.jpg": "train",
    "100_1_0_20170110183726390.jpg.chip.jpg": "train",
}


def test_real_names_keep_their_pinned_splits() -> None:
    assert {name: data.split_of(name) for name in PINNED} == PINNED
    assert {name: data.split_of(f"UTKFace/{name}") for name in PINNED} == PINNED  # the folder does not count


def test_every_face_of_the_published_test_results_is_in_the_test_split() -> None:
    names = np.load(ROOT / "docs" / "results" / "preds" / "age101.npz")["name"]
    assert len(names) > 2000
    assert {data.split_of(str(name)) for name in names} == {"test"}


def test_cleaning_drops_duplicates_conflicts_and_impossible_ages() -> None:
    files = [
        ("30_0_0_a.jpg.chip.jpg", b"same"),
        ("30_1_0_b.jpg.chip.jpg", b"same"),  # duplicate, same age: one copy kept
        ("10_0_0_c.jpg.chip.jpg", b"other"),
        ("13_0_0_d.jpg.chip.jpg", b"other"),  # duplicate with another age: both dropped
        ("110_0_0_e.jpg.chip.jpg", b"old"),  # over 100
        ("notes.jpg", b"x"),  # no age
        ("61_1_f.jpg.chip.jpg", b"partial"),
    ]
    kept, report = data.clean(iter(files))
    assert [r.name for r, _ in kept] == ["30_0_0_a.jpg.chip.jpg", "61_1_f.jpg.chip.jpg"]
    assert report.duplicates == ["30_1_0_b.jpg.chip.jpg"]
    assert sorted(report.conflicting_duplicates) == ["10_0_0_c.jpg.chip.jpg", "13_0_0_d.jpg.chip.jpg"]
    assert report.over_max_age == ["110_0_0_e.jpg.chip.jpg"]
    assert report.unparsed == ["notes.jpg"]
    assert report.partial_labels == ["61_1_f.jpg.chip.jpg"]


def test_it_reads_the_same_files_from_a_folder_and_an_archive(tmp_path: Path) -> None:
    folder = tmp_path / "UTKFace"
    folder.mkdir()
    for name in ("1_0_0_a.jpg.chip.jpg", "2_1_1_b.jpg.chip.jpg"):
        (folder / name).write_bytes(name.encode())
    (folder / "readme.txt").write_text("not an image")
    archive = tmp_path / "faces.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="UTKFace")
    assert list(data.iter_files(folder)) == list(data.iter_files(archive))
    assert [n for n, _ in data.iter_files(archive)] == ["1_0_0_a.jpg.chip.jpg", "2_1_1_b.jpg.chip.jpg"]


def test_it_refuses_a_source_that_is_neither_folder_nor_archive(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(io.BytesIO(b"nope").read())
    with pytest.raises(ValueError, match="neither a folder nor a tar"):
        list(data.iter_files(path))
