"""Tests for terralearn.sampling.samplers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from terralearn.errors import ConfigError
from terralearn.geo import chip_offsets
from terralearn.sampling import (
    SAMPLERS,
    ClassBalancedSampler,
    GridSampler,
    RandomSampler,
    count_columns,
    get_sampler,
)


def _table(valid, **counts):
    n = len(valid)
    return pd.DataFrame(
        {
            "row_off": np.arange(n) * 10,
            "col_off": np.zeros(n, dtype=int),
            "valid_fraction": valid,
            **counts,
        }
    )


def test_registry_names():
    assert sorted(SAMPLERS) == ["class_balanced", "grid", "random"]
    assert isinstance(get_sampler("grid", stride=8), GridSampler)
    assert isinstance(get_sampler("random", n=3, seed=1), RandomSampler)
    assert isinstance(get_sampler("class_balanced", power=1.0), ClassBalancedSampler)


def test_unknown_sampler_lists_known_names():
    with pytest.raises(ConfigError) as err:
        get_sampler("stratified")
    assert (
        str(err.value)
        == "unknown sampler 'stratified'; choose one of: class_balanced, grid, random"
    )


def test_bad_sampler_option_names_the_options():
    with pytest.raises(
        ConfigError, match=r"bad options for sampler 'grid': .*'n'.*; it takes: stride, min_valid"
    ):
        get_sampler("grid", n=5)
    with pytest.raises(
        ConfigError, match=r"bad options for sampler 'random'.*; it takes: n, seed, min_valid"
    ):
        get_sampler("random")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: GridSampler(min_valid=1.5),
            "sampler option min_valid must be between 0 and 1, got 1.5",
        ),
        (lambda: GridSampler(stride=0), "sampler option stride must be >= 1 pixel, got 0"),
        (lambda: RandomSampler(n=0), r"sampler option n \(number of chips\) must be >= 1, got 0"),
        (lambda: ClassBalancedSampler(power=-1), "sampler option power must be >= 0, got -1"),
    ],
)
def test_option_validation(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_grid_sampler_candidates_are_the_chip_grid():
    np.testing.assert_array_equal(
        GridSampler(stride=3).candidates(10, 12, 4), chip_offsets(10, 12, 4, 3)
    )


def test_min_valid_filtering_keeps_extra_columns():
    table = _table([0.2, 0.5, 0.9, 0.49], other=["a", "b", "c", "d"])
    out = GridSampler(min_valid=0.5).select(table)
    assert list(out.index) == [0, 1]
    assert list(out["other"]) == ["b", "c"]
    assert list(out["row_off"]) == [10, 20]
    assert out["weight"].dtype == np.float64
    assert list(out["weight"]) == [1.0, 1.0]
    assert len(GridSampler(min_valid=0.0).select(table)) == 4


def test_select_needs_valid_fraction():
    with pytest.raises(ValueError, match="no 'valid_fraction' column"):
        GridSampler().select(pd.DataFrame({"row_off": [0]}))


def test_random_sampler_is_deterministic_distinct_and_inside():
    a = RandomSampler(n=50, seed=7).candidates(100, 80, 16)
    b = RandomSampler(n=50, seed=7).candidates(100, 80, 16)
    c = RandomSampler(n=50, seed=8).candidates(100, 80, 16)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (50, 2)
    assert len(np.unique(a, axis=0)) == 50
    assert a.min() >= 0 and a[:, 0].max() <= 84 and a[:, 1].max() <= 64
    np.testing.assert_array_equal(a, a[np.lexsort((a[:, 1], a[:, 0]))])


def test_random_sampler_returns_all_positions_when_n_exceeds_them():
    out = RandomSampler(n=100).candidates(5, 6, 4)
    assert out.tolist() == [[r, c] for r in range(2) for c in range(3)]


def test_random_sampler_validates_chip_size():
    with pytest.raises(ConfigError, match="chip size 9 is larger than the image"):
        RandomSampler(n=1).candidates(5, 6, 9)


def test_random_sampler_filters_and_weights_one():
    out = RandomSampler(n=2, min_valid=0.3).select(_table([0.1, 0.3]))
    assert out["row_off"].tolist() == [10]
    assert out["weight"].tolist() == [1.0]


def test_class_balanced_weights_hand_computed():
    # f0 = 300/400 = 0.75, f1 = 0.25; power 1: raw A = 1/0.25 = 4, B = 1/0.75 = 4/3,
    # C (no labels) = min = 4/3; mean 20/9 -> A = 1.8, B = C = 0.6; D is below min_valid.
    table = _table([1.0, 0.8, 0.6, 0.1], count_0=[0, 300, 0, 1000], count_1=[100, 0, 0, 0])
    out = ClassBalancedSampler(power=1.0).select(table)
    np.testing.assert_allclose(out["weight"], [1.8, 0.6, 0.6], rtol=1e-12)
    assert out["weight"].mean() == pytest.approx(1.0)


def test_class_balanced_rare_class_chips_weigh_more():
    # chip 0: mostly rare class 1; chip 1: half/half; chip 2: only common class 0
    table = _table([1, 1, 1], count_0=[10, 50, 100], count_1=[90, 50, 0], count_2=[0, 0, 0])
    w = ClassBalancedSampler(power=0.5).select(table)["weight"].to_numpy()
    assert w[0] > w[1] > w[2]
    f = np.array([160, 140]) / 300
    raw = np.array(
        [
            (10 * f[0] ** -0.5 + 90 * f[1] ** -0.5) / 100,
            (f[0] ** -0.5 + f[1] ** -0.5) / 2,
            f[0] ** -0.5,
        ]
    )
    np.testing.assert_allclose(w, raw / raw.mean(), rtol=1e-12)


def test_class_balanced_power_zero_and_no_labels_give_ones():
    table = _table([1, 1], count_0=[10, 0], count_1=[0, 10])
    assert ClassBalancedSampler(power=0.0).select(table)["weight"].tolist() == [1.0, 1.0]
    assert ClassBalancedSampler().select(_table([1, 1]))["weight"].tolist() == [1.0, 1.0]
    empty_labels = _table([1, 1], count_0=[0, 0])
    assert ClassBalancedSampler().select(empty_labels)["weight"].tolist() == [1.0, 1.0]


def test_count_columns_sorted_by_class_id():
    table = pd.DataFrame(columns=["count_10", "count_2", "valid_fraction", "count_x", "count_0"])
    assert count_columns(table) == ["count_0", "count_2", "count_10"]


def test_top_level_exports():
    import terralearn
    from terralearn import geo, sampling

    for name in ("chip_offsets", "chip_windows", "Window"):
        assert getattr(terralearn, name) is getattr(geo, name)
    for name in ("block_split", "block_kfold", "random_split", "BandStatistics", "get_sampler"):
        assert getattr(terralearn, name) is getattr(sampling, name)
    assert set(geo.__all__) <= set(dir(geo)) and set(sampling.__all__) <= set(dir(sampling))
