from __future__ import annotations

import numpy as np
import pytest

from ml import ages


def test_expected_value_is_the_mean_of_the_distribution() -> None:
    dist = np.zeros(101)
    dist[[20, 40]] = 0.5
    assert ages.expected_age(dist) == pytest.approx(30.0)
    assert ages.expected_age(np.stack([dist, np.eye(101)[7]])) == pytest.approx([30.0, 7.0])


def test_expected_value_normalises_unnormalised_input() -> None:
    assert ages.expected_age(np.eye(101)[55] * 3) == pytest.approx(55.0)


def test_the_interval_of_a_point_mass_is_the_year_around_it() -> None:
    low, high = ages.interval(np.eye(101)[40])
    assert (low, high) == pytest.approx((39.6, 40.4))


def test_the_80_percent_interval_of_a_gaussian_is_about_plus_minus_1_28_sigma() -> None:
    low, high = ages.interval(ages.gaussian_labels(50, 5.0))
    assert low == pytest.approx(50 - 1.2816 * 5, abs=0.15)
    assert high == pytest.approx(50 + 1.2816 * 5, abs=0.15)


@pytest.mark.parametrize(
    ("age", "group"),
    [
        (0, 0),
        (2, 0),
        (3, 1),
        (6, 1),
        (7, 2),
        (14, 2),
        (15, 3),
        (23, 3),
        (24, 4),
        (34, 4),
        (35, 5),
        (44, 5),
        (45, 6),
        (59, 6),
        (60, 7),
        (100, 7),
        (2.4, 0),
        (2.6, 1),
    ],
)
def test_ages_fall_into_the_seed_groups(age: float, group: int) -> None:
    assert ages.group_of(age) == group


def test_group_probabilities_sum_the_distribution() -> None:
    dist = ages.gaussian_labels([30, 1], [4.0, 1.0])
    groups = ages.group_probs(dist)
    assert groups.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert groups[0].argmax() == 4  # 24-34
    assert groups[1].argmax() == 0  # 0-2


def test_gaussian_labels_are_normalised_and_centred() -> None:
    dist = ages.gaussian_labels([25, 60], [2.0, 4.0])
    assert dist.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert ages.expected_age(dist) == pytest.approx([25.0, 60.0], abs=1e-6)
    assert dist.argmax(axis=1).tolist() == [25, 60]


def test_sharpening_keeps_the_mode_and_narrows_the_interval() -> None:
    dist = ages.gaussian_labels(np.array([30.0]), 6.0)[0]
    sharp = ages.sharpen(dist, 0.5)
    assert sharp.sum() == pytest.approx(1.0) and sharp.argmax() == dist.argmax() == 30
    assert ages.sharpen(dist, 1.0) == pytest.approx(dist)
    (low, high), (slow, shigh) = ages.interval(dist), ages.interval(sharp)
    assert shigh - slow == pytest.approx((high - low) / np.sqrt(2), rel=0.05)  # a Gaussian's sigma / sqrt(2)
