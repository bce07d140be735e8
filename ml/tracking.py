"""Follow faces across the frames of one live stream and smooth each one's age.

The worker estimates every frame on its own (it keeps no state); the stream's owner keeps
a :class:`Tracker`, which matches each frame's faces to the previous ones by box overlap,
gives each face a track id that lasts while it stays in view, and smooths its 101-way age
distribution with an exponential moving average, so that a still face does not flicker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Box = tuple[float, float, float, float]  # x, y, width, height


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not touch)."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@dataclass
class Track:
    id: int
    box: Box
    distribution: NDArray[np.float64]  # smoothed, sums to 1
    frames: int = 1  # frames this face was seen in
    missed: int = 0  # frames in a row it was not seen in


class Tracker:
    """Tracks of one stream. ``alpha`` is the weight of the newest frame in the moving
    average once a track is ``1 / alpha`` frames old; before that every frame so far weighs
    the same (a plain mean), so the first frame does not linger. At 15-20 frames a second,
    0.15 averages over about half a second. A track unseen for more than ``max_missed``
    frames is forgotten."""

    def __init__(self, alpha: float = 0.15, min_iou: float = 0.3, max_missed: int = 5) -> None:
        self.alpha, self.min_iou, self.max_missed = alpha, min_iou, max_missed
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, boxes: Sequence[Box], distributions: Sequence[Sequence[float]]) -> list[Track]:
        """Take one frame's faces; returns their tracks, in the order of ``boxes``."""
        pairs = sorted(
            ((iou(box, track.box), i, j) for i, box in enumerate(boxes) for j, track in enumerate(self.tracks)),
            reverse=True,
        )
        matched: dict[int, Track] = {}
        taken: set[int] = set()
        for overlap, i, j in pairs:  # greedy: the best overlaps first
            if overlap < self.min_iou:
                break
            if i not in matched and j not in taken:
                matched[i] = self.tracks[j]
                taken.add(j)
        result = []
        for i, (box, dist) in enumerate(zip(boxes, distributions, strict=True)):
            new = np.asarray(dist, np.float64)
            track = matched.get(i)
            if track is None:
                track = Track(id=self._next_id, box=box, distribution=new)
                self._next_id += 1
                self.tracks.append(track)
            else:
                track.box, track.frames, track.missed = box, track.frames + 1, 0
                weight = max(self.alpha, 1 / track.frames)
                track.distribution = (1 - weight) * track.distribution + weight * new
            result.append(track)
        seen = {id(t) for t in result}
        for track in self.tracks:
            if id(track) not in seen:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return result
