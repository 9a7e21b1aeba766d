"""Prediction of a point model over a raster grid, written as a GeoTIFF.

The grid comes from a reference raster (its CRS, transform and size; its bands can supply the
model's features) or from bounds + resolution + CRS. Cell centres are transformed to the
points' CRS, predicted in chunks, and written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from pyproj import CRS, Transformer

from terralearn._fs import atomic_output, check_output
from terralearn.errors import ConfigError, IncompatibleError
from terralearn.io import open_image
from terralearn.viz.colors import class_color, named_colors

MAX_CELLS = 50_000_000  # refuse grids larger than this (a typo in --resolution)


@dataclass
class GridSpec:
    """A north-up raster grid: ``height`` x ``width`` cells of ``transform`` in ``crs``."""

    transform: Affine
    width: int
    height: int
    crs: CRS
    features: np.ndarray | None = None  # (F, H, W) band values, from a reference raster

    def centres(self) -> np.ndarray:
        """``(H * W, 2)`` x/y of the cell centres, row by row."""
        cols, rows = np.meshgrid(np.arange(self.width) + 0.5, np.arange(self.height) + 0.5)
        x, y = self.transform * (cols.ravel(), rows.ravel())
        return np.column_stack([x, y])


def grid_from_raster(path: str | os.PathLike, with_bands: bool = False) -> GridSpec:
    """The grid of a reference raster (and its bands as features when ``with_bands``)."""
    image = open_image(path, chunks=None)
    grid = GridSpec(
        transform=image.rio.transform(),
        width=image.sizes["x"],
        height=image.sizes["y"],
        crs=CRS.from_user_input(image.rio.crs.to_wkt()),
    )
    if with_bands:
        grid.features = np.asarray(image.values, dtype=np.float64)
    return grid


def grid_from_bounds(bounds: Sequence[float], resolution: float, crs: str | CRS) -> GridSpec:
    """A grid covering ``bounds = (minx, miny, maxx, maxy)`` with square cells of ``resolution``."""
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    if not (maxx > minx and maxy > miny):
        raise ConfigError(
            f"--bounds {minx:g} {miny:g} {maxx:g} {maxy:g} must have minx < maxx and miny < maxy"
        )
    if not resolution > 0:
        raise ConfigError(f"--resolution must be > 0, got {resolution}")
    width = math.ceil((maxx - minx) / resolution - 1e-9)
    height = math.ceil((maxy - miny) / resolution - 1e-9)
    if width * height > MAX_CELLS:
        raise ConfigError(
            f"--resolution {resolution:g} gives a {height} x {width} grid; use a coarser resolution"
        )
    try:
        crs = CRS.from_user_input(crs)
    except Exception:
        raise ConfigError(f"--crs {crs!r} is not a CRS; give e.g. EPSG:32633") from None
    return GridSpec(Affine(resolution, 0, minx, 0, -resolution, maxy), width, height, crs)


def to_crs(xy: np.ndarray, src: CRS, dst: CRS | None) -> np.ndarray:
    """Coordinates transformed from ``src`` to ``dst`` (unchanged when equal or dst is None)."""
    if dst is None or src == dst:
        return xy
    x, y = Transformer.from_crs(src, dst, always_xy=True).transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def predict_grid(
    learner,
    grid: GridSpec,
    points_crs: CRS | None,
    out: str | os.PathLike,
    classes: Sequence[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Predict every cell of ``grid`` and write a single-band GeoTIFF.

    Regression writes float32 with NaN nodata; classification uint8 class ids with a colour
    table and 255 as nodata.

    Raises:
        IncompatibleError: the model needs features that the grid does not provide.
    """
    import rasterio

    n_features = len(learner_feature_means(learner))
    check_output(out, overwrite)
    features = None
    if n_features:
        if grid.features is None or grid.features.shape[0] != n_features:
            have = 0 if grid.features is None else grid.features.shape[0]
            raise IncompatibleError(
                f"the model uses {n_features} feature(s) but the grid gives {have}; predict on "
                f"--grid REF.tif with one band per feature, in the training order"
            )
        features = grid.features.reshape(n_features, -1).T
    xy = to_crs(grid.centres(), grid.crs, points_crs)
    valid = np.isfinite(xy).all(axis=1)
    if features is not None:
        valid &= np.isfinite(features).all(axis=1)
    pred = learner.predict(xy[valid], None if features is None else features[valid])
    regression = classes is None
    if regression:
        data = np.full(grid.height * grid.width, np.nan, dtype=np.float32)
        data[valid] = pred
        profile = {"dtype": "float32", "nodata": float("nan")}
    else:
        data = np.full(grid.height * grid.width, 255, dtype=np.uint8)
        data[valid] = pred
        profile = {"dtype": "uint8", "nodata": 255}
    profile.update(
        driver="GTiff", width=grid.width, height=grid.height, count=1, crs=grid.crs.to_wkt(),
        transform=grid.transform, compress="deflate", tiled=grid.width >= 256 and grid.height >= 256,
    )  # fmt: skip
    with atomic_output(out, overwrite) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data.reshape(1, grid.height, grid.width))
        if not regression:
            names = dict(enumerate(classes))
            colors = named_colors(names)
            dst.write_colormap(1, {i: (*class_color(i, colors), 255) for i in names})
            dst.update_tags(classes=",".join(classes))
    return Path(out)


def learner_feature_means(learner) -> list[float]:
    """Feature means of a fitted learner (the number of features it expects)."""
    return list(learner.scaling_.f_mean)
