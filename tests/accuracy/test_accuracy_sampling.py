"""Stratified sampling of a class map, streamed in strips, and the class table reader."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio

import terralearn.accuracy.sampling as sampling
from raster_helpers import write_raster
from terralearn.accuracy.classes import read_class_table
from terralearn.accuracy.sampling import allocate, count_classes, parse_allocation, sample_map
from terralearn.errors import AllNodataError, ConfigError

H, W = 120, 90


@pytest.fixture
def class_map(tmp_path):
    """uint8 map: classes 0 (most), 1, 2 (rare), nodata 255 in a corner; CLASSES tag."""
    rng = np.random.default_rng(5)
    arr = rng.choice(np.array([0, 1, 2], dtype=np.uint8), size=(H, W), p=[0.7, 0.25, 0.05])
    arr[:20, :30] = 255
    path = write_raster(
        tmp_path / "map.tif", arr, nodata=255, tiled=True, blockxsize=32, blockysize=32
    )
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(CLASSES=json.dumps({"0": "forest", "1": "water", "2": "urban"}))
    return path, arr


def test_count_classes_counts_valid_pixels_per_class(class_map, monkeypatch):
    path, arr = class_map
    monkeypatch.setattr(sampling, "STRIP_PIXELS", 10)  # one block row (32 rows) per strip
    strata = count_classes(path)
    assert strata.codes.tolist() == [0, 1, 2]
    assert strata.pixels.tolist() == [int((arr == c).sum()) for c in (0, 1, 2)]
    assert strata.classes == {0: "forest", 1: "water", 2: "urban"}
    assert strata.pixel_area == 100.0


def test_proportional_allocation_raises_rare_classes_to_the_minimum(class_map):
    strata = count_classes(class_map[0])
    counts = allocate(strata, 300, "proportional", min_per_class=50)
    assert counts[2] == 50
    assert sum(counts.values()) == 300
    share = strata.pixels[:2] / strata.pixels[:2].sum()
    assert abs(counts[0] - 250 * share[0]) <= 1 and abs(counts[1] - 250 * share[1]) <= 1
    assert allocate(strata, 301, "equal", 50) == {0: 101, 1: 100, 2: 100}
    given = parse_allocation("forest=20,WATER=10,2=5", strata.classes)
    assert allocate(strata, 0, given, 50) == {0: 20, 1: 10, 2: 5}
    with pytest.raises(
        ConfigError, match=r"--n 120 is smaller than 3 classes x --min-per-class 50"
    ):
        allocate(strata, 120, "proportional", 50)
    with pytest.raises(ConfigError, match="class 'snow' is not in the map"):
        parse_allocation("snow=3", strata.classes)
    with pytest.raises(ConfigError, match="no count for mapped class"):
        allocate(strata, 0, {0: 5}, 50)


def test_sample_streams_and_matches_the_map(class_map, tmp_path, monkeypatch):
    path, arr = class_map
    points, strata, counts = sample_map(path, tmp_path / "a.gpkg", 300, seed=7)
    # same points whatever the strip height (the map is never held whole)
    monkeypatch.setattr(sampling, "STRIP_PIXELS", 10)
    again, _, _ = sample_map(path, tmp_path / "b.gpkg", 300, seed=7)
    assert points[["row", "col"]].equals(again[["row", "col"]])
    other, _, _ = sample_map(path, tmp_path / "c.gpkg", 300, seed=8)
    assert not points[["row", "col"]].equals(other[["row", "col"]])

    rows, cols = points["row"].to_numpy(), points["col"].to_numpy()
    assert (arr[rows, cols] == points["map_code"].to_numpy()).all()  # never nodata (255)
    assert len(set(zip(rows, cols, strict=True))) == 300  # without replacement
    assert points.groupby("stratum").size().to_dict() == counts
    prob = points.groupby("stratum")["inclusion_probability"].first()
    assert prob[2] == pytest.approx(50 / (arr == 2).sum())
    assert points["reference"].isna().all()

    written = gpd.read_file(tmp_path / "a.gpkg")
    assert written.crs == "EPSG:32633"
    assert list(written.columns) == [
        "point_id", "map_code", "map_class", "stratum", "inclusion_probability", "row", "col",
        "reference", "geometry",
    ]  # fmt: skip
    # pixel centres: origin (500000, 5000000), 10 m pixels
    np.testing.assert_allclose(written.geometry.x, 500000 + 10 * (cols + 0.5))
    np.testing.assert_allclose(written.geometry.y, 5000000 - 10 * (rows + 0.5))
    assert set(written["map_class"]) == {"forest", "water", "urban"}


def test_reference_from_a_raster_in_another_crs(class_map, tmp_path):
    """The reference raster (here the map itself, warped to EPSG:4326) is read at the points."""
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    path, arr = class_map
    with rasterio.open(path) as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:4326", src.width, src.height, *src.bounds
        )
        warped = np.full((height, width), 255, dtype=np.uint8)
        reproject(arr, warped, src_transform=src.transform, src_crs=src.crs,
                  dst_transform=transform, dst_crs="EPSG:4326", resampling=Resampling.nearest,
                  src_nodata=255, dst_nodata=255)  # fmt: skip
    ref = tmp_path / "ref.tif"
    with rasterio.open(ref, "w", driver="GTiff", height=height, width=width, count=1,
                       dtype="uint8", crs="EPSG:4326", transform=transform, nodata=255) as dst:  # fmt: skip
        dst.write(warped, 1)
    points, _, _ = sample_map(path, tmp_path / "p.gpkg", 200, min_per_class=20, reference_from=ref)
    agree = (points["reference"] == points["map_class"]).mean()
    assert agree > 0.9  # nearest-neighbour warping moves a few pixel edges
    assert set(points["reference"].dropna()) <= {"forest", "water", "urban"}


def test_all_nodata_map_is_refused(tmp_path):
    path = write_raster(tmp_path / "empty.tif", np.full((8, 8), 255, np.uint8), nodata=255)
    with pytest.raises(AllNodataError, match="no class pixels"):
        sample_map(path, tmp_path / "p.gpkg", 10)
    assert not (tmp_path / "p.gpkg").exists()


def test_class_table_sources(tmp_path):
    arr = np.array([[1, 2], [3, 1]], dtype=np.uint8)
    # band tags class_<code>
    banded = write_raster(tmp_path / "banded.tif", arr)
    with rasterio.open(banded, "r+") as ds:
        ds.update_tags(1, class_1="forest", class_3="water", note="x")
    assert read_class_table(banded) == {1: "forest", 3: "water"}
    # GDAL category names in the PAM sidecar win over the CLASSES tag
    cats = write_raster(tmp_path / "cats.tif", arr)
    with rasterio.open(cats, "r+") as ds:
        ds.update_tags(CLASSES=json.dumps({"1": "old"}))
    (tmp_path / "cats.tif.aux.xml").write_text(
        '<PAMDataset><PAMRasterBand band="1"><CategoryNames><Category></Category>'
        "<Category>developed</Category><Category>farm</Category></CategoryNames>"
        "</PAMRasterBand></PAMDataset>"
    )
    assert read_class_table(cats) == {1: "developed", 2: "farm"}
    (tmp_path / "cats.tif.aux.xml").unlink()
    assert read_class_table(cats) == {1: "old"}
    # nothing: codes are named class_<code> by count_classes
    plain = write_raster(tmp_path / "plain.tif", arr)
    assert read_class_table(plain) == {}
    assert count_classes(plain).classes == {1: "class_1", 2: "class_2", 3: "class_3"}


def test_float_map_needs_integer_values(tmp_path):
    codes = np.array([[1, 2], [2, -99999]], np.float32)
    path = write_raster(tmp_path / "f.tif", codes, nodata=-99999)
    assert count_classes(path).pixels.tolist() == [1, 2]
    path = write_raster(tmp_path / "g.tif", codes + 0.5, nodata=-99998.5)
    with pytest.raises(ConfigError, match=r"has fractional values \(e.g. 1.5\); a class map holds"):
        count_classes(path)
