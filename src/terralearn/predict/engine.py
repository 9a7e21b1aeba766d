"""The streamed prediction loop: read a block of tiles, predict them, blend, emit windows.

Memory is bounded by one block of tiles whatever the raster's height and (almost) width: a
block is one tile row across a few thousand columns (:func:`tiles_per_block` tiles), so

1. :func:`read_blocks` reads the window under a block's tiles, computes the valid mask
   (:func:`terralearn.pixels.valid_pixels`), fills nodata with the training mean
   (:func:`terralearn.pixels.fill_invalid`; 0 after normalisation: what training and evaluation
   feed at invalid pixels) and cuts the tiles;
2. a runner (:func:`run_local`, or Dask in :mod:`terralearn.predict.dask_`) predicts the tiles;
3. :class:`Blender` adds each tile's probabilities times its blending weight into a
   ``(K, tile, block width)`` float32 buffer and hands out the window no later tile touches:
   rows ``[row start, next row start)`` by columns ``[block start, next block start)``. What
   later tiles still add to goes on: the right edge to the next block, the bottom edge (the
   overlap rows, the only buffer as wide as the raster) to the next tile row;
4. :func:`iter_predictions` turns those windows into normalised probabilities (NaN on nodata).

With ``"crop"`` tiles (:mod:`terralearn.predict.windows`) step 3 is :class:`Cropper`: each tile's
core is copied out, nothing is summed or carried to the next block, and a block's window is its
tiles' cores side by side. :func:`iter_predictions` can then run on any rectangle of tiles
(``rows``, ``cols``), which is how a Dask worker predicts its own part of the raster.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from terralearn.errors import IncompatibleError
from terralearn.pixels import NO_LABEL, fill_invalid, valid_pixels
from terralearn.predict.model import Predictor, fill_values
from terralearn.predict.windows import TileLayout

BLOCK_PX = 4096  # about this many columns per block of tiles


@dataclass
class Block:
    """Tiles ``c0 .. c1 - 1`` of one tile row, ready for the network.

    Attributes:
        row: tile-row index.
        c0: first tile-column index.
        c1: one past the last tile-column index.
        y0: first image row.
        x0: first image column (the start of tile ``c0``).
        valid: ``(tile_h, block width)`` bool, True where every band is valid.
        tiles: ``(column index, x0, tile (C, tile_h, tile_w) float32)`` for tiles with a valid pixel.
    """

    row: int
    c0: int
    c1: int
    y0: int
    x0: int
    valid: np.ndarray
    tiles: list[tuple[int, int, np.ndarray]]


BlockResult = tuple[Block, list[np.ndarray]]


def tiles_per_block(layout: TileLayout, batch_size: int) -> int:
    """Tiles per block: about :data:`BLOCK_PX` columns, a multiple of ``batch_size`` tiles."""
    n = max(1, math.ceil(BLOCK_PX / max(layout.stride, 1)))
    return math.ceil(n / batch_size) * batch_size


def read_blocks(
    image,
    layout: TileLayout,
    fill: list[float] | tuple,
    per_block: int,
    rows: range | None = None,
    cols: range | None = None,
) -> Iterator[Block]:
    """Read the image one block of tiles at a time, tile rows top to bottom.

    Args:
        image: canonical ``(band, y, x)`` DataArray, lazy or in memory.
        layout: the tiles.
        fill: per-band value written over nodata pixels before prediction.
        per_block: tiles per block (see :func:`tiles_per_block`).
        rows: tile rows to read (default all).
        cols: tile columns to read (default all).
    """
    nodata = image.rio.nodata  # once: a ``.rio`` accessor on each window would make a reference
    # cycle holding its pixels until the garbage collector runs
    row_starts, row_ends = layout.row_starts, layout.row_ends
    col_starts, col_ends = layout.col_starts, layout.col_ends
    rows = rows if rows is not None else range(len(row_starts))
    cols = cols if cols is not None else range(len(col_starts))
    for r in rows:
        y0 = row_starts[r]
        for c0 in range(cols.start, cols.stop, per_block):
            c1 = min(c0 + per_block, cols.stop)
            x0, x1 = col_starts[c0], max(col_ends[c0:c1])
            raw = np.asarray(image.isel(y=slice(y0, row_ends[r]), x=slice(x0, x1)).values)
            valid = valid_pixels(raw, nodata)
            data = fill_invalid(raw, valid, fill)
            del raw
            spans = [(c, col_starts[c] - x0, col_ends[c] - x0) for c in range(c0, c1)]
            tiles = [
                (c, x0 + a, data[:, :, a:b])
                for c, a, b in spans
                # an all-nodata tile stays nodata: skip the network
                if valid[:, a:b].any()
            ]
            yield Block(r, c0, c1, y0, x0, valid, tiles)


def run_local(
    predictor: Predictor, blocks: Iterable[Block], batch_size: int, tta: bool
) -> Iterator[BlockResult]:
    """Predict every tile in this process, in batches of ``batch_size`` tiles."""
    for block in blocks:
        out: list[np.ndarray] = []
        for batch in batches(block, batch_size):
            out.extend(predictor(batch, tta))
        yield block, out


def batches(block: Block, batch_size: int) -> Iterator[np.ndarray]:
    """The block's tiles stacked ``batch_size`` at a time; a tile of another shape (a ``"crop"``
    tile cut at the raster's edge) starts a batch of its own shape."""
    tiles = [t for _, _, t in block.tiles]
    i = 0
    while i < len(tiles):
        j = i + 1
        while j < len(tiles) and j - i < batch_size and tiles[j].shape == tiles[i].shape:
            j += 1
        yield np.stack(tiles[i:j])
        i = j


