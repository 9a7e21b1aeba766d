"""open_labels: polygons rasterized onto exact pixels, label rasters reprojected, errors."""

from __future__ import annotations

import json
import logging
from importlib.resources import files

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from io_helpers import CRS, TRANSFORM, write_tif
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_transform
from shapely.geometry import box

from terralearn.errors import (
    ConfigError,
    MissingCRSError,
    NoOverlapError,
    UnknownColumnError,
)
from terralearn.io import Labels, open_image, open_labels
from terralearn.pixels import NO_LABEL

H, W = 20, 30  # label tests use a larger image than the reader tests
X0, Y0 = 500000.0, 4000000.0


@pytest.fixture
def image(tmp_path):
    data = np.ones((2, H, W), np.int16)
    return open_image(write_tif(tmp_path / "img.tif", data, ["b", "g"]))


def pixels(r0: int, r1: int, c0: int, c1: int):
    """A box covering rows r0..r1 and cols c0..c1 (inclusive) of the image grid."""
    return box(X0 + 10 * c0, Y0 - 10 * (r1 + 1), X0 + 10 * (c1 + 1), Y0 - 10 * r0)


def polygons(tmp_path, name="labels.gpkg", crs=CRS, **columns):
    geoms = [pixels(2, 4, 3, 5), pixels(10, 11, 20, 24)]
    gdf = gpd.GeoDataFrame({**columns, "geometry": geoms}, crs=CRS)
    if crs is not None and crs != CRS:
        gdf = gdf.to_crs(crs)
    elif crs is None:
        gdf = gdf.set_crs(None, allow_override=True)
    path = tmp_path / name
    gdf.to_file(path)
    return path


def expected(first: int, second: int) -> np.ndarray:
    out = np.full((H, W), NO_LABEL, np.uint8)
    out[2:5, 3:6] = first
    out[10:12, 20:25] = second
    return out


# --- vector ----------------------------------------------------------------------------------


def test_square_polygons_land_on_exact_pixels(tmp_path, image):
    labels = open_labels(polygons(tmp_path, kind=["water", "crop"]), image)
    assert isinstance(labels, Labels)
    assert labels.classes == {0: "crop", 1: "water"}  # sorted names -> ids
    assert labels.data.dtype == np.uint8 and labels.data.dims == ("y", "x")
    np.testing.assert_array_equal(labels.data.values, expected(1, 0))
    np.testing.assert_array_equal(labels.data["x"].values, image["x"].values)
    assert labels.data.rio.crs == image.rio.crs
    assert labels.data.rio.transform() == image.rio.transform()
    assert labels.data.rio.nodata == NO_LABEL


def test_classes_fix_the_ids(tmp_path, image):
    labels = open_labels(
        polygons(tmp_path, kind=["water", "crop"]), image, classes=["water", "crop", "tree"]
    )
    assert labels.classes == {0: "water", 1: "crop", 2: "tree"}
    np.testing.assert_array_equal(labels.data.values, expected(0, 1))


def test_polygons_in_another_crs_are_reprojected(tmp_path, image):
    path = polygons(tmp_path, "ll.geojson", crs="EPSG:4326", kind=["water", "crop"])
    np.testing.assert_array_equal(open_labels(path, image).data.values, expected(1, 0))


def test_numeric_class_column_codes_become_contiguous_indices(tmp_path, image):
    path = polygons(tmp_path, code=[7, 3], note=["a", "b"])
    labels = open_labels(path, image, class_column="code")
    assert labels.classes == {0: "3", 1: "7"}
    assert labels.table.codes == [3, 7]
    np.testing.assert_array_equal(labels.data.values, expected(1, 0))


def test_ambiguous_class_column(tmp_path, image):
    path = polygons(tmp_path, kind=["water", "crop"], note=["a", "b"])
    with pytest.raises(
        ConfigError, match=r"cannot guess the class column \(string columns: \['kind', 'note'\]"
    ):
        open_labels(path, image)


def test_unknown_column_lists_columns(tmp_path, image):
    path = polygons(tmp_path, kind=["water", "crop"])
    with pytest.raises(
        UnknownColumnError,
        match=r"column 'klass' is not in .*labels.gpkg; available columns: \['kind'\]",
    ):
        open_labels(path, image, class_column="klass")


def test_class_missing_from_classes(tmp_path, image):
    path = polygons(tmp_path, kind=["water", "crop"])
    with pytest.raises(
        ConfigError, match=r"has classes \['crop'\] missing from classes \['water'\]"
    ):
        open_labels(path, image, classes=["water"])


def test_vector_no_overlap(tmp_path, image):
    gdf = gpd.GeoDataFrame({"kind": ["far"]}, geometry=[box(0, 0, 100, 100)], crs=CRS)
    gdf.to_file(tmp_path / "far.gpkg")
    with pytest.raises(
        NoOverlapError,
        match=r"labels .*far.gpkg \(bounds \(0, 0, 100, 100\) in EPSG:32633\) do not overlap image .*img.tif "
        r"\(bounds \(500000, 3\.9998e\+06, 500300, 4e\+06\)\)",
    ):
        open_labels(tmp_path / "far.gpkg", image)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_vector_without_crs(tmp_path, image):
    gdf = gpd.GeoDataFrame({"kind": ["a"]}, geometry=[pixels(0, 1, 0, 1)])
    gdf.to_file(tmp_path / "nocrs.shp")
    with pytest.raises(
        MissingCRSError, match=r"nocrs.shp have no CRS; set one with `ogr2ogr -a_srs"
    ):
        open_labels(tmp_path / "nocrs.shp", image)


# --- raster ----------------------------------------------------------------------------------


