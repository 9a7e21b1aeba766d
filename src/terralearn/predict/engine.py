"""The streamed prediction loop: read a block of tiles, predict them, blend, emit windows.

Memory is bounded by one block of tiles whatever the raster's height and (almost) width: a
block is one tile row across a few thousand columns (:func:`tiles_per_block` tiles), so

1. :func:`read_blocks` reads the window under a block's tiles and computes the valid mask
   (:func:`terralearn.pixels.valid_pixels`); a raster file is read straight from GDAL with each
   of its blocks decoded once (:class:`~terralearn.io.rasterio_.RowBandReader`: tile rows
   overlap by the margins); on a GPU :func:`read_ahead` reads the next block in a background
   thread while the network runs;
2. :func:`run_local` predicts the tiles in batches: a task normalises each batch of raw
   pixels into the device's layout as float32 in one pass and sets nodata to 0 there (the
   training mean: what training and evaluation feed at invalid pixels);
3. :class:`Blender` adds each tile's probabilities times its blending weight into a
   ``(K, tile, block width)`` float32 buffer and hands out the window no later tile touches:
   rows ``[row start, next row start)`` by columns ``[block start, next block start)``. What
   later tiles still add to goes on: the right edge to the next block, the bottom edge (the
   overlap rows, the only buffer as wide as the raster) to the next tile row;
4. :func:`iter_predictions` turns those windows into normalised probabilities (NaN on nodata),
   or class maps.

With ``"crop"`` tiles (:mod:`terralearn.predict.windows`) step 3 is :class:`Cropper`: each tile's
core is copied out, nothing is summed or carried to the next block, and a block's window is its
tiles' cores side by side. For a class map the network is asked for the cores' rows only
(:meth:`Cropper.core_rows`; a U-Net's decoder then skips the margins' rows). :func:`iter_predictions` can then run on any rectangle of tiles
(``rows``, ``cols``), which is how a Dask worker predicts its own part of the raster.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from queue import Full, Queue

import numpy as np
import torch

from terralearn.io.rasterio_ import RowBandReader
from terralearn.pixels import NO_LABEL, valid_pixels
from terralearn.predict.model import Predictor
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
        tiles: ``(column index, x0, tile (C, tile_h, tile_w), valid (tile_h, tile_w))`` for
            tiles with a valid pixel: views of the block's raw pixels (the image's dtype,
            nodata as it is) and of ``valid``; the task normalises them into a copy of its own.
    """

    row: int
    c0: int
    c1: int
    y0: int
    x0: int
    valid: np.ndarray
    tiles: list[tuple[int, int, np.ndarray, np.ndarray]]


BlockResult = tuple[Block, list[np.ndarray]]


def tiles_per_block(layout: TileLayout, batch_size: int) -> int:
    """Tiles per block: about :data:`BLOCK_PX` columns, a multiple of ``batch_size`` tiles."""
    n = max(1, math.ceil(BLOCK_PX / max(layout.stride, 1)))
    return math.ceil(n / batch_size) * batch_size


