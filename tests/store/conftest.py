"""Small georeferenced rasters and polygons for the chip-store tests."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from raster_helpers import CRS, ORIGIN, write_raster


@pytest.fixture
def scene(tmp_path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A 3-band 200 x 240 uint16 image (nodata 0 in a corner) and a 3-class label raster."""
    rng = np.random.default_rng(0)
    image = rng.integers(100, 5000, size=(3, 200, 240), dtype=np.uint16)
    image[:, :20, :30] = 0
    labels = np.zeros((200, 240), np.uint8)
    labels[:, 80:160] = 1
    labels[100:, :] = 2
    img = write_raster(tmp_path / "image.tif", image, nodata=0, descriptions=["B2", "B3", "B4"])
    lbl = write_raster(tmp_path / "labels.tif", labels)
    return img, lbl, image, labels


@pytest.fixture
def polygons(tmp_path) -> Path:
    """Two labelled squares over the ``scene`` grid (map units)."""
    x0, y0 = ORIGIN
    frame = gpd.GeoDataFrame(
        {"landcover": ["water", "forest"]},
        geometry=[
            box(x0 + 100, y0 - 600, x0 + 700, y0 - 100),
            box(x0 + 1200, y0 - 1900, x0 + 2300, y0 - 1000),
        ],
        crs=CRS,
    )
    path = tmp_path / "polygons.gpkg"
    frame.to_file(path)
    return path


@pytest.fixture
def nc_landsat_scene() -> tuple[Path, Path]:
    """The real NC Landsat 7 scene and its strata labels (float32, EPSG:3358 beside the image's
    EPSG:32119), read from ``../shared/data/real`` beside the checkout (GPL: never copied)."""
    nc = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real" / "nc"
    return nc / "landsat_multiband.tif", nc / "strata.tif"
