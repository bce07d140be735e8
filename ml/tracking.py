"""Follow faces across the frames of one live stream and smooth each one's age.

The worker estimates every frame on its own (it keeps no state); the stream's owner keeps
a :class:`Tracker`, which matches each frame's faces to the previous ones, gives each face a
track id that lasts while it stays in view, and smooths its 101-way age distribution with an
exponential moving average, so that a still face does not flicker.

A face is matched by who it looks like, not only by where it is: each face carries a small
:func:`appearance` descriptor of its aligned crop, and a face that does not look like the
track at its place starts a track of its own, so two people taking turns in front of the
camera never share a track, nor each other's smoothed age. A face that looks like a track
keeps it even when it moved far between two frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from ml import ages, faces

Box = tuple[float, float, float, float]  # x, y, width, height
Descriptor = NDArray[np.float64]

APPEARANCE_SIDE = 12  # the descriptor is the aligned face at 12 x 12 x RGB: 432 numbers
# Cosine similarity of two descriptors at or above which they are the same face, chosen on
# validation chips placed in webcam-sized frames (the model card, "Live tracking").
SAME_FACE = 0.76
# A track not seen in the last frame competes with every newcomer for longer, so it asks for
# more likeness; and a face whose age differs this much from its track's is someone else.
SAME_FACE_AFTER_A_GAP = 0.9
MAX_AGE_JUMP = 15.0


def appearance(rgb: faces.RGB, face: faces.Detection) -> Descriptor:
    """What a face looks like, cheaply: its eye-aligned crop (no margin) at 12 x 12 in
    colour, divided by its mean brightness (a light change is not a new person), centred
    and scaled to unit length, so two descriptors compare by their dot product."""
    x, y, w, h = face.box
    left, top = max(x - w // 2, 0), max(y - h // 2, 0)  # the face and some room: cheaper than the frame
    region = rgb[top : y + h + h // 2, left : x + w + w // 2]
    moved = faces.Detection(
        box=(x - left, y - top, w, h), landmarks=tuple((px - left, py - top) for px, py in face.landmarks), score=0.0
    )
    crop = faces.crop_face(np.ascontiguousarray(region), moved, margin=0.0, size=4 * APPEARANCE_SIDE).astype(np.float64)
    small = cv2.resize(crop, (APPEARANCE_SIDE, APPEARANCE_SIDE), interpolation=cv2.INTER_AREA)
    small = small / (small.mean() + 1e-6)
    centred = (small - small.mean()).ravel()
    out: Descriptor = centred / (np.linalg.norm(centred) + 1e-9)
    return out


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not touch)."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _near(a: Box, b: Box) -> bool:
    """Close enough in place and size to be the same face a frame later, however fast it
    moved: centres less than two face widths apart, sizes within a factor of 1.6."""
    ax, ay, bx, by = a[0] + a[2] / 2, a[1] + a[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    side = max(a[2], a[3], b[2], b[3])
    ratio = max(a[2], b[2]) / max(min(a[2], b[2]), 1e-6)
    return float(np.hypot(ax - bx, ay - by)) < 2 * side and ratio < 1.6


@dataclass
class Track:
    id: int
    box: Box
    distribution: NDArray[np.float64]  # smoothed, sums to 1
    look: Descriptor | None = None  # smoothed appearance, unit length
    frames: int = 1  # frames this face was seen in
    missed: int = 0  # frames in a row it was not seen in


class Tracker:
    """Tracks of one stream. ``alpha`` is the weight of the newest frame in the moving
    average once a track is ``1 / alpha`` frames old; before that every frame so far weighs
    the same (a plain mean), so the first frame does not linger. At 15-20 frames a second,
    0.15 averages over about half a second. A track unseen for more than ``max_missed``
    frames is forgotten. Faces given without descriptors are matched by overlap alone
    (``min_iou``)."""

    def __init__(
        self, alpha: float = 0.15, min_iou: float = 0.3, max_missed: int = 5, same_face: float = SAME_FACE
    ) -> None:
        self.alpha, self.min_iou, self.max_missed, self.same_face = alpha, min_iou, max_missed, same_face
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(
        self,
        boxes: Sequence[Box],
        distributions: Sequence[Sequence[float]],
        looks: Sequence[Sequence[float] | None] | None = None,
    ) -> list[Track]:
        """Take one frame's faces (and their :func:`appearance`, where known); returns their
        tracks, in the order of ``boxes``."""
        descriptors = [None if look is None else np.asarray(look, np.float64) for look in looks or [None] * len(boxes)]
        pairs = sorted(
            (score, i, j)
            for i, (box, dist, look) in enumerate(zip(boxes, distributions, descriptors, strict=True))
            for j, track in enumerate(self.tracks)
            if (score := self._match(box, dist, look=look, track=track)) is not None
        )
        matched: dict[int, Track] = {}
        taken: set[int] = set()
        for _, i, j in reversed(pairs):  # greedy: the best matches first
            if i not in matched and j not in taken:
                matched[i] = self.tracks[j]
                taken.add(j)
        result = [
            self._follow(matched.get(i), box, dist=dist, look=look)
            for i, (box, dist, look) in enumerate(zip(boxes, distributions, descriptors, strict=True))
        ]
        seen = {id(t) for t in result}
        for track in self.tracks:
            if id(track) not in seen:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return result

    def _match(self, box: Box, dist: Sequence[float], look: Descriptor | None, track: Track) -> float | None:
        """How well a face fits a track (higher is better), or None when it cannot be it."""
        overlap = iou(box, track.box)
        if look is None or track.look is None:
            return overlap if overlap >= self.min_iou else None
        if abs(float(ages.expected_age(dist)) - float(ages.expected_age(track.distribution))) > MAX_AGE_JUMP:
            return None
        similarity = float(look @ track.look)
        needed = self.same_face if track.missed == 0 else max(self.same_face, SAME_FACE_AFTER_A_GAP)
        if similarity < needed or not _near(box, track.box):
            return None
        return similarity + overlap / 10  # overlap only breaks ties between look-alikes

    def _follow(self, track: Track | None, box: Box, dist: Sequence[float], look: Descriptor | None) -> Track:
        new = np.asarray(dist, np.float64)
        if track is None:
            track = Track(id=self._next_id, box=box, distribution=new, look=look)
            self._next_id += 1
            self.tracks.append(track)
            return track
        track.box, track.frames, track.missed = box, track.frames + 1, 0
        weight = max(self.alpha, 1 / track.frames)
        track.distribution = (1 - weight) * track.distribution + weight * new
        if look is not None:
            mixed = look if track.look is None else (1 - weight) * track.look + weight * look
            track.look = mixed / (np.linalg.norm(mixed) + 1e-9)
        return track
