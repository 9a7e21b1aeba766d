"""Label rasters read by windows (for ``prepare``) equal ``open_labels`` on the whole raster."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import xarray as xr
from shapely.geometry import box

from raster_helpers import CRS, ORIGIN, write_raster
from terralearn.errors import ConfigError
from terralearn.io import open_image, open_labels
from terralearn.io.labels import LabelRows, open_label_rows
from terralearn.pixels import NO_LABEL

H, W = 50, 40


@pytest.fixture
def image(tmp_path):
    data = np.ones((2, H, W), np.uint16)
    return open_image(write_raster(tmp_path / "image.tif", data, nodata=0))


def _by_windows(reader: LabelRows, step: int) -> np.ndarray:
    return np.concatenate([reader.read(s, min(H, s + step)) for s in range(0, H, step)])


def _label_raster(tmp_path, dtype, nodata, name="labels.tif"):
    rng = np.random.default_rng(4)
    values = rng.integers(0, 6, size=(H, W)).astype(dtype)
    values[10:14, :] = nodata if nodata is not None and not np.isnan(nodata) else values[10:14, :]
    if np.dtype(dtype).kind == "f":
        values[30:33, 5:9] = np.nan
    return write_raster(tmp_path / name, values, nodata=nodata)


@pytest.mark.parametrize(
    ("dtype", "nodata"),
    [("uint8", NO_LABEL), ("uint8", None), ("int16", -1), ("float32", -9999.0), ("uint16", 7)],
)
@pytest.mark.parametrize("step", [1, 7, 16, H])
def test_windows_equal_open_labels(tmp_path, image, dtype, nodata, step):
    path = _label_raster(tmp_path, dtype, nodata)
    whole = open_labels(path, like=image)
    with open_label_rows(path, like=image) as reader:
        np.testing.assert_array_equal(_by_windows(reader, step), whole.data.values)
        assert reader.classes == whole.classes


def test_identity_encoding_reads_into_the_given_array(tmp_path, image):
    path = _label_raster(tmp_path, "uint8", NO_LABEL)
    out = np.zeros((5, W), np.uint8)
    with open_label_rows(path, like=image) as reader:
        assert reader.read(10, 15, out=out, record=False) is out
    np.testing.assert_array_equal(out, open_labels(path, like=image).data.values[10:15])


def test_classes_come_from_every_row_read_with_record(tmp_path, image):
    data = np.zeros((H, W), np.uint8)
    data[45:, :] = 3  # class 3 only in the last rows
    path = write_raster(tmp_path / "labels.tif", data, nodata=NO_LABEL)
    with open_label_rows(path, like=image) as reader:
        reader.read(0, 40)
        reader.read(40, H, record=False)
        assert reader.classes == {0: "class_0"}
        reader.read(40, H)
        assert reader.classes == {0: "class_0", 1: "class_3"}


def test_bad_values_raise_the_open_labels_error(tmp_path, image):
    data = np.zeros((H, W), np.int16)
    data[20, 3] = -300
    path = write_raster(tmp_path / "labels.tif", data, nodata=-1)
    with pytest.raises(ConfigError) as whole:
        open_labels(path, like=image)
    with open_label_rows(path, like=image) as reader, pytest.raises(ConfigError) as windowed:
        _by_windows(reader, 8)
        reader.classes  # noqa: B018 - the property checks the values
    assert str(windowed.value) == str(whole.value)
    assert "contain values [-300]" in str(windowed.value)


def test_not_on_the_grid_gives_none(tmp_path, image):
    labels = np.zeros((H, W), np.uint8)
    shifted = write_raster(tmp_path / "shifted.tif", labels, res=20.0)
    two_bands = write_raster(tmp_path / "two.tif", np.zeros((2, H, W), np.uint8))
    wider = write_raster(tmp_path / "wider.tif", np.zeros((H, W + 1), np.uint8))
    polygons = tmp_path / "polygons.gpkg"
    x0, y0 = ORIGIN
    gpd.GeoDataFrame({"c": ["a"]}, geometry=[box(x0, y0 - 100, x0 + 100, y0)], crs=CRS).to_file(
        polygons
    )
    in_memory = xr.DataArray(labels, dims=("y", "x"))
    for src in (shifted, two_bands, wider, polygons, tmp_path / "missing.tif", in_memory):
        assert open_label_rows(src, like=image) is None