def read_blocks(
    image,
    layout: TileLayout,
    per_block: int,
    rows: range | None = None,
    cols: range | None = None,
) -> Iterator[Block]:
    """Read the image one block of tiles at a time, tile rows top to bottom: a raster file
    through :class:`~terralearn.io.rasterio_.RowBandReader` (each of its blocks decoded once),
    anything else through xarray.

    Args:
        image: canonical ``(band, y, x)`` DataArray, lazy or in memory.
        layout: the tiles.
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
    reader = RowBandReader.of(image)  # a raster file: each of its blocks decoded once
    with reader or contextlib.nullcontext():
        for r in rows:
            y0, y1 = row_starts[r], row_ends[r]
            next_y0 = row_starts[r + 1] if r + 1 in rows else None
            for c0 in range(cols.start, cols.stop, per_block):
                c1 = min(c0 + per_block, cols.stop)
                x0, x1 = col_starts[c0], max(col_ends[c0:c1])
                if reader is None:
                    raw = np.asarray(image.isel(y=slice(y0, y1), x=slice(x0, x1)).values)
                else:
                    raw = reader.read(y0, y1, x0, x1, next_y0)
                valid = valid_pixels(raw, nodata)
                spans = [(c, col_starts[c] - x0, col_ends[c] - x0) for c in range(c0, c1)]
                tiles = [
                    (c, x0 + a, raw[:, :, a:b], valid[:, a:b])
                    for c, a, b in spans
                    # an all-nodata tile stays nodata: skip the network
                    if valid[:, a:b].any()
                ]
                yield Block(r, c0, c1, y0, x0, valid, tiles)


def shape_groups(
    layout: TileLayout, rows: range | None = None, cols: range | None = None
) -> list[tuple[range, range]]:
    """``rows`` x ``cols`` of ``"crop"`` tiles (default all) in up to four rectangles whose
    tiles share one shape: the last tile row and column are cut at the raster's edge.

    Predicted one rectangle after another, the network's activations have one size at a time,
    which glibc reuses; tile rows that end in a shorter tile interleave two sizes and
    fragment the heap (``unet_small`` on 1536 px tiles: 2.47 GB peak instead of 1.98 GB).
    """
    n_rows, n_cols = len(layout.row_starts), len(layout.col_starts)
    rows = rows if rows is not None else range(n_rows)
    cols = cols if cols is not None else range(n_cols)

    def split(span: range, last: int) -> list[range]:
        if last in span and len(span) > 1:
            return [range(span.start, last), range(last, last + 1)]
        return [span]

    return [(r, c) for r in split(rows, n_rows - 1) for c in split(cols, n_cols - 1)]


def read_ahead(blocks: Iterator[Block], ahead: int = 1) -> Iterator[Block]:
    """``blocks``, read ``ahead`` blocks in advance by a background thread.

    GDAL decodes and numpy masks without the GIL, so the next block is read while a GPU runs
    the network on this one. Not on the CPU: there the forward already keeps every core busy,
    and reading beside it slowed the forward by what it hid (``benchmarks/README.md``). An
    error of the reader is raised here, at the block it failed on; closing this generator
    stops the reader.
    """
    done = object()
    queue: Queue = Queue(maxsize=ahead)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def read() -> None:
        try:
            for block in blocks:
                if not put(block):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer
            put(exc)

    reader = threading.Thread(target=read, name="terralearn-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = queue.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def run_local(
    predictor: Predictor,
    blocks: Iterable[Block],
    batch_size: int,
    tta: bool,
    labels: bool = False,
    core_rows: Callable[[Block], tuple[int, int]] | None = None,
) -> Iterator[BlockResult]:
    """Predict every tile in this process, in batches of ``batch_size`` tiles: probabilities
    ``(K, h, w)`` per tile, or with ``labels`` class indices ``(h, w)`` uint8, only of the
    block's rows ``core_rows(block)`` (tile rows ``[start, stop)``) if given."""
    for block in blocks:
        out: list[np.ndarray] = []
        rows = core_rows(block) if labels and core_rows is not None else None
        for batch, valid in batches(block, batch_size):
            out.extend(
                predictor.labels(batch, valid, rows) if labels else predictor(batch, tta, valid)
            )
        yield block, out


