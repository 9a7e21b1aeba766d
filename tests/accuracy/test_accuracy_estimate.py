"""The stratified estimator: the worked example of Olofsson et al. (2014) and CI coverage."""

from __future__ import annotations

import numpy as np
import pytest

from terralearn.accuracy import estimate_area
from terralearn.errors import ConfigError

# Olofsson et al. 2014 (RSE 148:42-57), section 5, Table 8: rows map class, columns reference.
# deforestation, forest gain, stable forest, stable non-forest; 30 m pixels (0.09 ha).
OLOFSSON_COUNTS = np.array(
    [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
)  # fmt: skip
OLOFSSON_PIXELS = np.array([200_000, 150_000, 3_200_000, 6_450_000])


def test_olofsson_2014_worked_example():
    assert OLOFSSON_COUNTS.sum(axis=1).tolist() == [75, 75, 165, 325]
    est = estimate_area(OLOFSSON_COUNTS, OLOFSSON_PIXELS * 0.09)
    # error-adjusted areas and their 95 % CIs in ha (paper p. 54)
    np.testing.assert_allclose(np.round(est.area), [21_158, 11_686, 285_770, 581_386])
    np.testing.assert_allclose(np.round(est.area_ci95), [6_158, 3_756, 15_510, 16_281])
    np.testing.assert_allclose(np.round(est.users, 2), [0.88, 0.73, 0.93, 0.96])
    np.testing.assert_allclose(np.round(est.users_ci95, 2), [0.07, 0.10, 0.04, 0.02])
    np.testing.assert_allclose(np.round(est.producers, 2), [0.75, 0.85, 0.93, 0.96])
    np.testing.assert_allclose(np.round(est.producers_ci95, 2), [0.21, 0.25, 0.03, 0.02])
    assert round(est.overall, 2) == 0.95
    assert round(est.overall_ci95, 2) == 0.02
    # the error matrix in area proportions: W_i n_ij / n_i.
    assert est.proportions.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(est.proportions[0], [0.0176, 0, 0.02 * 5 / 75, 0.02 * 4 / 75])
    np.testing.assert_allclose(est.proportions.sum(axis=1), OLOFSSON_PIXELS / 1e7)
    # areas are in the unit of mapped_area: pixels give the same proportions
    in_pixels = estimate_area(OLOFSSON_COUNTS, OLOFSSON_PIXELS)
    np.testing.assert_allclose(in_pixels.area * 0.09, est.area)


def test_unmapped_class_found_by_reference_has_area_but_no_users_accuracy():
    counts = np.array([[48, 2, 0], [3, 47, 0], [0, 0, 0]])
    est = estimate_area(counts, [600.0, 400.0, 0.0])
    assert np.isnan(est.users[2]) and np.isnan(est.producers[2])
    assert est.area[2] == 0
    # class 0: 48/50 of 600 + 3/50 of 400
    assert est.area[0] == pytest.approx(0.96 * 600 + 0.06 * 400)
    counts[0, 2] = 1  # a reference class only: no mapped area, but some area from the sample
    counts[0, 0] = 47
    est = estimate_area(counts, [600.0, 400.0, 0.0])
    assert est.area[2] == pytest.approx(600 / 50)
    assert est.producers[2] == 0


@pytest.mark.parametrize(
    ("counts", "mapped", "message"),
    [
        ([[5, 0], [0, 1]], [10, 10], "stratum (map class index) 1 has 1 sample point"),
        ([[5, 0], [0, 1]], [10, 10, 3], "counts must be (k, k)"),
        ([[5, -1], [0, 4]], [10, 10], "must be >= 0"),
    ],
)
def test_estimate_area_refuses_bad_input(counts, mapped, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        estimate_area(counts, mapped)


def test_area_ci95_covers_the_true_area_in_90_to_99_percent_of_samples():
    """200 independent stratified samples of one map with known truth (no files)."""
    rng = np.random.default_rng(20131)
    k, size = 4, 200 * 200
    truth = rng.choice(k, size=size, p=[0.55, 0.25, 0.15, 0.05])
    mapped = truth.copy()
    # errors of commission and omission between specific classes, as maps make them
    confuse = [(0, 1, 0.08), (1, 0, 0.15), (2, 1, 0.20), (3, 0, 0.30), (0, 3, 0.02)]
    for true_class, map_class, rate in confuse:
        hit = (truth == true_class) & (mapped == true_class) & (rng.random(size) < rate)
        mapped[hit] = map_class
    pixels = np.bincount(mapped, minlength=k)
    true_area = np.bincount(truth, minlength=k)
    members = [np.flatnonzero(mapped == h) for h in range(k)]
    per_stratum = [200, 120, 80, 60]
    runs, covered = 200, np.zeros(k)
    for _ in range(runs):
        counts = np.zeros((k, k), dtype=np.int64)
        for h in range(k):
            drawn = rng.choice(members[h], size=per_stratum[h], replace=False)
            counts[h] = np.bincount(truth[drawn], minlength=k)
        est = estimate_area(counts, pixels)
        covered += np.abs(est.area - true_area) <= est.area_ci95
    coverage = covered / runs
    assert ((coverage >= 0.90) & (coverage <= 0.99)).all(), coverage
    # the map itself is biased: without the adjustment the mapped area misses the truth
    assert (np.abs(pixels - true_area) / true_area > 0.05).any()
