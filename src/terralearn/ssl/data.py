"""Unlabelled chips streamed from rasters or chip stores, for self-supervised pretraining.

Nothing is held beyond one band of rows per source and a shuffle buffer, so the unlabelled set
may be far larger than memory (and, through Dask-backed sources such as Zarr or xee, than one
machine's disk). Per epoch:

1. each source's chip grid gets a random origin shift (new chips every epoch, not the same
   crops again), and its chips are grouped into bands of rows (:mod:`terralearn.store.chips`);
2. the row bands of all sources are shuffled (the same order on every reader: it depends only
   on seed, epoch and pass) and the chips, in that order, are cut into ``ranks x workers``
   contiguous shares, one per reader (DDP rank, data-loader worker). Each reader reads only the
   rows of its share, so readers never serve the same chip of a pass, even when a small image
   is a single band of rows;
3. chips with any nodata pixel (:func:`terralearn.pixels.valid_pixels`) are skipped; the
   rest pass through a shuffle buffer. Skipping keeps pretraining consistent with the rule
   that invalid pixels enter the network as the band mean (0 after normalisation): no invalid
   pixel reaches the network here at all, and the reconstruction targets and contrastive
   views never see a fill value as if it were data.

An epoch is a fixed number of chips, ``chips_per_epoch`` (default: the number of grid chips):
every DDP rank serves ``ceil(chips_per_epoch / ranks)`` of them, cut down to whole batches
(``batch_size``), so every rank yields the same number of full batches, which DDP needs; a
rank's data-loader workers share its batches. A reader whose share runs out (nodata) starts a
new pass: a new grid shift and order.

Chip stores are read by blocks of consecutive chip ids the same way (labels are ignored).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import dask
import lightning
import numpy as np
import torch
import xarray as xr
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from terralearn.errors import ConfigError, IncompatibleError
from terralearn.geo import chip_offsets, gdal_env
from terralearn.io import open_image
from terralearn.pixels import valid_pixels
from terralearn.store.chips import read_rows, row_band_height
from terralearn.store.reader import ChipStore, is_store

STORE_BLOCK = 256  # chips per read from a chip store


@dataclass
class _Band:
    """One unit of reading: rows of a raster (or a range of store chips)."""

    source: int
    row0: int
    row1: int
    offsets: np.ndarray  # (n, 2) chip offsets within the image, or (n,) store ids


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


class UnlabelledChips(IterableDataset):
    """Chips ``{"image": float32 (C, S, S)}`` streamed from rasters and/or chip stores.

    Args:
        sources: paths of rasters (anything :func:`terralearn.open_image` reads), chip stores,
            or canonical DataArrays; all with the same bands in the same order.
        chip_size: chip side in pixels (chip stores must have this chip size).
        chips_per_epoch: chips per epoch over all readers (default: all grid chips once).
        shuffle_buffer: chips held to shuffle the stream (0 keeps reading order).
        seed: base seed; epoch ``e`` draws from ``(seed, e)`` (call :meth:`set_epoch`).
        bands: band names to select from rasters (None keeps all).
        batch_size: the loader's batch size: each rank serves whole batches (see above).

    Raises:
        ConfigError: no source, or a chip store of another chip size.
        IncompatibleError: sources with different bands.
    """

    def __init__(
        self,
        sources: Sequence[str | os.PathLike | xr.DataArray],
        chip_size: int,
        chips_per_epoch: int | None = None,
        shuffle_buffer: int = 512,
        seed: int = 0,
        bands: Sequence[str] | None = None,
        batch_size: int = 1,
    ) -> None:
        if not sources:
            raise ConfigError("pretraining needs at least one unlabelled IMAGE or chip store")
        if chip_size < 1:
            raise ConfigError(f"--chip-size {chip_size} must be at least 1")
        if batch_size < 1:
            raise ConfigError(f"--batch-size {batch_size} must be at least 1")
        self.chip_size = chip_size
        self.batch_size = batch_size
        self.shuffle_buffer = shuffle_buffer
        self.seed = seed
        self.epoch = 0
        self.sources: list[xr.DataArray | ChipStore] = []
        self.names: list[str] = []
        self._reopen = {}  # source index -> path, for rasters opened from a file here
        self._band_selection = bands
        for src in sources:
            if not isinstance(src, xr.DataArray) and is_store(src):
                store = ChipStore(src)
                if store.meta.chip_size != chip_size:
                    raise ConfigError(
                        f"chip store {str(src)!r} has {store.meta.chip_size}-pixel chips but "
                        f"--chip-size is {chip_size}; pass --chip-size {store.meta.chip_size}"
                    )
                self.sources.append(store)
            else:
                if not isinstance(src, xr.DataArray):
                    self._reopen[len(self.sources)] = src
                self.sources.append(open_image(src, bands=bands))
            self.names.append("memory" if isinstance(src, xr.DataArray) else str(src))
        self.bands = self._bands(0)
        for i in range(1, len(self.sources)):
            if self._bands(i) != self.bands:
                raise IncompatibleError(
                    f"{self.names[i]!r} has bands {self._bands(i)} but {self.names[0]!r} has "
                    f"{self.bands}; give sources with the same bands in the same order"
                )
        for src in self.sources:
            if isinstance(src, xr.DataArray):
                chip_offsets(src.shape[1], src.shape[2], chip_size)  # raises if too small
        self.grid_chips = sum(len(self._offsets(i, (0, 0))) for i in range(len(self.sources)))
        self.chips_per_epoch = chips_per_epoch or self.grid_chips
        if self.chips_per_epoch < 1:
            raise ConfigError(f"--chips-per-epoch {chips_per_epoch} must be at least 1")

    # ---- sources ------------------------------------------------------------------------

    def _bands(self, i: int) -> list[str]:
        src = self.sources[i]
        if isinstance(src, xr.DataArray):
            return [str(b) for b in src.band.values]
        return list(src.bands)

    @property
    def dtype(self) -> str:
        src = self.sources[0]
        return str(src.dtype) if isinstance(src, xr.DataArray) else src.meta.dtype

    def _offsets(self, i: int, shift: tuple[int, int]) -> np.ndarray:
        src = self.sources[i]
        if not isinstance(src, xr.DataArray):
            return np.arange(src.meta.num_chips, dtype=np.int64)
        _, h, w = src.shape
        dy, dx = min(shift[0], h - self.chip_size), min(shift[1], w - self.chip_size)
        return chip_offsets(h - dy, w - dx, self.chip_size) + np.array([dy, dx])

    def _bands_of(self, i: int, rng: np.random.Generator) -> list[_Band]:
        """Reading units of source ``i`` for one pass, with a random grid shift."""
        src = self.sources[i]
        if not isinstance(src, xr.DataArray):
            ids = self._offsets(i, (0, 0))
            return [
                _Band(i, int(ids[s]), int(ids[min(s + STORE_BLOCK, len(ids)) - 1]) + 1,
                      ids[s : s + STORE_BLOCK])
                for s in range(0, len(ids), STORE_BLOCK)
            ]  # fmt: skip
        shift = tuple(int(v) for v in rng.integers(0, self.chip_size, size=2))
        offsets = self._offsets(i, shift)  # type: ignore[arg-type]
        step = row_band_height(src, self.chip_size)
        out, first, rows = [], 0, offsets[:, 0]
        while first < len(offsets):
            row0 = int(rows[first])
            last = int(np.searchsorted(rows, row0 + step, side="left"))
            row1 = int(rows[last - 1]) + self.chip_size
            out.append(_Band(i, row0, row1, offsets[first:last]))
            first = last
        return out

    def _read(self, band: _Band) -> Iterator[np.ndarray]:
        """Valid chips of one reading unit."""
        src = self.sources[band.source]
        s = self.chip_size
        if not isinstance(src, xr.DataArray):
            arrays = src.read(slice(band.row0, band.row1))
            ok = arrays["valid"].all(axis=(1, 2))
            yield from arrays["image"][ok]
            return
        with gdal_env():
            block = read_rows(src, band.row0, band.row1)
        valid = valid_pixels(block, src.rio.nodata)
        for r, c in band.offsets:
            r0 = int(r) - band.row0
            if valid[r0 : r0 + s, c : c + s].all():
                yield block[:, r0 : r0 + s, c : c + s]

    # ---- iteration -----------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch (a new grid shift and order per epoch)."""
        self.epoch = epoch

    def reader(self) -> tuple[int, int, int, int]:
        """``(rank, world, worker, workers)`` of this reader (DDP rank, data-loader worker)."""
        rank, world = _rank_world()
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return rank, world, worker, workers

    def rank_quota(self, world: int) -> int:
        """Chips each of ``world`` ranks serves per epoch (the same on every rank).

        ``ceil(chips_per_epoch / world)`` cut down to whole batches (kept whole when it is less
        than one batch), so no rank ends on a short batch and all make the same number of steps.
        """
        chips = math.ceil(self.chips_per_epoch / world)
        return chips - chips % self.batch_size if chips >= self.batch_size else chips

    def quota(self, world: int, worker: int = 0, workers: int = 1) -> int:
        """Chips one reader yields per epoch: a rank's quota dealt to its loader workers.

        A loader with workers takes batch ``i`` from worker ``i % workers``, so each worker gets
        whole batches in that order; the loader then yields exactly ``ceil(rank_quota / batch)``
        batches, which is its length.
        """
        chips, b = self.rank_quota(world), self.batch_size
        batches = math.ceil(chips / b)
        mine = batches // workers + (worker < batches % workers)
        served = mine * b
        if batches and worker == (batches - 1) % workers:
            served -= batches * b - chips  # the last, possibly short, batch
        return served

    def __len__(self) -> int:
        """Chips per epoch of this process (all its loader workers together)."""
        return self.rank_quota(_rank_world()[1])

    def _share(self, units: list[_Band], index: int, count: int) -> list[_Band]:
        """Reader ``index`` of ``count``: its contiguous slice of the chips of ``units``.

        Units cut by the slice keep only the rows (or store ids) of their chips in the slice.
        """
        total = sum(len(u.offsets) for u in units)
        lo, hi = total * index // count, total * (index + 1) // count
        if hi == lo:  # more readers than chips: repeat one chip rather than serve none
            lo, hi = index % total, index % total + 1
        out, start = [], 0
        for unit in units:
            end = start + len(unit.offsets)
            a, b = max(lo, start), min(hi, end)
            if a < b:
                offsets = unit.offsets[a - start : b - start]
                if offsets.ndim == 1:  # store ids
                    row0, row1 = int(offsets[0]), int(offsets[-1]) + 1
                else:
                    row0, row1 = int(offsets[0, 0]), int(offsets[-1, 0]) + self.chip_size
                out.append(_Band(unit.source, row0, row1, offsets))
            start = end
        return out

    def _stream(self, index: int, count: int) -> Iterator[np.ndarray]:
        passes = 0
        empty_passes = 0
        while True:
            rng = np.random.default_rng([self.seed, self.epoch, passes])
            units = [u for i in range(len(self.sources)) for u in self._bands_of(i, rng)]
            units = [units[k] for k in rng.permutation(len(units))]
            # after a pass without any valid chip, read every unit (not only this reader's)
            mine = self._share(units, index, count) if empty_passes == 0 else units
            produced = False
            for unit in mine:
                for chip in self._read(unit):
                    produced = True
                    yield chip
            passes += 1
            empty_passes = 0 if produced else empty_passes + 1
            if empty_passes >= 2:
                raise ConfigError(
                    f"no chip of {self.chip_size} x {self.chip_size} pixels without nodata in "
                    f"{', '.join(self.names)}; use a smaller --chip-size or other images"
                )

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if get_worker_info() is not None:
            # A forked loader worker inherits the parent's open file handles, whose file offset
            # its siblings share: concurrent reads would corrupt each other. Open the files
            # again in this worker (DataArrays passed in memory are read as they are).
            for i, path in self._reopen.items():
                self.sources[i] = open_image(path, bands=self._band_selection)
            # nor may it use the thread pool it inherited (deadlock); the workers already
            # read in parallel
            with dask.config.set(scheduler="synchronous"):
                yield from self._iter()
        else:
            yield from self._iter()

    def _iter(self) -> Iterator[dict[str, torch.Tensor]]:
        rank, world, worker, workers = self.reader()
        quota = self.quota(world, worker, workers)
        index, count = rank * workers + worker, world * workers
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        buffer: list[np.ndarray] = []
        stream = self._stream(index, count)
        served = 0
        while served < quota:
            if self.shuffle_buffer <= 1:
                out = next(stream)
            else:
                # hold min(buffer, chips still to serve): exactly `quota` chips are read, so a
                # reader whose share suffices never starts another pass
                while len(buffer) < min(self.shuffle_buffer, quota - served):
                    buffer.append(next(stream))
                k = int(rng.integers(len(buffer)))
                buffer[k], buffer[-1] = buffer[-1], buffer[k]
                out = buffer.pop()
            served += 1
            yield {"image": torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))}

    def band_mean_std(self, max_chips: int = 256, seed: int = 0) -> tuple[list[float], list[float]]:
        """Per-band mean and standard deviation from up to ``max_chips`` random valid chips.

        Chip stores give their stored statistics; rasters are sampled at random chip windows
        (a few reads, whatever the raster's size).
        """
        rng = np.random.default_rng(seed)
        stores = [s for s in self.sources if not isinstance(s, xr.DataArray)]
        if len(stores) == len(self.sources):
            return stores[0].band_mean_std()
        total = np.zeros(len(self.bands))
        total_sq = np.zeros(len(self.bands))
        n = 0
        rasters = [i for i, s in enumerate(self.sources) if isinstance(s, xr.DataArray)]
        per_source = max(1, max_chips // len(rasters))
        for i in rasters:
            offsets = self._offsets(i, (0, 0))
            picks = rng.choice(len(offsets), size=min(per_source, len(offsets)), replace=False)
            for r, c in offsets[np.sort(picks)]:
                unit = _Band(i, int(r), int(r) + self.chip_size, np.array([[r, c]]))
                for chip in self._read(unit):
                    values = chip.reshape(len(self.bands), -1).astype(np.float64)
                    total += values.sum(axis=1)
                    total_sq += (values**2).sum(axis=1)
                    n += values.shape[1]
        if n == 0:
            raise ConfigError(
                f"no chip of {self.chip_size} x {self.chip_size} pixels without nodata found in "
                f"{', '.join(self.names)}; use a smaller --chip-size or other images"
            )
        mean = total / n
        std = np.sqrt(np.maximum(total_sq / n - mean**2, 0.0))
        return mean.tolist(), np.maximum(std, 1e-6).tolist()


class UnlabelledDataModule(lightning.LightningDataModule):
    """The training loader of an :class:`UnlabelledChips` stream, for ``Trainer.fit``.

    Lightning creates the first epoch's iterator (and its worker processes) before
    ``on_train_epoch_start``, so a run resumed at epoch ``e`` would replay the draws of another
    epoch; the epoch is therefore set here too, when the loader is made, from the restored loop:
    the epoch about to run, which Lightning also gives samplers (``processed`` epochs).
    """

    def __init__(self, dataset: UnlabelledChips, num_workers: int = 0) -> None:
        super().__init__()
        self.dataset = dataset
        self.num_workers = num_workers

    def train_dataloader(self) -> DataLoader:
        if self.trainer is not None:
            self.dataset.set_epoch(self.trainer.fit_loop.epoch_progress.current.processed)
        return DataLoader(
            self.dataset, batch_size=self.dataset.batch_size, num_workers=self.num_workers,
            persistent_workers=False,
        )  # fmt: skip
