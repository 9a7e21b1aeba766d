"""Small rasters for the io tests: one 3-band int16 scene on a 10 m UTM grid (imported by the tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

CRS = "EPSG:32633"
TRANSFORM = from_origin(500000.0, 4000000.0, 10.0, 10.0)
BANDS = ["blue", "green", "red"]
NODATA = -1
H, W = 8, 10


def scene() -> np.ndarray:
    """(3, H, W) int16 values, with a nodata pixel at (1, 2) in band 0 only."""
    data = np.arange(3 * H * W, dtype=np.int16).reshape(3, H, W) + 1
    data[0, 1, 2] = NODATA
    return data


def write_tif(
    path: Path,
    data: np.ndarray,
    descriptions=None,
    crs=CRS,
    transform=TRANSFORM,
    nodata=NODATA,
    **kw,
) -> Path:
    profile = dict(
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        **kw,
    )
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        for i, d in enumerate(descriptions or [], start=1):
            ds.set_band_description(i, d)
    return path
