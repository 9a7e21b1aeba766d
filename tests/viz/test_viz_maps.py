import numpy as np
import pytest

from conftest import expected_pixels, png_shape
from terralearn.errors import ConfigError, InputNotFoundError
from terralearn.viz.maps import (
    COLORBAR_WIDTH_INCHES,
    LEGEND_WIDTH_INCHES,
    class_fractions,
    map_figsize,
    overview,
    plot_class_map,
    plot_scalar_map,
)


@pytest.fixture
def class_arr():
    arr = np.zeros((40, 60), np.uint8)
    arr[:, 20:] = 1
    arr[:, 40:] = 3
    arr[:10, :10] = 255
    return arr


def test_overview_strides_and_keeps_small_arrays():
    arr = np.arange(3 * 100 * 50).reshape(3, 100, 50)
    small = overview(arr, max_size=30)
    assert small.shape == (3, 25, 13)  # step ceil(100 / 30) = 4
    np.testing.assert_array_equal(small, arr[:, ::4, ::4])
    assert overview(arr, max_size=100) is arr
    rgb = np.zeros((100, 50, 3))
    assert overview(rgb, max_size=50, channels_last=True).shape == (50, 25, 3)
    with pytest.raises(ConfigError, match="max_size is 0"):
        overview(arr, 0)


def test_overview_of_dask_stays_lazy():
    da = pytest.importorskip("dask.array")
    arr = da.zeros((2000, 1000), chunks=500)
    small = overview(arr, 500)
    assert isinstance(small, da.Array) and small.shape == (500, 250)


def test_class_fractions_exclude_nodata(class_arr):
    fr = class_fractions(class_arr, {0: "a", 1: "b", 3: "c", 5: "d"}, nodata=255)
    valid = 40 * 60 - 100
    assert fr == pytest.approx({0: (800 - 100) / valid, 1: 800 / valid, 3: 800 / valid, 5: 0.0})


def test_class_map_png_size(tmp_path, class_arr, classes):
    out = plot_class_map(class_arr, classes, tmp_path / "m.png", title="t", dpi=40)
    assert png_shape(out) == expected_pixels(map_figsize(40, 60, 1, LEGEND_WIDTH_INCHES), 40)


def test_class_map_with_rgb_extent_and_decimation(tmp_path, class_arr, classes):
    rgb = np.random.default_rng(0).random((20, 30, 3))
    big = np.repeat(np.repeat(class_arr, 4, 0), 4, 1)  # 160 x 240, drawn with step 3: 54 x 80
    out = plot_class_map(big, classes, tmp_path / "m.png", rgb=rgb, nodata=None,
                         extent=(0, 2400, 0, 1600), max_size=100, dpi=40)  # fmt: skip
    assert png_shape(out) == expected_pixels(map_figsize(54, 80, 2, LEGEND_WIDTH_INCHES), 40)


def test_scalar_map_png_size_with_nan(tmp_path):
    values = np.linspace(0, 1, 30 * 90).reshape(30, 90)
    values[:5] = np.nan
    out = plot_scalar_map(values, tmp_path / "u.png", "uncertainty", label="entropy", dpi=40)
    assert png_shape(out) == expected_pixels(map_figsize(30, 90, 1, COLORBAR_WIDTH_INCHES), 40)


def test_scalar_map_all_nan_and_constant(tmp_path):
    plot_scalar_map(np.full((5, 5), np.nan), tmp_path / "a.png", "empty", dpi=20)
    plot_scalar_map(np.ones((5, 5)), tmp_path / "b.png", "flat", dpi=20)
    assert png_shape(tmp_path / "b.png") == expected_pixels(
        map_figsize(5, 5, 1, COLORBAR_WIDTH_INCHES), 20
    )


def test_map_errors(tmp_path, class_arr, classes):
    with pytest.raises(ConfigError, match="unknown colormap 'nope'"):
        plot_scalar_map(np.ones((3, 3)), tmp_path / "a.png", "x", cmap="nope")
    with pytest.raises(ConfigError, match="expected \\(H, W\\)"):
        plot_class_map(class_arr[None], classes, tmp_path / "m.png")
    with pytest.raises(InputNotFoundError, match="does not exist; create it first"):
        plot_class_map(class_arr, classes, tmp_path / "missing" / "m.png")
    assert list(tmp_path.iterdir()) == []
