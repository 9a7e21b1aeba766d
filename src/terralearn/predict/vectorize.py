"""Class polygons from a class map (``rasterio.features.shapes``) written as a GeoPackage.

Neighbouring pixels (4-connected) of one class become one polygon; nodata pixels (255) are
left out. The whole class map is read at once (1 byte per pixel).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from terralearn.errors import ConfigError
from terralearn.pixels import NO_LABEL

LAYER = "predictions"


def polygons(
    classes: np.ndarray,
    transform: Affine,
    crs: CRS,
    class_names: dict[int, str],
    min_area: float = 0.0,
    nodata: int = NO_LABEL,
):
    """Polygons of the classes of a ``(H, W)`` uint8 class map.

    Args:
        classes: class ids, ``nodata`` where there is no prediction.
        transform: the map's affine transform.
        crs: the map's CRS.
        class_names: class id -> name.
        min_area: drop polygons smaller than this, in square CRS units (e.g. m^2).
        nodata: value of pixels without a class.

    Returns:
        A GeoDataFrame with columns ``class_id``, ``class_name``, ``area`` and ``geometry``.
    """
    import geopandas as gpd
    from rasterio.features import shapes
    from shapely.geometry import shape

    if min_area < 0:
        raise ConfigError(f"--min-area must be >= 0, got {min_area}")
    records = [
        (int(value), shape(geom))
        for geom, value in shapes(
            classes, mask=classes != nodata, connectivity=4, transform=transform
        )
    ]
    ids = [r[0] for r in records]
    frame = gpd.GeoDataFrame(
        {
            "class_id": np.asarray(ids, dtype=np.int32),
            "class_name": [class_names.get(i, f"class_{i}") for i in ids],
        },
        geometry=[r[1] for r in records],
        crs=crs,
    )
    frame["area"] = frame.geometry.area
    if min_area > 0:
        frame = frame[frame["area"] >= min_area].reset_index(drop=True)
    return frame[["class_id", "class_name", "area", "geometry"]]


def write_polygons(frame, path: Path) -> None:
    """Write polygons to a GeoPackage at ``path`` (replacing an empty placeholder file)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    frame.to_file(path, driver="GPKG", layer=LAYER, engine="pyogrio")


def read_class_map(path: Path) -> tuple[np.ndarray, Affine, CRS]:
    """A finished class map (COG or Zarr) as ``(array, transform, crs)``."""
    path = Path(path)
    if path.is_dir():  # Zarr store
        import xarray as xr

        with xr.open_zarr(path, mask_and_scale=False) as ds:
            da = ds["class"]
            return np.asarray(da.values), ds.rio.transform(), ds.rio.crs
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1), src.transform, src.crs
