"""Tests for terralearn.geo.window: window bounds and pixel <-> world conversions."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

from terralearn.geo import Window, bounds_window, rowcol_to_xy, window_bounds, xy_to_rowcol


def test_window_is_rasterios_with_columns_first():
    w = Window(3, 2, 5, 4)  # col_off, row_off, width, height
    assert w.toslices() == (slice(2, 6), slice(3, 8))
    arr = np.arange(100).reshape(10, 10)
    assert arr[w.toslices()].shape == (4, 5)
    assert arr[w.toslices()][0, 0] == 23


def test_window_bounds_north_up():
    t = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)
    assert window_bounds(Window(3, 2, 5, 4), t) == (500030.0, 3999940.0, 500080.0, 3999980.0)


def test_window_bounds_south_up():
    t = Affine(1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert window_bounds(Window(3, 2, 5, 4), t) == (3.0, 2.0, 8.0, 6.0)
    assert bounds_window((3.0, 2.0, 8.0, 6.0), t) == Window(3, 2, 5, 4)


def test_window_bounds_rotated_is_corner_envelope():
    t = Affine(0.0, -2.0, 0.0, 2.0, 0.0, 0.0)  # pixel (col, row) -> (-2 row, 2 col)
    minx, miny, maxx, maxy = window_bounds(Window(0, 0, 3, 1), t)
    assert (minx, miny, maxx, maxy) == pytest.approx((-2.0, 0.0, 0.0, 6.0), abs=1e-12)


def test_bounds_window_snaps_within_tolerance():
    t = Affine(10.0, 0.0, 0.0, 0.0, -10.0, 100.0)
    assert bounds_window((10.0 + 1e-6, 50.0, 30.0, 90.0 - 1e-6), t) == Window(1, 1, 2, 4)


def test_bounds_window_off_grid_raises():
    t = Affine(10.0, 0.0, 0.0, 0.0, -10.0, 100.0)
    with pytest.raises(
        ValueError, match=r"off the pixel grid: left/right edge falls at pixel 1\.5"
    ):
        bounds_window((15.0, 50.0, 30.0, 90.0), t)


def test_bounds_window_rotated_raises():
    with pytest.raises(ValueError, match="transform is rotated or sheared"):
        bounds_window((0, 0, 1, 1), Affine.rotation(30))


def test_bounds_window_inverted_bounds_raise():
    with pytest.raises(ValueError, match="min <= max"):
        bounds_window((5, 0, 1, 1), Affine.identity())


resolutions = st.sampled_from([0.1, 0.25, 1.0, 3.0, 10.0, 30.0, 1 / 3, 8.983152841195215e-05])


@settings(max_examples=300, deadline=None)
@given(
    row_off=st.integers(-10_000, 100_000),
    col_off=st.integers(-10_000, 100_000),
    height=st.integers(0, 5_000),
    width=st.integers(0, 5_000),
    xres=st.one_of(resolutions, st.floats(1e-4, 1e3)),
    yres=st.one_of(resolutions, st.floats(1e-4, 1e3)),
    # origin at most 1e7 pixels from 0 (realistic for metres and degrees)
    ox=st.floats(-1e7, 1e7),
    oy=st.floats(-1e7, 1e7),
    south_up=st.booleans(),
)
def test_window_bounds_round_trip(row_off, col_off, height, width, xres, yres, ox, oy, south_up):
    e = yres if south_up else -yres
    t = Affine(xres, 0.0, ox * xres, 0.0, e, oy * yres)
    window = Window(col_off, row_off, width, height)
    bounds = window_bounds(window, t)
    assert bounds[0] <= bounds[2] and bounds[1] <= bounds[3]
    assert bounds_window(bounds, t) == window


def test_xy_rowcol_round_trip_centres():
    t = Affine(0.5, 0.0, 100.0, 0.0, -0.5, 200.0)
    rows = np.array([0, 3, 7, -2])
    cols = np.array([0, 5, 1, -4])
    x, y = rowcol_to_xy(t, rows, cols)
    np.testing.assert_array_equal(x, 100.0 + (cols + 0.5) * 0.5)
    np.testing.assert_array_equal(y, 200.0 - (rows + 0.5) * 0.5)
    r, c = xy_to_rowcol(t, x, y)
    assert r.dtype == np.int64 and c.dtype == np.int64
    np.testing.assert_array_equal(r, rows)
    np.testing.assert_array_equal(c, cols)


def test_xy_to_rowcol_edges_belong_to_next_pixel():
    t = Affine(1 / 3, 0.0, 0.1, 0.0, -1 / 3, 0.7)
    x, y = rowcol_to_xy(t, np.arange(50), np.arange(50), offset="ul")
    r, c = xy_to_rowcol(t, x, y)
    np.testing.assert_array_equal(r, np.arange(50))
    np.testing.assert_array_equal(c, np.arange(50))


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        ("center", (5.0, -5.0)),
        ("ul", (0.0, 0.0)),
        ("ur", (10.0, 0.0)),
        ("ll", (0.0, -10.0)),
        ("lr", (10.0, -10.0)),
    ],
)
def test_rowcol_to_xy_offsets(offset, expected):
    t = Affine(10.0, 0.0, 0.0, 0.0, -10.0, 0.0)
    x, y = rowcol_to_xy(t, 0, 0, offset=offset)
    assert (float(x), float(y)) == expected


def test_rowcol_to_xy_bad_offset():
    with pytest.raises(ValueError, match="offset must be one of"):
        rowcol_to_xy(Affine.identity(), 0, 0, offset="middle")  # type: ignore[arg-type]


def test_xy_to_rowcol_rotated_transform():
    t = Affine(0.0, -2.0, 0.0, 2.0, 0.0, 0.0)
    x, y = rowcol_to_xy(t, np.array([1, 4]), np.array([2, 0]))
    r, c = xy_to_rowcol(t, x, y)
    np.testing.assert_array_equal(r, [1, 4])
    np.testing.assert_array_equal(c, [2, 0])
