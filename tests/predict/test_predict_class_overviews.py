"""The class-map COG's overviews pick class values (nearest), never blend them (average)."""

from __future__ import annotations

import numpy as np
import rasterio
from predict_helpers import band_logits_model, write_image

from terralearn.predict import predict_raster


def test_class_map_overviews_are_nearest_decimations(tmp_path):
    # 600 px > the 512 px COG block: GDAL adds overviews; classes change every pixel, so any
    # blend of a 2 x 2 cell (AVERAGE: e.g. 0, 1, 1, 2 -> 1) differs from the picked pixel
    rows, cols = np.mgrid[0:600, 0:600]
    classes = ((rows + cols) % 3).astype(np.uint8)
    one_hot = np.stack([classes == k for k in range(3)]).astype(np.float32)
    image = write_image(tmp_path / "pattern.tif", one_hot)
    out = tmp_path / "classes.tif"
    predict_raster(band_logits_model(), image, out, progress=False)
    with rasterio.open(out) as dst:
        assert dst.overviews(1) == [2]
        np.testing.assert_array_equal(dst.read(1), classes)
    with rasterio.open(out, OVERVIEW_LEVEL=0) as overview:
        assert overview.shape == (300, 300)
        # GDAL's NEAREST takes the top-left pixel of each 2 x 2 cell
        np.testing.assert_array_equal(overview.read(1), classes[::2, ::2])
