"""Small georeferenced rasters written with rasterio, shared by several test folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

CRS = "EPSG:32633"
ORIGIN = (500000.0, 5000000.0)
RES = 10.0


def write_raster(
    path: Path, array: np.ndarray, nodata=None, crs=CRS, descriptions=None, res=RES, **creation
) -> Path:
    """A GeoTIFF of ``array`` ((bands,) y, x); ``creation``: more profile keys (tiling, ...)."""
    array = array if array.ndim == 3 else array[None]
    profile = dict(
        driver="GTiff",
        height=array.shape[1],
        width=array.shape[2],
        count=array.shape[0],
        dtype=array.dtype,
        transform=from_origin(*ORIGIN, res, res),
        nodata=nodata,
        **creation,
    )
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array)
        for i, name in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, name)
    return path
