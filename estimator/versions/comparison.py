"""Two model versions on the same reviewed faces: their errors, the difference and how sure
it is (a paired bootstrap), overall and by age band. Plain Python and NumPy, no Django.

The comparison is paired: both versions estimated the very same faces, so each face's error
difference is one observation, and resampling faces (not the two versions' errors apart)
keeps what the faces share out of the interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.ages import GROUPS

RESAMPLES = 1000
SEED = 20261206  # fixed: the same faces always give the same interval
LEVEL = 0.95


@dataclass(frozen=True)
class Pair:
    """One reviewed face: its true age, the served version's estimate and the other's."""

    label: float
    served: float
    other: float


@dataclass(frozen=True)
class Paired:
    """The two versions on ``n`` faces. ``difference`` is the other version's MAE minus the
    served one's (below 0: the other is better), with its ``LEVEL`` bootstrap interval
    [``low``, ``high``]; ``shift`` is the mean of the other's age minus the served one's."""

    n: int
    served_mae: float | None = None
    other_mae: float | None = None
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    shift: float | None = None


def paired(pairs: Sequence[Pair], *, resamples: int = RESAMPLES, seed: int = SEED) -> Paired:
    if not pairs:
        return Paired(n=0)
    label = np.array([p.label for p in pairs], np.float64)
    served = np.array([p.served for p in pairs], np.float64)
    other = np.array([p.other for p in pairs], np.float64)
    served_errors, other_errors = np.abs(served - label), np.abs(other - label)
    differences = other_errors - served_errors
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, len(pairs), size=(resamples, len(pairs)))].mean(axis=1)
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Paired(
        n=len(pairs),
        served_mae=float(served_errors.mean()),
        other_mae=float(other_errors.mean()),
        difference=float(differences.mean()),
        low=float(low),
        high=float(high),
        shift=float((other - served).mean()),
    )


def mae_difference(pairs: Sequence[Pair]) -> float | None:
    """The other version's MAE minus the served one's on these faces (no interval)."""
    if not pairs:
        return None
    return sum(abs(p.other - p.label) - abs(p.served - p.label) for p in pairs) / len(pairs)


def band(age: float) -> str:
    """The age group (ml.ages.GROUPS) of a true age; ages past the last group's end are its."""
    for name, _, high in GROUPS:
        if age <= high:
            return name
    return GROUPS[-1][0]


def paired_by_band(pairs: Sequence[Pair]) -> list[tuple[str, Paired]]:
    """:func:`paired` within each of the 8 age groups, by the true age, in the groups' order."""
    return [(name, paired([p for p in pairs if band(p.label) == name])) for name, _, _ in GROUPS]
