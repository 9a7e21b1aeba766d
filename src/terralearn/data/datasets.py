"""Torch datasets over a chip store, and the LightningDataModule that serves its splits.

Chips are small, so a split is read from Zarr once and held as tensors; batches are then sliced
from memory in one indexing operation (``__getitems__``), which keeps the data path close to a
bare in-memory training loop. Splits too large for ``memory_budget`` are read lazily per batch.
"""

from __future__ import annotations

import logging
import os

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from terralearn.store.reader import ChipStore

log = logging.getLogger(__name__)

DEFAULT_MEMORY_BUDGET = 4 * 2**30  # bytes of float32 chips held in memory per split


def _as_tensor_image(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _as_tensor_mask(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))


def _as_tensor_valid(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=bool))


def collate_batch(batch):
    """Batches come pre-stacked from ``__getitems__``; pass them through."""
    return batch


class ChipDataset(Dataset):
    """Chips of one split as dicts ``{"image": float32 (C,S,S), "valid": bool (S,S),
    "mask": int64 (S,S), "chip_id"}``.

    ``image`` holds the raw stored values, nodata included (e.g. -99999); ``valid`` says which
    pixels hold data, and the task's normalisation sets the others to 0 (the band mean: see
    :func:`terralearn.data.augment.normalize_bands`). ``mask`` is 255 there, so invalid pixels
    count in no loss and no metric.

    Args:
        store: an open chip store.
        ids: chip ids to serve (e.g. ``store.split_ids("train")``).
        memory_budget: hold the chips in memory when they fit in this many bytes (float32).
    """

    def __init__(
        self, store: ChipStore, ids: np.ndarray, memory_budget: int = DEFAULT_MEMORY_BUDGET
    ):
        self.store = store
        self.ids = np.asarray(ids, dtype=np.int64)
        channels, size = len(store.bands), store.meta.chip_size
        self.in_memory = len(self.ids) * channels * size * size * 4 <= memory_budget
        self._images: torch.Tensor | None = None
        self._masks: torch.Tensor | None = None
        self._valid: torch.Tensor | None = None
        if self.in_memory and len(self.ids):
            arrays = store.read(self.ids)
            self._images = _as_tensor_image(arrays["image"])
            self._valid = _as_tensor_valid(arrays["valid"])
            if "mask" in arrays:
                self._masks = _as_tensor_mask(arrays["mask"])

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        batch = self.__getitems__([i])
        return {k: v[0] for k, v in batch.items()}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        if self._images is not None:
            batch = {"image": self._images[index], "valid": self._valid[index]}
            if self._masks is not None:
                batch["mask"] = self._masks[index]
        else:
            order = np.argsort(self.ids[indices])  # Zarr reads faster in ascending order
            arrays = self.store.read(self.ids[indices][order])
            inverse = np.argsort(order)
            batch = {
                "image": _as_tensor_image(arrays["image"][inverse]),
                "valid": _as_tensor_valid(arrays["valid"][inverse]),
            }
            if "mask" in arrays:
                batch["mask"] = _as_tensor_mask(arrays["mask"][inverse])
        batch["chip_id"] = torch.from_numpy(self.ids[indices])
        return batch


def subsample_ids(ids: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A seeded subset of ``fraction`` of the ids (at least one), for label-efficiency runs."""
    if fraction >= 1.0:
        return ids
    rng = np.random.default_rng(seed)
    keep = max(1, round(len(ids) * fraction))
    return np.sort(rng.choice(ids, size=keep, replace=False))


class ChipDataModule(L.LightningDataModule):
    """Train / val / test loaders over a chip store.

    Args:
        store_path: chip store folder.
        batch_size: chips per batch.
        num_workers: loader processes (0 is fastest for in-memory splits).
        label_fraction: share of training chips to use (seeded), for few-label experiments.
        seed: seed of the subset and of the weighted sampler.
        balanced: draw training chips by the store's ``weight`` column (class-balanced sampler).
    """

    def __init__(
        self,
        store_path: str | os.PathLike,
        batch_size: int = 16,
        num_workers: int = 0,
        label_fraction: float = 1.0,
        seed: int = 0,
        balanced: bool | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
    ):
        super().__init__()
        self.store = ChipStore(store_path)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.label_fraction = label_fraction
        self.seed = seed
        self.balanced = balanced
        self.memory_budget = memory_budget
        self.datasets: dict[str, ChipDataset] = {}

    def dataset(self, split: str) -> ChipDataset:
        if split not in self.datasets:
            ids = self.store.split_ids(split)
            if split == "train":
                ids = subsample_ids(ids, self.label_fraction, self.seed)
            self.datasets[split] = ChipDataset(self.store, ids, self.memory_budget)
        return self.datasets[split]

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.dataset(split)
        sampler = None
        if shuffle and self._use_weights():
            weights = self.store.index.set_index("chip_id").loc[dataset.ids, "weight"].to_numpy()
            generator = torch.Generator().manual_seed(self.seed)
            sampler = WeightedRandomSampler(weights, num_samples=len(dataset), generator=generator)
            shuffle = False
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=collate_batch,
            persistent_workers=self.num_workers > 0,
        )

    def _use_weights(self) -> bool:
        if "weight" not in self.store.index:
            return False
        if self.balanced is not None:
            return self.balanced
        weights = self.store.index["weight"].to_numpy()
        return bool(len(weights) and not np.allclose(weights, weights[0]))

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
