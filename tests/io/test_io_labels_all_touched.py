"""Polygons are rasterized by pixel centre (all_touched=False): a diamond that clips corners."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from io_helpers import CRS, write_tif
from rasterio.features import rasterize
from shapely.geometry import Polygon

from terralearn.io import open_image, open_labels
from terralearn.pixels import NO_LABEL

H, W = 20, 30
X0, Y0 = 500000.0, 4000000.0  # the io_helpers grid: 10 m pixels


def _diamond() -> Polygon:
    """|col - 5| + |row - 5| < 2.8 in pixel units: centred on a pixel corner, so its edges cut
    through pixels and clip the corners of those whose centres lie outside."""
    corners = [(5.0, 2.2), (7.8, 5.0), (5.0, 7.8), (2.2, 5.0)]  # (col, row)
    return Polygon([(X0 + 10 * col, Y0 - 10 * row) for col, row in corners])


def _mask(*rows: str) -> np.ndarray:
    """Rows 0..len-1, cols 0..9 of the grid drawn with '#' (inside) and '.'."""
    out = np.zeros((H, W), bool)
    out[: len(rows), :10] = np.array([[ch == "#" for ch in row] for row in rows])
    return out


# pixel centres (c + 0.5, r + 0.5) inside: |c + 0.5 - 5| + |r + 0.5 - 5| < 2.8
CENTRES = _mask(
    "..........",
    "..........",
    "..........",
    "....##....",
    "...####...",
    "...####...",
    "....##....",
)
# every pixel the diamond touches: the L1 distance from (5, 5) to the pixel square is < 2.8
TOUCHED = _mask(
    "..........",
    "..........",
    "....##....",
    "...####...",
    "..######..",
    "..######..",
    "...####...",
    "....##....",
)


def test_polygon_labels_take_pixels_by_centre_not_by_touch(tmp_path):
    image = open_image(write_tif(tmp_path / "img.tif", np.ones((2, H, W), np.int16), ["b", "g"]))
    path = tmp_path / "diamond.gpkg"
    gpd.GeoDataFrame({"kind": ["water"]}, geometry=[_diamond()], crs=CRS).to_file(path)

    labels = open_labels(path, image).data.values
    np.testing.assert_array_equal(labels, np.where(CENTRES, 0, NO_LABEL))

    # the diamond does tell the two rules apart: all_touched labels twice the pixels
    transform = image.rio.transform()
    for all_touched, mask in ((False, CENTRES), (True, TOUCHED)):
        burnt = rasterize([_diamond()], (H, W), transform=transform, all_touched=all_touched)
        np.testing.assert_array_equal(burnt.astype(bool), mask)
    assert (CENTRES.sum(), TOUCHED.sum()) == (12, 24)
