"""Chip extraction: read an image in horizontal bands of rows, copy chips out with numpy.

Reading whole rows of the raster at once (rather than one window per chip) makes every read a
large sequential one, so chip extraction runs close to the speed of copying from memory, while
memory stays bounded by one band of rows (not by the raster's size).

:func:`iter_row_bands` reads a fresh band per group of chips (fast, ~96 MB bands).
:func:`sweep_rows` instead slides one preallocated window of rows down the image, reading each
row once, in steps aligned to the file's blocks (so each block is decoded once); the window holds
a chip size plus one step of rows. :class:`ImageRows` sweeps an image with its valid mask and
labels that way: what ``prepare`` uses to keep its memory small.
"""

from __future__ import annotations

import gc
import math
import mmap
import os
import warnings
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import xarray as xr

from terralearn.classes import ClassTable
from terralearn.geo.grid import chip_offsets
from terralearn.io import open_image, open_labels, valid_mask
from terralearn.io.labels import open_label_rows
from terralearn.pixels import NO_LABEL

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
        image = open_image(image)
    _, height, width = image.shape
    offsets = chip_offsets(height, width, size, stride)
    for row0, block, idx in iter_row_bands(image, offsets, size):
        for r, c in offsets[idx]:
            r0 = int(r) - row0
            yield int(r), int(c), block[:, r0 : r0 + size, c : c + size].copy()


# --- a sliding window of rows (bounded memory) -------------------------------------------------


def read_unit(image: xr.DataArray) -> int:
    """Rows the source decodes together: GeoTIFF block height, else dask chunk height, else 1.

    A VRT (``terralearn stack``) counts by the GeoTIFFs it points at. Reading whole multiples of
    it, aligned to it, decodes every block of a file once.
    """
    source = image.attrs.get("source")
    paths = source if isinstance(source, list) else [source]
    heights = [_block_heights(str(path)) for path in paths]
    if heights and all(heights):
        return math.lcm(*(h for hs in heights for h in hs))
    return image.chunks[1][0] if image.chunks else 1


def _block_heights(path: str) -> list[int]:
    """GeoTIFF block heights of a file (of every file a VRT reads); [] when not all GeoTIFF."""
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(path) as ds:
                if ds.driver == "GTiff":
                    return [ds.block_shapes[0][0]]
                if ds.driver == "VRT" and len(ds.files) > 1:
                    heights = [_block_heights(f) for f in ds.files[1:] if f != path]
                    return [h for hs in heights for h in hs] if all(heights) else []
    except (RasterioError, OSError):
        pass
    return []


def sweep_step(image: xr.DataArray, size: int, max_bytes: int = 256 * 2**20) -> int:
    """Rows read at once by :func:`sweep_rows`: whole read units, at least ``size`` rows.

    Falls back to ``size`` rows (blocks then get decoded more than once) when a unit of rows
    would exceed ``max_bytes``.
    """
    bands, _, width = image.shape
    unit = read_unit(image)
    step = unit * math.ceil(size / unit)
    if step * bands * width * image.dtype.itemsize > max_bytes:
        step = size
    return step


def mapped_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """Like ``np.empty``, in its own anonymous memory map (given back to the system when freed).

    glibc serves blocks below its sliding mmap threshold (up to 32 MB) from the heap and may keep
    them after they are freed; the sweep's buffers are exactly that size at a few thousand pixels
    of width.
    """
    count = math.prod(shape)
    memory = mmap.mmap(-1, max(1, count * np.dtype(dtype).itemsize))
    return np.frombuffer(memory, dtype=dtype, count=count).reshape(shape)


def store_rows(
    image: xr.DataArray, start: int, stop: int, out: np.ndarray, threads: bool = True
) -> None:
    """Write rows ``start:stop`` of every band into ``out`` (C, stop - start, W), no extra copy.

    Dask chunks are computed by local threads (or one after the other with ``threads=False``):
    ``out`` is local memory. Naming the scheduler function also spares dask from importing
    ``distributed`` (~10 MB more here) to look for a cluster.
    """
    if image.chunks is not None:
        import dask.array as dsa
        import dask.local
        import dask.threaded

        scheduler = dask.threaded.get if threads else dask.local.get_sync
        # each chunk lands in place (``.values`` would concatenate a second copy)
        dsa.store(image.data[:, start:stop], out, lock=False, scheduler=scheduler)
    else:
        out[...] = image.isel(y=slice(start, stop)).values


