"""Reading points: formats, projection, and one-line errors for bad input."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from terralearn.errors import ConfigError, MissingCRSError, UnknownColumnError
from terralearn.graph.points import merge_duplicates, read_points


def write_csv(path, **columns):
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


@pytest.fixture
def xy_csv(tmp_path):
    return write_csv(tmp_path / "p.csv", x=[0.0, 10, 20, 30], y=[0.0, 5, 0, 5],
                     temp=[1.0, 2, 3, 4], elev=[5.0, 6, 7, 8], kind=["a", "b", "a", "c"])  # fmt: skip


def test_csv_xy_with_crs(xy_csv):
    pts = read_points(xy_csv, target="temp", features=["elev"], crs="EPSG:32633")
    np.testing.assert_array_equal(pts.xy, [[0, 0], [10, 5], [20, 0], [30, 5]])
    np.testing.assert_array_equal(pts.target, [1, 2, 3, 4])
    np.testing.assert_array_equal(pts.features[:, 0], [5, 6, 7, 8])
    assert pts.task == "regression" and pts.crs.to_epsg() == 32633


def test_categorical_target_is_classification(xy_csv):
    pts = read_points(xy_csv, target="kind", crs="EPSG:32633")
    assert pts.task == "classification" and pts.classes == ["a", "b", "c"]
    np.testing.assert_array_equal(pts.target, [0, 1, 0, 2])


def test_lonlat_is_projected_to_utm(tmp_path):
    path = write_csv(tmp_path / "ll.csv", lon=[13.0, 13.01], lat=[52.0, 52.0], v=[1.0, 2.0])
    pts = read_points(path, target="v")
    assert pts.crs.to_epsg() == 32633  # UTM 33N
    # 0.01 degree of longitude at 52 N is about 685 m
    assert 680 < np.hypot(*(pts.xy[1] - pts.xy[0])) < 690


def test_geopackage_points(tmp_path):
    gdf = gpd.GeoDataFrame({"v": [1.0, 2.0, 3.0]}, geometry=gpd.points_from_xy([0, 1, 2], [0, 1, 2]),
                           crs="EPSG:3857")  # fmt: skip
    gdf.to_file(tmp_path / "p.gpkg")
    pts = read_points(tmp_path / "p.gpkg", target="v")
    np.testing.assert_array_equal(pts.xy, [[0, 0], [1, 1], [2, 2]])
    assert pts.crs.to_epsg() == 3857


def test_missing_target_lists_columns(xy_csv):
    with pytest.raises(
        UnknownColumnError, match=r"target column 'tmp' not found; columns: x, y, temp, elev, kind"
    ):
        read_points(xy_csv, target="tmp", crs="EPSG:32633")


def test_non_numeric_target_for_regression(xy_csv):
    with pytest.raises(ConfigError, match=r"'kind' is not numeric .*pass --task classification"):
        read_points(xy_csv, target="kind", crs="EPSG:32633", task="regression")


def test_missing_crs_for_xy_columns(xy_csv):
    with pytest.raises(MissingCRSError, match=r"columns 'x'/'y' have no CRS; give one with --crs"):
        read_points(xy_csv, target="temp")


def test_lonlat_out_of_range(tmp_path):
    path = write_csv(tmp_path / "ll.csv", lon=[13.0, 13.0], lat=[52.0, 123.0], v=[1.0, 2.0])
    with pytest.raises(
        ConfigError, match=r"1 point\(s\) have latitude outside \[-90, 90\] \(first: row 1, 123\)"
    ):
        read_points(path, target="v")


def test_duplicates_error_and_merge(tmp_path):
    path = write_csv(tmp_path / "d.csv", x=[0.0, 0, 1, 2, 2, 2], y=[0.0, 0, 1, 2, 2, 2],
                     v=[1.0, 3, 5, 1, 2, 3])  # fmt: skip
    with pytest.raises(
        ConfigError,
        match=r"5 points share coordinates with another \(at 2 locations\); pass --merge-duplicates",
    ):
        read_points(path, target="v", crs="EPSG:32633")
    pts = read_points(path, target="v", crs="EPSG:32633", duplicates="merge")
    np.testing.assert_array_equal(pts.xy, [[0, 0], [1, 1], [2, 2]])
    np.testing.assert_array_equal(pts.target, [2, 5, 2])


def test_merge_duplicate_classes_takes_majority(tmp_path):
    path = write_csv(tmp_path / "d.csv", x=[0.0, 0, 0, 1], y=[0.0, 0, 0, 1], c=["a", "b", "b", "a"])
    pts = merge_duplicates(read_points(path, target="c", crs="EPSG:32633", duplicates="keep"))
    np.testing.assert_array_equal(pts.target, [1, 0])


def test_missing_feature_column(xy_csv):
    with pytest.raises(UnknownColumnError, match=r"feature column 'slope' not found"):
        read_points(xy_csv, target="temp", features=["slope"], crs="EPSG:32633")
