"""Tests for terralearn.geo.grid: chip tiling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terralearn.errors import ConfigError
from terralearn.geo import Window, chip_offsets, chip_windows


def test_chip_offsets_snaps_last_chip_to_edge():
    off = chip_offsets(10, 8, 4)
    assert off.dtype == np.int64
    expected = [[r, c] for r in (0, 4, 6) for c in (0, 4)]
    np.testing.assert_array_equal(off, expected)


def test_chip_offsets_stride():
    off = chip_offsets(9, 4, 4, stride=2)
    np.testing.assert_array_equal(off, [[0, 0], [2, 0], [4, 0], [5, 0]])


def test_chip_offsets_stride_larger_than_size_leaves_gaps():
    off = chip_offsets(10, 2, 2, stride=5)
    np.testing.assert_array_equal(off[:, 0], [0, 5, 8])


def test_chip_offsets_size_equals_image():
    np.testing.assert_array_equal(chip_offsets(7, 7, 7), [[0, 0]])


def test_chip_windows_match_offsets():
    windows = chip_windows(10, 8, 4, stride=3)
    off = chip_offsets(10, 8, 4, stride=3)
    assert windows == [Window(int(c), int(r), 4, 4) for r, c in off]


@settings(max_examples=200, deadline=None)
@given(
    height=st.integers(1, 120),
    width=st.integers(1, 120),
    size_frac=st.floats(0.0, 1.0),
    stride_frac=st.floats(0.0, 1.0),
)
def test_grid_covers_every_pixel_when_stride_le_size(height, width, size_frac, stride_frac):
    size = max(1, round(size_frac * min(height, width)))
    stride = max(1, round(stride_frac * size))
    off = chip_offsets(height, width, size, stride)
    assert (off >= 0).all()
    assert (off[:, 0] + size <= height).all() and (off[:, 1] + size <= width).all()
    cover = np.zeros((height, width), dtype=np.int64)
    for r, c in off:
        cover[r : r + size, c : c + size] += 1
    assert cover.min() >= 1
    n_rows = math.ceil((height - size) / stride) + 1
    n_cols = math.ceil((width - size) / stride) + 1
    assert len(off) == n_rows * n_cols
    # row-major, no duplicate chip
    assert len(np.unique(off, axis=0)) == len(off)
    np.testing.assert_array_equal(off, off[np.lexsort((off[:, 1], off[:, 0]))])


@settings(max_examples=200, deadline=None)
@given(dim=st.integers(1, 500), size=st.integers(1, 500), stride=st.integers(1, 1500))
def test_grid_axis_stays_inside_for_any_stride(dim, size, stride):
    if size > dim:
        return
    rows = chip_offsets(dim, size, size, stride)[:, 0]
    assert rows[0] == 0 and rows[-1] == dim - size
    assert (np.diff(rows) > 0).all()
    assert (np.diff(rows) <= stride).all()


def test_chip_size_larger_than_image_raises():
    with pytest.raises(ConfigError) as err:
        chip_offsets(4, 10, 5)
    assert str(err.value) == (
        "chip size 5 is larger than the image (4 x 10 pixels); "
        "use a chip size no larger than the image's smaller side"
    )


@pytest.mark.parametrize(
    ("size", "stride", "message"),
    [
        (0, None, "chip size must be >= 1 pixel, got 0"),
        (-3, 2, "chip size must be >= 1 pixel, got -3"),
        (4, 0, "chip stride must be >= 1 pixel, got 0"),
    ],
)
def test_chip_size_and_stride_validation(size, stride, message):
    with pytest.raises(ConfigError, match=message):
        chip_offsets(10, 10, size, stride)
