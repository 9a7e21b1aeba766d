"""The streamed prediction loop: read a band of rows, predict its tiles, blend, emit rows.

Memory stays bounded by one band of tile rows whatever the raster height:

1. :func:`read_row_bands` reads rows ``[y0, y0 + tile)`` of the image (all columns, one tile
   row), computes the valid mask, fills nodata with the training mean and cuts the tiles;
2. a runner (:func:`run_local`, or Dask in :mod:`terralearn.predict.dask_`) predicts the tiles;
3. :class:`RowAccumulator` adds each tile's probabilities times its blending weight into a
   ``(K, tile, width)`` float32 buffer and hands out the rows no later tile touches;
4. :func:`iter_predictions` turns those rows into normalised probabilities (NaN on nodata).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from terralearn.predict.model import Predictor, fill_values
from terralearn.predict.windows import TileLayout


@dataclass
class RowBand:
    """One tile row of the input, ready for the network.

    Attributes:
        index: tile-row index.
        y0: first image row.
        valid: ``(tile_h, width)`` bool, True where every band is valid.
        tiles: ``(column index, x0, tile (C, tile_h, tile_w) float32)`` for tiles with a valid pixel.
    """

    index: int
    y0: int
    valid: np.ndarray
    tiles: list[tuple[int, int, np.ndarray]]


RowResult = tuple[RowBand, list[np.ndarray]]


def read_row_bands(image, layout: TileLayout, fill: list[float] | tuple) -> Iterator[RowBand]:
    """Read the image one tile row at a time (see the module docstring).

    Args:
        image: canonical ``(band, y, x)`` DataArray, lazy or in memory.
        layout: the tiles.
        fill: per-band value written over nodata pixels before prediction.
    """
    fill_arr = np.asarray(fill, dtype=np.float32)[:, None]
    nodata = image.rio.nodata  # once: a ``.rio`` accessor on each band would make a reference
    # cycle holding the band's pixels until the garbage collector runs (memory grew with width)
    th, tw = layout.tile_h, layout.tile_w
    for r, y0 in enumerate(layout.row_starts):
        raw = np.asarray(image.isel(y=slice(y0, y0 + th)).values)
        valid = valid_pixels(raw, nodata)
        data = np.array(raw, dtype=np.float32)  # a copy: never fill the caller's array
        del raw
        if not valid.all():
            data[:, ~valid] = fill_arr
        tiles = [
            (c, x0, data[:, :, x0 : x0 + tw])
            for c, x0 in enumerate(layout.col_starts)
            if valid[:, x0 : x0 + tw].any()  # an all-nodata tile stays nodata: skip the network
        ]
        yield RowBand(r, y0, valid, tiles)


def valid_pixels(raw: np.ndarray, nodata: float | None) -> np.ndarray:
    """``(h, W)`` True where every band is valid: not ``nodata`` and not NaN.

    The numpy form of :func:`terralearn.io.valid_mask` for one band of rows.
    """
    valid = np.ones(raw.shape[1:], dtype=bool)
    if raw.dtype.kind in "fc":
        valid &= ~np.isnan(raw).any(axis=0)
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        valid &= ~(raw == nodata).any(axis=0)
    return valid


def run_local(
    predictor: Predictor, rows: Iterable[RowBand], batch_size: int, tta: bool
) -> Iterator[RowResult]:
    """Predict every tile in this process, in batches of ``batch_size`` tiles."""
    for row in rows:
        out: list[np.ndarray] = []
        for i in range(0, len(row.tiles), batch_size):
            batch = np.stack([t for _, _, t in row.tiles[i : i + batch_size]])
            out.extend(predictor(batch, tta))
        yield row, out


class RowAccumulator:
    """Weighted sums of tile probabilities over one band of ``tile_h`` rows.

    Args:
        layout: the tiles.
        num_classes: ``K``.
    """

    def __init__(self, layout: TileLayout, num_classes: int) -> None:
        self.layout = layout
        self.sum = np.zeros((num_classes, layout.tile_h, layout.width), dtype=np.float32)
        self.weight = np.zeros((layout.tile_h, layout.width), dtype=np.float32)
        self._wy = layout.row_weights()
        self._wx = layout.col_weights()

    def add(self, row: int, col: int, x0: int, probabilities: np.ndarray) -> None:
        """Add tile ``(row, col)`` whose columns start at ``x0``."""
        w = self._wy[row][:, None] * self._wx[col][None, :]
        x1 = x0 + w.shape[1]
        self.sum[:, :, x0:x1] += probabilities * w
        self.weight[:, x0:x1] += w

    def pop(self, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Remove and return the first ``rows`` rows ``(sum (K, rows, W), weight (rows, W))``;
        the buffer moves up by as many rows."""
        out = self.sum[:, :rows].copy(), self.weight[:rows].copy()
        height = self.weight.shape[0]
        if rows < height:  # overlapping slices: numpy copies through a buffer
            self.sum[:, : height - rows] = self.sum[:, rows:]
            self.weight[: height - rows] = self.weight[rows:]
        self.sum[:, height - rows :] = 0
        self.weight[height - rows :] = 0
        return out


def iter_predictions(
    predictor: Predictor,
    image,
    layout: TileLayout,
    batch_size: int = 8,
    tta: bool = False,
    runner=None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Blended class probabilities, streamed top to bottom.

    Args:
        predictor: the model.
        image: canonical ``(band, y, x)`` image with the model's bands.
        layout: the tiles.
        batch_size: tiles per forward pass.
        tta: average the 8 D4 rotations/flips of every tile.
        runner: ``runner(predictor, rows, batch_size, tta)`` yielding ``(row, probabilities)``
            in order; default :func:`run_local`.

    Yields:
        ``(y0, probabilities (K, h, W) float32, valid (h, W) bool)`` for consecutive row
        spans covering the image; probabilities are NaN where the input is not valid.
    """
    runner = runner or run_local
    k = len(predictor.classes)
    acc = RowAccumulator(layout, k)
    rows = read_row_bands(image, layout, fill_values(predictor, image.sizes["band"]))
    for row, probabilities in runner(predictor, rows, batch_size, tta):
        for (col, x0, _), p in zip(row.tiles, probabilities, strict=True):
            if p.shape[0] != k:
                from terralearn.errors import IncompatibleError

                raise IncompatibleError(
                    f"{predictor.source} returned {p.shape[0]} class bands but has {k} "
                    "class names; the run's classes do not match its checkpoint"
                )
            acc.add(row.index, col, x0, p)
        y0, y1 = layout.complete_rows(row.index)
        total, weight = acc.pop(y1 - y0)
        valid = row.valid[: y1 - y0] & (weight > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / weight
        mean[:, ~valid] = np.nan
        yield y0, mean, valid


def class_map(probabilities: np.ndarray, valid: np.ndarray, nodata: int = 255) -> np.ndarray:
    """Most probable class ``(h, W)`` uint8, ``nodata`` where not valid."""
    out = np.argmax(np.where(valid, probabilities, 0.0), axis=0).astype(np.uint8)
    out[~valid] = nodata
    return out


def entropy(probabilities: np.ndarray) -> np.ndarray:
    """Entropy in nats of the mean prediction, ``(h, W)`` float32 (NaN where probabilities are)."""
    p = np.clip(probabilities, 1e-12, 1.0)
    h = -(probabilities * np.log(p)).sum(axis=0)
    return np.maximum(h, 0.0).astype(np.float32)
