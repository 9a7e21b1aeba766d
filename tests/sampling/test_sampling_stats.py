"""Tests for terralearn.sampling.stats.BandStatistics against numpy on the concatenated data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terralearn.errors import ConfigError
from terralearn.sampling import PERCENTILES, BandStatistics


def reference(values: np.ndarray) -> dict[str, float]:
    x = np.sort(values.astype(np.float64))
    n = len(x)
    out = {"count": n, "mean": x.mean(), "std": x.std(), "min": x[0], "max": x[-1]}
    for q in PERCENTILES:
        out[f"p{q}"] = x[q * (n - 1) // 100]  # numpy method="lower", with an exact rank
    return out


def check(stats: BandStatistics, band: str, values: np.ndarray) -> None:
    got, ref = stats.result()[band], reference(values)
    assert got["count"] == ref["count"]
    assert got["mean"] == pytest.approx(ref["mean"], rel=1e-9, abs=1e-9)
    assert got["std"] == pytest.approx(ref["std"], rel=1e-9, abs=1e-9)
    assert got["min"] == ref["min"] and got["max"] == ref["max"]
    width = stats.bin_width(band)
    for q in PERCENTILES:
        assert abs(got[f"p{q}"] - ref[f"p{q}"]) < width, (q, got[f"p{q}"], ref[f"p{q}"], width)


def batches(rng, dtype, n_batches=4, bands=3):
    out = []
    for i in range(n_batches):
        shape = (bands, 20 + 3 * i, 17)
        if np.issubdtype(dtype, np.integer):
            data = rng.integers(0, 3000 * (i + 1), size=shape).astype(dtype)
        else:
            data = (rng.normal(0, 1, size=shape) * 10 ** (i % 3) + 50 * i).astype(dtype)
        valid = rng.random(shape[1:]) > 0.3
        out.append((data, valid))
    return out


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32, np.float64, np.int32, np.uint8])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_numpy_with_masks(dtype, seed):
    rng = np.random.default_rng(seed)
    stats = BandStatistics(["b0", "b1", "b2"])
    data = batches(rng, dtype)
    for pixels, valid in data:
        stats.update(pixels, valid)
    for c, name in enumerate(stats.band_names):
        check(stats, name, np.concatenate([p[c][v] for p, v in data]))


def test_default_integer_grids():
    stats = BandStatistics(["a"], bins=4096)
    stats.update(np.array([[0, 65535, 7]], dtype=np.uint16))
    assert stats.bin_width("a") == 16.0
    small = BandStatistics(["a"])
    small.update(np.arange(1, 101, dtype=np.uint8)[None])
    assert small.bin_width("a") == 1.0
    # width-1 bins over integers give the exact percentiles
    result = small.result()["a"]
    assert [result[f"p{q}"] for q in PERCENTILES] == [1.0, 2.0, 50.0, 98.0, 99.0]


def test_value_range_sets_the_grid_and_values_outside_grow_it():
    # [0, 1] with 1.0 included needs floor(1 / w) + 1 <= 1024 bins: w = 2^-9
    stats = BandStatistics(["a"], bins=1024, value_range=(0.0, 1.0))
    assert stats.bin_width("a") == 2.0**-9
    rng = np.random.default_rng(3)
    first = rng.random((1, 1000))
    stats.update(first)
    assert stats.bin_width("a") == 2.0**-9
    second = rng.uniform(-30, 5, size=(1, 1000))
    stats.update(second)
    # [-30, 5]: w = 2^-5 needs 160 + 960 + 1 = 1121 bins, w = 2^-4 needs 561
    assert stats.bin_width("a") == 2.0**-4
    check(stats, "a", np.concatenate([first[0], second[0]]))


def test_integers_with_a_fine_value_range_stay_exact():
    stats = BandStatistics(["a"], value_range=(0.0, 1.0))
    stats.update(np.array([[0, 1, 1, 0, 1]], dtype=np.int32))
    assert stats.result()["a"]["p50"] == 1.0 and stats.result()["a"]["p1"] == 0.0


def test_grid_grows_from_a_constant_first_batch():
    stats = BandStatistics(["a"], bins=256)
    stats.update(np.zeros((1, 50)))
    values = np.random.default_rng(4).normal(1e4, 3e3, size=5000)
    stats.update(values[None])
    check(stats, "a", np.concatenate([np.zeros(50), values]))


@settings(max_examples=40, deadline=None)
@given(
    chunks=st.lists(
        st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=0, max_size=40),
        min_size=1,
        max_size=5,
    ),
    bins=st.sampled_from([2, 3, 64, 4096]),
)
def test_streamed_equals_numpy_for_any_chunks(chunks, bins):
    stats = BandStatistics(["a"], bins=bins)
    for chunk in chunks:
        stats.update(np.array(chunk, dtype=np.float64)[None])
    values = np.concatenate([np.array(c, dtype=np.float64) for c in chunks])
    if len(values) == 0:
        assert stats.result()["a"]["count"] == 0
        return
    check(stats, "a", values)


def test_merge_equals_single_stream():
    rng = np.random.default_rng(5)
    data = batches(rng, np.float32, n_batches=6, bands=2)
    left, right, whole = (BandStatistics(["x", "y"]) for _ in range(3))
    for i, (pixels, valid) in enumerate(data):
        (left if i % 2 else right).update(pixels, valid)
        whole.update(pixels, valid)
    merged = left.merge(right)
    assert merged is not left and merged is not right
    assert left.count.sum() + right.count.sum() == merged.count.sum()
    for c, name in enumerate(["x", "y"]):
        values = np.concatenate([p[c][v] for p, v in data])
        check(merged, name, values)
        assert merged.result()[name]["mean"] == pytest.approx(
            whole.result()[name]["mean"], rel=1e-12
        )


def test_merge_with_empty_side_and_mismatch():
    a, b = BandStatistics(["x"]), BandStatistics(["x"])
    a.update(np.array([[1.0, 2.0, 3.0]]))
    assert b.merge(a).result() == a.result()
    assert a.merge(b).result() == a.result()
    with pytest.raises(
        ValueError, match="cannot merge band statistics with different bands or bins"
    ):
        a.merge(BandStatistics(["y"]))


def test_non_finite_values_are_skipped_and_empty_bands_are_nan():
    stats = BandStatistics(["a", "b"])
    stats.update(np.array([[1.0, np.nan, 3.0, np.inf], [np.nan] * 4]))
    result = stats.result()
    assert result["a"]["count"] == 2 and result["a"]["mean"] == 2.0 and result["a"]["std"] == 1.0
    assert result["b"]["count"] == 0
    assert all(math.isnan(result["b"][k]) for k in ("mean", "std", "min", "max", "p50"))
    assert set(result["a"]) == {
        "count",
        "mean",
        "std",
        "min",
        "max",
        "p1",
        "p2",
        "p50",
        "p98",
        "p99",
    }


def test_input_validation():
    stats = BandStatistics(["a", "b"])
    with pytest.raises(ValueError, match=r"pixels have 3 bands but the statistics have 2 \(a, b\)"):
        stats.update(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match=r"valid mask shape \(4, 3\) != pixel shape \(4, 4\)"):
        stats.update(np.zeros((2, 4, 4)), np.ones((4, 3), bool))
    with pytest.raises(ConfigError, match="histogram bins must be >= 2, got 1"):
        BandStatistics(["a"], bins=1)
    with pytest.raises(ConfigError, match="value_range must be finite"):
        BandStatistics(["a"], value_range=(1.0, 1.0))