def test_label_raster_on_the_same_grid(tmp_path, image):
    data = np.zeros((1, H, W), np.uint8)
    data[0, :, 10:] = 2
    data[0, 0, 0] = 9  # nodata
    path = write_tif(tmp_path / "lab.tif", data, nodata=9)
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(class_names=json.dumps({"0": "water", "1": "crop", "2": "tree"}))
    labels = open_labels(path, image)
    # a class_names tag declares its classes (here code 1 is absent but kept)
    assert labels.classes == {0: "water", 1: "crop", 2: "tree"}
    assert labels.table.codes == [0, 1, 2]
    want = data[0].copy()
    want[0, 0] = NO_LABEL
    np.testing.assert_array_equal(labels.data.values, want)


def test_label_raster_half_resolution_is_upsampled(tmp_path, image, caplog):
    coarse = np.arange(H // 2 * W // 2, dtype=np.uint8).reshape(1, H // 2, W // 2) % 200
    path = write_tif(
        tmp_path / "coarse.tif", coarse, transform=from_origin(X0, Y0, 20, 20), nodata=None
    )
    with caplog.at_level(logging.INFO, logger="terralearn.io.labels"):
        labels = open_labels(path, image)
    assert (
        "labels: reprojecting EPSG:32633 20 m -> EPSG:32633 10 m grid of the image (nearest neighbour)"
        in caplog.text
    )
    np.testing.assert_array_equal(labels.data.values, coarse[0].repeat(2, 0).repeat(2, 1))
    assert labels.classes[5] == "class_5"


def test_label_raster_in_geographic_crs(tmp_path, image, caplog):
    """Classes by longitude in EPSG:4326: west of a meridian 1, east 2, outside the raster ignored."""
    xs, ys = warp_transform(CRS, "EPSG:4326", [X0, X0 + 10 * W], [Y0, Y0 - 10 * H])
    lon0, lat0, res = xs[0] - 0.0005, ys[0] + 0.0005, 0.0001
    nx = int((xs[1] - lon0) / res) + 10
    ny = int((lat0 - ys[1]) / res) + 10
    mid = nx // 2
    data = np.ones((1, ny, nx), np.uint8)
    data[0, :, mid:] = 2
    data[0, :12, :] = 0  # nodata: a northern strip that crosses the image
    path = write_tif(
        tmp_path / "ll.tif",
        data,
        crs="EPSG:4326",
        transform=from_origin(lon0, lat0, res, res),
        nodata=0,
    )
    with caplog.at_level(logging.INFO, logger="terralearn.io.labels"):
        labels = open_labels(path, image)
    assert "reprojecting EPSG:4326 0.0001 deg -> EPSG:32633 10 m grid" in caplog.text
    # expected class at each image pixel centre: look up the label pixel holding it
    cols, rows = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    ex, ey = TRANSFORM @ (cols.ravel(), rows.ravel())
    lon, lat = warp_transform(CRS, "EPSG:4326", ex, ey)
    lc = ((np.array(lon) - lon0) / res).astype(int)
    lr = ((lat0 - np.array(lat)) / res).astype(int)
    want = data[0][lr, lc].reshape(H, W) - 1  # codes 1, 2 -> indices 0, 1
    want[want == 255] = NO_LABEL
    # pixel centres within 1/4 label pixel of a class edge may go either way in GDAL's warper
    fx = (np.array(lon) - lon0) / res % 1
    fy = (lat0 - np.array(lat)) / res % 1
    clear = ((np.abs(fx - 0.5) < 0.25) & (np.abs(fy - 0.5) < 0.25)).reshape(H, W)
    assert clear.sum() > 50
    np.testing.assert_array_equal(labels.data.values[clear], want[clear])
    assert {0, 1, NO_LABEL} <= set(np.unique(labels.data.values).tolist())
    assert labels.classes == {0: "class_1", 1: "class_2"}


def test_label_values_must_be_integer_codes(tmp_path, image):
    data = np.full((1, H, W), 2.5, np.float32)
    path = write_tif(tmp_path / "frac.tif", data, nodata=None)
    with pytest.raises(
        ConfigError, match=r"frac.tif contain values \[2.5\]; class codes must be integers 0..65534"
    ):
        open_labels(path, image)


def test_label_raster_without_crs(tmp_path, image):
    path = write_tif(tmp_path / "nocrs.tif", np.zeros((1, H, W), np.uint8), crs=None, nodata=None)
    with pytest.raises(
        MissingCRSError, match=r"labels .*nocrs.tif have no CRS; set one with `rio edit-info --crs"
    ):
        open_labels(path, image)


def test_label_raster_no_overlap(tmp_path, image):
    path = write_tif(
        tmp_path / "far.tif",
        np.zeros((1, H, W), np.uint8),
        transform=from_origin(0, 1000, 10, 10),
        nodata=None,
    )
    with pytest.raises(
        NoOverlapError,
        match=r"labels .*far.tif \(bounds \(0, 800, 300, 1000\) in EPSG:32633\) do not overlap image .*img.tif",
    ):
        open_labels(path, image)


# --- the shipped sample ----------------------------------------------------------------------


def test_shipped_landsat_sample_polygons():
    data = files("terralearn.datasets") / "data"
    image = open_image(data / "landsat8_sample.tif")
    labels = open_labels(data / "landsat8_sample_polygons.gpkg", image)
    assert labels.classes == {0: "crop", 1: "developed", 2: "tree", 3: "water"}
    ids, counts = np.unique(labels.data.values, return_counts=True)
    assert dict(zip(ids.tolist(), counts.tolist(), strict=True)) == {
        0: 192,
        1: 81,
        2: 198,
        3: 212,
        NO_LABEL: 1860 * 2041 - (192 + 81 + 198 + 212),
    }
