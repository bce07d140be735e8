"""Tracking a live stream's faces: ids that last, ages that do not flicker."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ml import ages
from ml.inference import Estimator
from ml.tracking import Track, Tracker, iou


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


# --- real faces through the live path: ml.inference's estimate_frame, then the tracker ---


def _webcam_frame(chip: np.ndarray, *, x: int, rng: np.random.Generator, y: int = 130) -> bytes:
    """A chip as a webcam would show it: 220 px on a 640x480 frame, camera noise, JPEG."""
    canvas = np.full((480, 640, 3), 118.0)
    canvas[y : y + 220, x : x + 220] = cv2.resize(chip, (220, 220), interpolation=cv2.INTER_AREA)
    noisy = np.clip(canvas + rng.normal(0, 3.0, canvas.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(noisy).save(out, "JPEG", quality=80)
    return out.getvalue()


@pytest.fixture(scope="module")
def two_people(utkface_sample: Path) -> list[np.ndarray]:
    """Two UTKFace people of clearly different ages (the sample's youngest and oldest)."""
    chips = sorted(utkface_sample.glob("*.jpg"), key=lambda p: int(p.name.split("_")[0]))
    return [np.asarray(Image.open(chips[i]).convert("RGB")) for i in (len(chips) // 4, -1)]


def _stream(estimator: Estimator, tracker: Tracker, frame: bytes) -> tuple[Track, float]:
    """One frame through the live path; the tracked face and its own (unsmoothed) age."""
    [face] = estimator.estimate_frame(frame).faces
    [track] = tracker.update([face.box], [face.distribution], [face.appearance])
    return track, face.age


def test_a_new_person_at_the_same_place_gets_a_new_track_and_their_own_age_at_once(
    shipped_estimator: Estimator, two_people: list[np.ndarray]
) -> None:
    rng, tracker = np.random.default_rng(0), Tracker()
    first, second = two_people
    for _ in range(10):
        a, _ = _stream(shipped_estimator, tracker, _webcam_frame(first, x=210, rng=rng))
    b1, own1 = _stream(shipped_estimator, tracker, _webcam_frame(second, x=210, rng=rng))
    b2, own2 = _stream(shipped_estimator, tracker, _webcam_frame(second, x=210, rng=rng))
    assert b1.id != a.id and b2.id == b1.id
    shown = float(ages.expected_age(b2.distribution))
    assert shown == pytest.approx((own1 + own2) / 2, abs=0.05)  # B's frames alone, nothing of A's
    assert abs(float(ages.expected_age(a.distribution)) - shown) > 10  # the two really differ


def test_a_still_face_keeps_one_track_and_a_steady_age_under_camera_noise(
    shipped_estimator: Estimator, two_people: list[np.ndarray]
) -> None:
    rng, tracker = np.random.default_rng(1), Tracker()
    tracks, shown = set(), []
    for _ in range(40):
        track, _ = _stream(shipped_estimator, tracker, _webcam_frame(two_people[0], x=210, rng=rng))
        tracks.add(track.id)
        shown.append(float(ages.expected_age(track.distribution)))
    assert len(tracks) == 1
    assert np.std(shown[10:]) <= 1.5


def test_a_face_that_moves_fast_across_the_frame_keeps_its_track(
    shipped_estimator: Estimator, two_people: list[np.ndarray]
) -> None:
    rng, tracker = np.random.default_rng(2), Tracker()
    ids = set()
    for x in range(20, 420, 80):  # 80 px a frame: consecutive boxes barely overlap
        track, _ = _stream(shipped_estimator, tracker, _webcam_frame(two_people[1], x=x, rng=rng))
        ids.add(track.id)
    assert len(ids) == 1
