"""Chip extraction: read an image in horizontal bands of rows, copy chips out with numpy.

Reading whole rows of the raster at once (rather than one window per chip) makes every read a
large sequential one, so chip extraction runs close to the speed of copying from memory, while
memory stays bounded by one band of rows (not by the raster's size).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import xarray as xr

from terralearn.geo.grid import chip_offsets

# Target size of one band of rows read at once; large enough to amortise per-read overhead.
ROW_BAND_BYTES = 96 * 2**20


def row_band_height(image: xr.DataArray, size: int, budget: int = ROW_BAND_BYTES) -> int:
    """Rows per read so that one band (plus the chip overlap) stays within ``budget`` bytes."""
    bands, _, width = image.shape
    row_bytes = bands * width * image.dtype.itemsize
    step = max(size, 1, int(budget // max(row_bytes, 1)) - size)
    if image.chunks:  # whole dask chunks per band: no chunk is decoded twice
        chunk_rows = image.chunks[1][0]
        if step >= chunk_rows:
            step -= step % chunk_rows
    return step


def read_rows(image: xr.DataArray, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of every band as a numpy array (C, stop - start, W)."""
    return np.asarray(image.isel(y=slice(start, stop)).values)


def iter_row_bands(
    image: xr.DataArray, offsets: np.ndarray, size: int, budget: int = ROW_BAND_BYTES
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Group chip offsets by bands of rows and read each band once.

    Args:
        image: canonical (band, y, x) DataArray.
        offsets: (N, 2) [row_off, col_off] sorted by row_off.
        size: chip size in pixels.

    Yields:
        ``(row0, block, idx)``: rows ``row0 : row0 + block.shape[1]`` of the image and the indices
        (into ``offsets``) of the chips that lie entirely inside them.
    """
    if len(offsets) == 0:
        return
    height = image.shape[1]
    step = row_band_height(image, size, budget)
    rows = offsets[:, 0]
    first = 0
    while first < len(offsets):
        row0 = int(rows[first])
        # chips starting in [row0, row0 + step) are served by rows [row0, row0 + step + size)
        last = int(np.searchsorted(rows, row0 + step, side="left"))
        row1 = min(height, int(rows[last - 1]) + size)
        yield row0, read_rows(image, row0, row1), np.arange(first, last)
        first = last


def iter_chips(
    image: xr.DataArray | str | os.PathLike,
    size: int,
    stride: int | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield every chip of a regular grid as ``(row_off, col_off, chip)``.

    Args:
        image: a canonical DataArray (see :func:`terralearn.open_image`) or a path to open.
        size: chip size in pixels (square chips).
        stride: distance between chip origins; defaults to ``size`` (no overlap).

    Chips come in row-major grid order (:func:`terralearn.geo.grid.chip_offsets`, last row and
    column snapped to the image edge); each is a fresh (C, size, size) array.
    """
    if not isinstance(image, xr.DataArray):
        from terralearn.io import open_image

        image = open_image(image)
    _, height, width = image.shape
    offsets = chip_offsets(height, width, size, stride)
    for row0, block, idx in iter_row_bands(image, offsets, size):
        for r, c in offsets[idx]:
            r0 = int(r) - row0
            yield int(r), int(c), block[:, r0 : r0 + size, c : c + size].copy()