def sweep_rows(
    height: int,
    rows: np.ndarray,
    size: int,
    step: int,
    buffers: Sequence[np.ndarray],
    fill: Callable[[int, int, list[np.ndarray]], None],
    every_row: bool = False,
) -> Iterator[tuple[int, list[np.ndarray], np.ndarray]]:
    """Slide a window of rows down the image; yield chips as soon as their rows are in it.

    Args:
        height: image height.
        rows: sorted row offsets of the chips.
        size: chip size in pixels.
        step: rows are read in ``[k * step, (k + 1) * step)`` pieces (aligned: each read once).
        buffers: arrays with rows on axis -2 and room for at least ``size + step`` rows.
        fill: ``fill(start, stop, views)`` writes image rows ``start:stop`` into ``views`` (one
            view per buffer, rows on axis -2).
        every_row: read every row of the image (else rows no chip needs are skipped).

    Yields:
        ``(row0, views, idx)``: the buffers' views of rows ``row0 : row0 + n`` and the indices
        (into ``rows``) of the chips that lie inside them. The views are overwritten by the next
        read: copy what must outlive the iteration.
    """
    top = stop = first = 0  # the buffers hold image rows top:stop
    n = len(rows)
    while True:
        if first < n and rows[first] + size <= stop:
            last = int(np.searchsorted(rows, stop - size, side="right"))
            yield top, [b[..., : stop - top, :] for b in buffers], np.arange(first, last)
            first = last
            continue
        if first == n and (stop >= height or not every_row):
            return
        wanted = int(rows[first]) if first < n else height  # first row still needed
        if wanted > stop and not every_row:
            stop = wanted  # skip rows no chip needs
        new_top = min(wanted, stop)
        keep = stop - new_top  # < size rows carried over
        if keep and new_top > top:
            for b in buffers:
                b[..., :keep, :] = b[..., new_top - top : stop - top, :]
        top = new_top
        end = min(height, (stop // step + 1) * step)
        fill(stop, end, [b[..., keep : keep + end - stop, :] for b in buffers])
        stop = end


class ImageRows:
    """One image's rows with their valid mask and labels, swept down the image in a window.

    Labels are :data:`NO_LABEL` where the image is not valid. A label raster on the image grid
    is read by windows (its classes are known after one sweep with ``every_row``); polygons and
    rasters on another grid are aligned whole by :func:`terralearn.io.open_labels` (1 byte/pixel).
    """

    def __init__(
        self,
        image: xr.DataArray,
        labels: str | None,
        class_column: str | None,
        class_table: ClassTable | None = None,
        label_product: str | None = None,
    ):
        self.image = image
        self.any_valid = False
        self.labels = (
            None
            if labels is None
            else open_label_rows(
                labels, like=image, class_table=class_table, label_product=label_product
            )
        )
        self._table: ClassTable | None = None
        if labels is not None and self.labels is None:
            aligned = open_labels(
                labels,
                like=image,
                class_column=class_column,
                class_table=class_table,
                label_product=label_product,
            )
            self.labels = np.asarray(aligned.data.values, dtype=np.uint8)
            self._table = aligned.table

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    @property
    def table(self) -> ClassTable | None:
        """This source's own class table (for a windowed label raster: after a sweep with
        ``every_row``); the masks hold its indices until :meth:`use_table`."""
        if self.labels is None or isinstance(self.labels, np.ndarray):
            return self._table
        return self.labels.table

    @property
    def classes(self) -> dict[int, str] | None:
        """Class index -> name of :attr:`table`."""
        table = self.table
        return None if table is None else table.as_dict

    def use_table(self, table: ClassTable) -> np.ndarray:
        """Give the masks the indices of ``table`` (the classes of every source) from now on.

        Returns:
            (256,) uint8 lookup from the indices the masks held so far to ``table``'s.
        """
        if isinstance(self.labels, np.ndarray):
            lut = np.full(256, NO_LABEL, np.uint8)
            own = self._table
            if own == table:
                lut[: len(table)] = np.arange(len(table))
            else:
                for c in own or ():
                    lut[c.index] = table.lookup([c.code])[0]
                np.take(lut, self.labels, out=self.labels)
            self._table = table
            return lut
        return self.labels.use_table(table)

    def sweep(
        self, rows: np.ndarray, size: int, every_row: bool
    ) -> Iterator[tuple[int, list[np.ndarray], np.ndarray]]:
        """:func:`sweep_rows` over (image, valid[, labels]) rows.

        A sweep with ``every_row`` also notes the label values met (for :attr:`classes`).
        """
        bands, height, width = self.image.shape
        step = sweep_step(self.image, size)
        capacity = size + step
        buffers = [
            mapped_empty((bands, capacity, width), self.image.dtype),
            mapped_empty((capacity, width), bool),
        ]
        if self.has_labels:
            buffers.append(mapped_empty((capacity, width), np.uint8))

        def fill(start: int, stop: int, views: list[np.ndarray]) -> None:
            self._fill(start, stop, views, record=every_row)

        yield from sweep_rows(height, rows, size, step, buffers, fill, every_row)
        # valid_mask leaves reference cycles (rio accessors) holding views of the buffers: free
        # them now, before the next sweep allocates its own
        del buffers
        gc.collect()

    def _fill(self, start: int, stop: int, views: list[np.ndarray], record: bool) -> None:
        pixels, valid = views[0], views[1]
        mask = views[2] if self.has_labels else None
        # one chunk at a time: threads would each keep a heap of freed chunks (~50 MB more)
        store_rows(self.image, start, stop, pixels, threads=False)
        if isinstance(self.labels, np.ndarray):
            mask[...] = self.labels[start:stop]
        elif self.labels is not None:
            self.labels.read(start, stop, out=mask, record=record)
        valid_rows(self.image, start, pixels, valid, mask)
        self.any_valid = self.any_valid or bool(valid.any())

    def __enter__(self) -> ImageRows:
        return self

    def __exit__(self, *exc) -> None:
        if self.labels is not None and not isinstance(self.labels, np.ndarray):
            self.labels.close()


def valid_rows(
    image: xr.DataArray,
    start: int,
    pixels: np.ndarray,
    out: np.ndarray,
    mask: np.ndarray | None,
    piece: int = 2**20,
) -> None:
    """``valid_mask`` of rows ``start:`` of ``image`` whose values are ``pixels`` (C, n, W).

    Computed a few rows at a time (``valid_mask`` makes (C, rows, W) bool temporaries); ``mask``
    (labels of the same rows) becomes :data:`NO_LABEL` where a pixel is not valid.
    """
    bands, n, width = pixels.shape
    step = max(1, piece // (bands * width))
    for s in range(0, n, step):
        e = min(n, s + step)
        part = image.isel(y=slice(start + s, start + e)).copy(data=pixels[:, s:e])
        out[s:e] = valid_mask(part).values
        if mask is not None:
            np.putmask(mask[s:e], ~out[s:e], NO_LABEL)
