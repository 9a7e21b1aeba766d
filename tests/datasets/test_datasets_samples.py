"""Paths of the shipped real samples."""

from __future__ import annotations

import pytest
import rasterio

import terralearn
from terralearn.datasets.samples import list_samples, sample_path
from terralearn.errors import ConfigError


def test_list_samples():
    assert list_samples() == ["landsat8", "landsat8_polygons", "sentinel2"]


def test_sample_paths_exist_and_open():
    for name in list_samples():
        assert sample_path(name).is_file(), name
    with rasterio.open(sample_path("sentinel2")) as src:
        assert src.count == 6
    with rasterio.open(sample_path("landsat8")) as src:
        assert src.count == 3 and src.nodata == 0
    assert sample_path("landsat8_polygons").suffix == ".gpkg"


def test_unknown_sample_lists_the_names():
    with pytest.raises(
        ConfigError,
        match=r"unknown sample 'modis'; choose one of: landsat8, landsat8_polygons, sentinel2",
    ):
        sample_path("modis")


def test_exported_at_top_level():
    assert terralearn.sample_path is sample_path