class Cropper:
    """``"crop"`` tiles: each tile's core, copied out (see :mod:`terralearn.predict.windows`).

    Blocks may come in any order.

    Args:
        layout: the tiles (``blend="crop"``).
        num_classes: ``K``.
    """

    def __init__(self, layout: TileLayout, num_classes: int) -> None:
        self.k = num_classes
        self._rows, self._cols = layout.row_cores, layout.col_cores

    def add(
        self, block: Block, probabilities: list[np.ndarray]
    ) -> tuple[int, int, np.ndarray, np.ndarray]:
        """The block's cores ``(y0, x0, probabilities (K, h, w), valid (h, w))``; NaN and not
        valid where a tile was skipped (no valid pixel) or the input is not valid."""
        (ya, yb), cols = self._rows[block.row], self._cols
        xa, xb = cols[block.c0][0], cols[block.c1 - 1][1]
        out = np.full((self.k, yb - ya, xb - xa), np.nan, dtype=np.float32)
        top = ya - block.y0
        for (c, x0, _), p in zip(block.tiles, probabilities, strict=True):
            a, b = cols[c]
            out[:, :, a - xa : b - xa] = p[:, top : top + yb - ya, a - x0 : b - x0]
        valid = block.valid[top : top + yb - ya, xa - block.x0 : xb - block.x0]
        return ya, xa, out, valid


class Blender:
    """Weighted sums of tile probabilities, finished window by window.

    Blocks must come in order: tile rows top to bottom, blocks left to right within a row.

    Args:
        layout: the tiles.
        num_classes: ``K``.
    """

    def __init__(self, layout: TileLayout, num_classes: int) -> None:
        self.layout, self.k = layout, num_classes
        self._rows, self._cols = layout.row_starts, layout.col_starts
        self._wy, self._wx = layout.row_weights(), layout.col_weights()
        # rows [row start, ...) of the current tile row that earlier tile rows added to
        self._above = self._empty(0, layout.width)
        self._below = self._above  # the same, being filled for the next tile row
        self._left: tuple[np.ndarray, np.ndarray] | None = None  # the right edge of the last block

    def _empty(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.zeros((self.k, height, width), dtype=np.float32),
            np.zeros((height, width), dtype=np.float32),
        )

    def add(
        self, block: Block, probabilities: list[np.ndarray]
    ) -> tuple[int, int, np.ndarray, np.ndarray]:
        """Add a block's tiles; return its finished window ``(y0, x0, sum (K, h, w), weight (h, w))``.

        The window's rows run to the next tile row's start (the raster's end for the last row),
        its columns to the next block's start (the raster's end for the last block).
        """
        layout, r = self.layout, block.row
        th, tw = layout.tile_h, layout.tile_w
        rows, cols = self._rows, self._cols
        last_row, last_block = r == len(rows) - 1, block.c1 == len(cols)
        if block.c0 == 0:  # a new tile row
            self._above = self._below
            self._left = None
            self._below = self._empty(0 if last_row else rows[r] + th - rows[r + 1], layout.width)
        a, b = block.x0, cols[block.c1 - 1] + tw
        total, weight = self._empty(th, b - a)
        start = 0
        if self._left is not None:  # earlier tiles of this row (and the rows above) are in it
            left_sum, left_weight = self._left
            start = left_weight.shape[1]
            total[:, :, :start] = left_sum
            weight[:, :start] = left_weight
        above_sum, above_weight = self._above
        h_above = above_weight.shape[0]
        total[:, :h_above, start:] += above_sum[:, :, a + start : b]
        weight[:h_above, start:] += above_weight[:, a + start : b]
        for (c, x0, _), p in zip(block.tiles, probabilities, strict=True):
            w = self._wy[r][:, None] * self._wx[c][None, :]
            total[:, :, x0 - a : x0 - a + tw] += p * w
            weight[:, x0 - a : x0 - a + tw] += w
        h = (layout.height if last_row else rows[r + 1]) - rows[r]
        w = (layout.width if last_block else cols[block.c1]) - a
        below_sum, below_weight = self._below
        below_sum[:, :, a : a + w] = total[:, h:, :w]
        below_weight[:, a : a + w] = weight[h:, :w]
        self._left = None if last_block else (total[:, :, w:].copy(), weight[:, w:].copy())
        return rows[r], a, total[:, :h, :w], weight[:h, :w]


