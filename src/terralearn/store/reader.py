"""Reading a chip store written by :func:`terralearn.store.prepare.prepare`."""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from terralearn.classes import ClassTable
from terralearn.errors import NotAStoreError
from terralearn.store import layout


def is_store(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder holding a chip store's metadata."""
    meta = Path(path) / layout.META_FILE
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("format") == layout.FORMAT
    except (OSError, ValueError):
        return False


class ChipStore:
    """A chip store on disk: metadata, the chip index, band statistics and lazy Zarr arrays.

    Args:
        path: the store folder.

    Raises:
        NotAStoreError: when ``path`` is not a chip store (says how to make one).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not is_store(self.path):
            raise NotAStoreError(
                f"{str(self.path)!r} is not a terralearn chip store (no {layout.META_FILE}); "
                "make one with `terralearn prepare IMAGE --labels LABELS --out STORE`"
            )
        self.meta = layout.StoreMeta.from_json(
            json.loads((self.path / layout.META_FILE).read_text())
        )
        if self.meta.version > layout.VERSION:
            raise NotAStoreError(
                f"store {str(self.path)!r} has format version {self.meta.version}; this terralearn "
                f"reads up to version {layout.VERSION}: upgrade terralearn"
            )

    @cached_property
    def index(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / layout.INDEX_FILE)

    @cached_property
    def stats(self) -> dict[str, dict[str, float]]:
        return json.loads((self.path / layout.STATS_FILE).read_text())

    @cached_property
    def _group(self):
        import zarr

        return zarr.open_group(str(self.path / layout.ARRAYS_DIR), mode="r")

    @property
    def image(self):
        """Zarr array (N, C, S, S) of chips in the source data type."""
        return self._group["image"]

    @property
    def valid(self):
        """Zarr array (N, S, S) bool: pixel had data in every band."""
        return self._group["valid"]

    @property
    def mask(self):
        """Zarr array (N, S, S) uint8 of class ids, ``ignore_index`` where unlabelled; None without labels."""
        return self._group["mask"] if self.has_labels else None

    @property
    def pixel_grid(self) -> bool:
        """True for a store cut from pictures without a CRS (crs ``""``, pixel size 1)."""
        return bool(self.meta.crs) and all(crs == "" for crs in self.meta.crs)

    @property
    def has_labels(self) -> bool:
        return self.meta.classes is not None

    @property
    def bands(self) -> list[str]:
        return list(self.meta.bands)

    @property
    def classes(self) -> dict[int, str]:
        return dict(self.meta.classes or {})

    @cached_property
    def class_table(self) -> ClassTable | None:
        """Code, name and colour of each class (None without labels).

        Stores written before class tables get code = index and the default colours.
        """
        if not self.has_labels:
            return None
        if self.meta.class_table:
            return ClassTable.from_json(self.meta.class_table)
        return ClassTable.from_names(self.classes)

    @property
    def class_names(self) -> list[str]:
        """Names for ids 0..K-1 (gaps in the numbering get ``class_<id>``)."""
        return [self.classes.get(k, f"class_{k}") for k in range(self.meta.num_classes)]

    @property
    def num_classes(self) -> int:
        return self.meta.num_classes

    def split_ids(self, split: str) -> np.ndarray:
        """Chip ids of one split ("train", "val", "test")."""
        return self.index.loc[self.index["split"] == split, "chip_id"].to_numpy()

    def class_counts(self, split: str = "train") -> np.ndarray:
        """Labelled pixels per class in a split (for class weights and summaries)."""
        cols = [f"count_{k}" for k in range(self.num_classes)]
        rows = self.index["split"] == split
        return np.array(
            [int(self.index.loc[rows, c].sum()) if c in self.index else 0 for c in cols]
        )

    def read(self, ids: np.ndarray | slice) -> dict[str, np.ndarray]:
        """Chips by id: ``image`` (n, C, S, S), ``valid`` (n, S, S) and ``mask`` when labelled."""
        if not isinstance(ids, slice):
            ids = np.asarray(ids, dtype=np.int64)

        def take(array) -> np.ndarray:
            if isinstance(ids, slice):
                return np.asarray(array[ids])
            return np.asarray(array.get_orthogonal_selection((ids,)))

        out = {"image": take(self.image), "valid": take(self.valid)}
        if self.has_labels:
            out["mask"] = take(self.mask)
        return out

    def band_mean_std(self) -> tuple[list[float], list[float]]:
        """Per-band mean and std of the training split (for normalisation)."""
        mean = [float(self.stats[b]["mean"]) for b in self.bands]
        std = [max(float(self.stats[b]["std"]), 1e-6) for b in self.bands]
        return mean, std

    def describe(self) -> dict[str, Any]:
        """A summary for ``terralearn info``."""
        splits = self.index["split"].value_counts().to_dict()
        info: dict[str, Any] = {
            "path": str(self.path),
            "kind": "chip store",
            "chips": self.meta.num_chips,
            "chip_size": self.meta.chip_size,
            "bands": self.bands,
            "dtype": self.meta.dtype,
            "sources": self.meta.sources,
            "crs": ["none (pixel grid)"] if self.pixel_grid else sorted(set(self.meta.crs)),
            "splits": {s: int(splits.get(s, 0)) for s in ("train", "val", "test")},
        }
        if self.has_labels:
            info["classes"] = {
                name: {s: int(self.class_counts(s)[k]) for s in ("train", "val", "test")}
                for k, name in enumerate(self.class_names)
            }
        return info


def open_store(path: str | os.PathLike) -> ChipStore:
    """Open a chip store (see :class:`ChipStore`)."""
    return ChipStore(path)
