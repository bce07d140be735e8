"""Age arithmetic on 101-way distributions (ages 0..100): expected value, intervals, groups.

Pure numpy, shared by training, evaluation and inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

AGES = np.arange(101, dtype=np.float64)
# The 8 age groups shown to people; each is [low, high] inclusive, the last one open-ended.
GROUPS: tuple[tuple[str, int, int], ...] = (
    ("0-2", 0, 2),
    ("3-6", 3, 6),
    ("7-14", 7, 14),
    ("15-23", 15, 23),
    ("24-34", 24, 34),
    ("35-44", 35, 44),
    ("45-59", 45, 59),
    ("60+", 60, 100),
)
GROUP_NAMES = tuple(name for name, _, _ in GROUPS)

Floats = NDArray[np.float64]


def expected_age(dist: ArrayLike) -> Floats:
    """The mean of each distribution (rows of ``dist``, or one vector)."""
    p = np.asarray(dist, np.float64)
    out: Floats = p @ AGES / p.sum(axis=-1)
    return out


def percentile_age(dist: ArrayLike, q: float) -> Floats:
    """The age at which the cumulative probability reaches ``q``, interpolated linearly
    between whole years (ages are treated as the centres of one-year bins)."""
    p = np.asarray(dist, np.float64)
    cdf = np.cumsum(p / p.sum(axis=-1, keepdims=True), axis=-1)
    flat = cdf.reshape(-1, 101)
    out = np.array([np.interp(q, np.concatenate([[0.0], row]), np.arange(-0.5, 101.0)) for row in flat])
    return out.reshape(cdf.shape[:-1]).clip(0.0, 100.0)


def interval(dist: ArrayLike, low: float = 0.1, high: float = 0.9) -> tuple[Floats, Floats]:
    """The (10th, 90th) percentile ages by default: an 80% interval."""
    return percentile_age(dist, low), percentile_age(dist, high)


def sharpen(dist: ArrayLike, temperature: float) -> Floats:
    """Each distribution with its log-probabilities divided by ``temperature`` (below 1:
    more peaked, above 1: flatter), renormalised: the softmax of logits / temperature."""
    logits = np.log(np.clip(np.asarray(dist, np.float64), 1e-12, None)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    out: Floats = weights / weights.sum(axis=-1, keepdims=True)
    return out


def group_of(age: ArrayLike) -> NDArray[np.int64]:
    """Index into GROUPS of each (integer or real) age; real ages are rounded first."""
    a = np.clip(np.rint(np.asarray(age, np.float64)), 0, 100)
    uppers = np.array([high for _, _, high in GROUPS[:-1]])
    return np.searchsorted(uppers, a, side="left").astype(np.int64)


def group_probs(dist: ArrayLike) -> Floats:
    """Sum each distribution over the 8 groups."""
    p = np.asarray(dist, np.float64)
    return np.stack([p[..., lo : hi + 1].sum(axis=-1) for _, lo, hi in GROUPS], axis=-1)


@dataclass(frozen=True)
class AgeSummary:
    """What a person is shown of one face's 101-way distribution."""

    age: float  # the expected value: the model's best single guess
    low: float  # 10th percentile
    high: float  # 90th percentile
    groups: dict[str, float]  # the 8 groups (GROUP_NAMES, in order) -> probability


def summarize(dist: ArrayLike) -> AgeSummary:
    """The age, 80% interval and 8 groups of one distribution: uploads and live alike."""
    p = np.asarray(dist, np.float64)
    low, high = interval(p)
    groups = dict(zip(GROUP_NAMES, (float(g) for g in group_probs(p)), strict=True))
    return AgeSummary(age=float(expected_age(p)), low=float(low), high=float(high), groups=groups)


def gaussian_labels(ages: ArrayLike, sigma: float | ArrayLike) -> Floats:
    """Label distributions: a Gaussian around each age over 0..100, normalised.

    Gaussian label augmentation (label distribution learning): a neighbour of the true
    age is nearly as right as the age itself."""
    a = np.asarray(ages, np.float64)[..., None]
    s = np.maximum(np.asarray(sigma, np.float64), 1e-3)
    if s.ndim:
        s = s[..., None]
    d: Floats = np.exp(-0.5 * ((AGES - a) / s) ** 2)
    out: Floats = d / d.sum(axis=-1, keepdims=True)
    return out