def iter_predictions(
    predictor: Predictor,
    image,
    layout: TileLayout,
    batch_size: int = 8,
    tta: bool = False,
    runner=None,
    rows: range | None = None,
    cols: range | None = None,
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Blended class probabilities, streamed window by window (rows of windows top to bottom).

    Args:
        predictor: the model.
        image: canonical ``(band, y, x)`` image with the model's bands.
        layout: the tiles.
        batch_size: tiles per forward pass.
        tta: average the 8 D4 rotations/flips of every tile.
        runner: ``runner(predictor, blocks, batch_size, tta)`` yielding ``(block,
            probabilities)`` in order; default :func:`run_local`.
        rows: tile rows to predict (``"crop"`` only; default all).
        cols: tile columns to predict (``"crop"`` only; default all).

    Yields:
        ``(y0, x0, probabilities (K, h, w) float32, valid (h, w) bool)``: windows that tile the
        image without overlap; probabilities are NaN where the input is not valid.
    """
    runner = runner or run_local
    k = len(predictor.classes)
    crop = layout.blend == "crop"
    if not crop and (rows is not None or cols is not None):
        raise ValueError("only 'crop' tiles can be predicted part by part")
    combine = Cropper(layout, k) if crop else Blender(layout, k)
    per_block = tiles_per_block(layout, batch_size)
    fill = fill_values(predictor, image.sizes["band"])
    blocks = read_blocks(image, layout, fill, per_block, rows, cols)
    for block, probabilities in runner(predictor, blocks, batch_size, tta):
        for p in probabilities:
            if p.shape[0] != k:
                raise IncompatibleError(
                    f"{predictor.source} returned {p.shape[0]} class bands but has {k} "
                    "class names; the run's classes do not match its checkpoint"
                )
        if crop:
            y0, x0, mean, valid = combine.add(block, probabilities)
            mean[:, ~valid] = np.nan
            yield y0, x0, mean, valid
            continue
        y0, x0, total, weight = combine.add(block, probabilities)
        h, w = weight.shape
        valid = block.valid[:h, :w] & (weight > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / weight
        mean[:, ~valid] = np.nan
        yield y0, x0, mean, valid


def class_map(probabilities: np.ndarray, valid: np.ndarray, nodata: int = NO_LABEL) -> np.ndarray:
    """Most probable class ``(h, W)`` uint8, ``nodata`` where not valid (whatever the
    probabilities hold there, NaN included)."""
    out = np.argmax(probabilities, axis=0).astype(np.uint8)
    out[~valid] = nodata
    return out


def entropy(probabilities: np.ndarray) -> np.ndarray:
    """Entropy in nats of the mean prediction, ``(h, W)`` float32 (NaN where probabilities are)."""
    p = np.clip(probabilities, 1e-12, 1.0)
    h = -(probabilities * np.log(p)).sum(axis=0)
    return np.maximum(h, 0.0).astype(np.float32)
