"""Chip store -> one plain Zarr group, for frameworks that read Zarr but not a chip store.

The chip store already keeps its arrays in Zarr, but beside a Parquet index and JSON metadata;
the ``zarr`` export puts everything in one self-describing Zarr group that any Zarr reader opens:

```
OUT.zarr/
  image (N, C, S, S)  mask (N, S, S) (labelled stores)  valid (N, S, S)
  chip_id, source, row_off, col_off (N,) int64; minx, miny, maxx, maxy (N,) float64
  split (N,) uint8 codes into attrs["split_names"]; crs (N,) int32 codes into attrs["crs_names"]
  attrs: bands, dtype, chip_size, classes, ignore_index, band mean/std
```
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from terralearn._fs import atomic_output
from terralearn._progress import progress_bar
from terralearn.store import open_store

log = logging.getLogger(__name__)

INDEX_COLUMNS = ("chip_id", "source", "row_off", "col_off", "minx", "miny", "maxx", "maxy")


def export_zarr(
    store_path: str | os.PathLike,
    out: str | os.PathLike,
    overwrite: bool = False,
    progress: bool = True,
    batch: int = 256,
) -> Path:
    """Copy a chip store into one plain Zarr group (arrays, index columns and attributes)."""
    import zarr

    store = open_store(store_path)
    if not store.has_labels:
        log.warning("store %s has no labels: exporting images only (no mask array)", store.path)
    index = store.index
    n, size = len(index), store.meta.chip_size
    with atomic_output(out, overwrite, directory=True) as tmp:
        group = zarr.open_group(str(tmp), mode="w")
        sources = {"image": store.image, "valid": store.valid}
        if store.has_labels:
            sources["mask"] = store.mask
        targets = {
            name: group.create_array(
                name,
                shape=array.shape,
                chunks=array.chunks,
                dtype=array.dtype,
                fill_value=array.fill_value,
            )  # fmt: skip
            for name, array in sources.items()
        }
        with progress_bar(n, "copying chips", enabled=progress) as bar:
            for start in range(0, n, batch):
                stop = min(start + batch, n)
                for name, array in sources.items():
                    targets[name][start:stop] = array[start:stop]
                bar.advance(stop - start)
        for column in INDEX_COLUMNS:
            values = index[column].to_numpy()
            dtype = np.float64 if column in ("minx", "miny", "maxx", "maxy") else np.int64
            group.create_array(column, data=values.astype(dtype))
        # strings as small integer codes + a list in attrs: Zarr v3 has no portable string type
        split_names = ["train", "val", "test"]
        crs_names = sorted(index["crs"].astype(str).unique())
        group.create_array("split", data=index["split"].map(split_names.index).to_numpy(np.uint8))
        group.create_array("crs", data=index["crs"].map(crs_names.index).to_numpy(np.int32))
        mean, std = store.band_mean_std()
        group.attrs.update(
            {
                "format": "terralearn-chips-zarr",
                "version": 1,
                "bands": store.bands,
                "dtype": store.meta.dtype,
                "chip_size": size,
                "classes": {str(k): v for k, v in store.classes.items()}
                if store.has_labels
                else None,
                "ignore_index": store.meta.ignore_index,
                "split_names": split_names,
                "crs_names": crs_names,
                "mean": mean,
                "std": std,
            }
        )
    return Path(out)