def batches(block: Block, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The block's tiles and their valid masks, stacked ``batch_size`` at a time; a tile of
    another shape (a ``"crop"`` tile cut at the raster's edge) starts a batch of its own shape."""
    tiles = [(t, v) for _, _, t, v in block.tiles]
    i = 0
    while i < len(tiles):
        j = i + 1
        while j < len(tiles) and j - i < batch_size and tiles[j][0].shape == tiles[i][0].shape:
            j += 1
        if j == i + 1:  # one tile: views, copied once by the predictor into the device's layout
            yield tiles[i][0][None], tiles[i][1][None]
        else:
            yield np.stack([t for t, _ in tiles[i:j]]), np.stack([v for _, v in tiles[i:j]])
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

    def core_rows(self, block: Block) -> tuple[int, int]:
        """The rows ``[start, stop)`` of the block's tiles that are their cores."""
        ya, yb = self._rows[block.row]
        return ya - block.y0, yb - block.y0

    def add(
        self, block: Block, outputs: list[np.ndarray], labels: bool = False, cut: bool = False
    ) -> tuple[int, int, np.ndarray, np.ndarray]:
        """The block's cores ``(y0, x0, out, valid (h, w))``: probabilities ``(K, h, w)`` (NaN
        where a tile was skipped: no valid pixel), or with ``labels`` class indices ``(h, w)``
        uint8 (:data:`~terralearn.pixels.NO_LABEL` there); ``valid`` is False where a tile was
        skipped or the input is not valid. ``cut``: the outputs are already their
        :meth:`core_rows`."""
        (ya, yb), cols = self._rows[block.row], self._cols
        xa, xb = cols[block.c0][0], cols[block.c1 - 1][1]
        lead, fill, dtype = ((), NO_LABEL, np.uint8) if labels else ((self.k,), np.nan, np.float32)
        out = np.full((*lead, yb - ya, xb - xa), fill, dtype=dtype)
        top = ya - block.y0
        first = 0 if cut else top
        for (c, x0, _, _), p in zip(block.tiles, outputs, strict=True):
            a, b = cols[c]
            out[..., a - xa : b - xa] = p[..., first : first + yb - ya, a - x0 : b - x0]
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
        for (c, x0, _, _), p in zip(block.tiles, probabilities, strict=True):
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
    rows: range | None = None,
    cols: range | None = None,
    labels: bool = False,
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Blended class probabilities, or class indices, streamed window by window (rows of
    windows top to bottom).

    Args:
        predictor: the model.
        image: canonical ``(band, y, x)`` image with the model's bands.
        layout: the tiles.
        batch_size: tiles per forward pass.
        tta: average the 8 D4 rotations/flips of every tile.
        rows: tile rows to predict (``"crop"`` only; default all).
        cols: tile columns to predict (``"crop"`` only; default all).
        labels: yield class indices instead of probabilities. With ``"crop"`` tiles and no
            ``tta`` they come from the logits (:meth:`Predictor.labels`): no probabilities are
            computed or copied.

    Yields:
        ``(y0, x0, out, valid (h, w) bool)``: windows that tile the image without overlap;
        ``out`` is probabilities ``(K, h, w)`` float32, NaN where the input is not valid, or
        with ``labels`` class indices ``(h, w)`` uint8, :data:`~terralearn.pixels.NO_LABEL`
        there.
    """
    k = len(predictor.classes)
    crop = layout.blend == "crop"
    if not crop and (rows is not None or cols is not None):
        raise ValueError("only 'crop' tiles can be predicted part by part")
    from_logits = labels and crop and not tta
    combine = Cropper(layout, k) if crop else Blender(layout, k)
    per_block = tiles_per_block(layout, batch_size)
    if crop:  # tiles of one shape after another: the allocator reuses their memory
        groups = shape_groups(layout, rows, cols)
        blocks = chain.from_iterable(read_blocks(image, layout, per_block, r, c) for r, c in groups)
    else:  # blending needs tile rows in order
        blocks = read_blocks(image, layout, per_block)
    if predictor.device.type != "cpu":  # the host's cores are free while the device computes
        blocks = read_ahead(blocks)
    # class maps of "crop" tiles: only the core rows of each tile (a U-Net computes less)
    core_rows = combine.core_rows if from_logits else None
    for block, outputs in run_local(predictor, blocks, batch_size, tta, from_logits, core_rows):
        if crop:
            y0, x0, out, valid = combine.add(block, outputs, from_logits, cut=from_logits)
            if from_logits:
                out[~valid] = NO_LABEL
                yield y0, x0, out, valid
                continue
            mean = out
        else:
            y0, x0, total, weight = combine.add(block, outputs)
            h, w = weight.shape
            valid = block.valid[:h, :w] & (weight > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = total / weight
        mean[:, ~valid] = np.nan
        yield y0, x0, class_map(mean, valid) if labels else mean, valid


def class_map(probabilities: np.ndarray, valid: np.ndarray, nodata: int = NO_LABEL) -> np.ndarray:
    """Most probable class ``(h, W)`` uint8, ``nodata`` where not valid (whatever the
    probabilities hold there, NaN included)."""
    out = np.argmax(probabilities, axis=0).astype(np.uint8)
    out[~valid] = nodata
    return out


def count_classes(classes: np.ndarray) -> np.ndarray:
    """Pixels per value of a uint8 class map, ``(256,)`` int64 (torch's ``bincount`` takes
    uint8 as it is: 7x faster than numpy's, which widens every pixel to int64 first)."""
    flat = torch.from_numpy(np.ascontiguousarray(classes, dtype=np.uint8)).view(-1)
    return torch.bincount(flat, minlength=256).numpy()


def to_values(lookup: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The written values of a class map: ``lookup[classes]``, or the map itself when the
    lookup is the identity (class indices written as they are, nodata 255)."""
    if lookup.dtype == np.uint8 and np.array_equal(lookup, np.arange(256)):
        return classes
    return lookup[classes]


def entropy(probabilities: np.ndarray) -> np.ndarray:
    """Entropy in nats of the mean prediction, ``(h, W)`` float32 (NaN where probabilities are)."""
    p = np.clip(probabilities, 1e-12, 1.0)
    h = -(probabilities * np.log(p)).sum(axis=0)
    return np.maximum(h, 0.0).astype(np.float32)
