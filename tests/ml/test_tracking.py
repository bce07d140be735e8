"""Tracking a live stream's faces: ids that last, ages that do not flicker."""

from __future__ import annotations

import numpy as np
import pytest

from ml import ages
from ml.tracking import Tracker, iou


def gaussian(age: float) -> list[float]:
    return list(ages.gaussian_labels(np.array([age]), 4.0)[0])


def test_overlap_is_intersection_over_union() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0


def test_a_face_that_moves_a_little_keeps_its_track_and_a_new_one_gets_its_own() -> None:
    tracker = Tracker()
    [first] = tracker.update([(100, 100, 80, 80)], [gaussian(30)])
    moved, newcomer = tracker.update([(106, 104, 80, 80), (400, 100, 80, 80)], [gaussian(30), gaussian(60)])
    assert moved.id == first.id and moved.frames == 2
    assert newcomer.id != first.id and newcomer.frames == 1


def test_two_faces_are_not_swapped_when_they_move_in_step() -> None:
    tracker = Tracker()
    left, right = tracker.update([(0, 0, 50, 50), (100, 0, 50, 50)], [gaussian(20), gaussian(70)])
    b, a = tracker.update([(110, 5, 50, 50), (10, 5, 50, 50)], [gaussian(70), gaussian(20)])  # listed the other way
    assert (a.id, b.id) == (left.id, right.id)


def test_a_track_unseen_for_more_than_max_missed_frames_is_forgotten() -> None:
    tracker = Tracker(max_missed=2)
    [face] = tracker.update([(0, 0, 50, 50)], [gaussian(40)])
    for _ in range(2):
        tracker.update([], [])
    [again] = tracker.update([(0, 0, 50, 50)], [gaussian(40)])
    assert again.id == face.id  # back within the allowance
    for _ in range(3):
        tracker.update([], [])
    [later] = tracker.update([(0, 0, 50, 50)], [gaussian(40)])
    assert later.id != face.id


def test_the_age_is_smoothed_so_a_noisy_still_face_barely_moves() -> None:
    rng = np.random.default_rng(0)
    tracker = Tracker()
    raw, shown = [], []
    for _ in range(60):
        age = 35 + rng.normal(0, 3)  # each frame's estimate jumps about by 3 years
        [track] = tracker.update([(0, 0, 50, 50)], [gaussian(age)])
        raw.append(age)
        shown.append(float(ages.expected_age(track.distribution)))
    assert np.std(shown[10:]) < np.std(raw[10:]) / 2
    assert abs(np.mean(shown[10:]) - 35) < 1.5


def test_the_first_frames_weigh_the_same_so_the_first_does_not_linger() -> None:
    tracker = Tracker(alpha=0.1)
    tracker.update([(0, 0, 50, 50)], [gaussian(20)])
    [track] = tracker.update([(0, 0, 50, 50)], [gaussian(40)])
    assert float(ages.expected_age(track.distribution)) == pytest.approx(30, abs=0.5)  # the mean of both
