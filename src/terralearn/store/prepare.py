"""``prepare``: images + labels -> a chip store (Zarr arrays, Parquet index, statistics).

Two streamed passes over each image: the first computes the valid mask (to score candidate chips
by valid fraction and class counts), the second copies the selected chips into Zarr. Memory holds
the (y, x) masks and one band of rows, never the whole image.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from terralearn._fs import atomic_output, check_output
from terralearn._progress import progress_bar
from terralearn.config import to_yaml
from terralearn.errors import AllNodataError, ConfigError
from terralearn.geo.window import Window, window_bounds
from terralearn.store import layout

log = logging.getLogger(__name__)

SPLIT_METHODS = ("block", "random")
CHIPS_PER_ZARR_CHUNK = 32


@dataclass
class PrepareConfig:
    """Options of ``terralearn prepare`` (also the keys of its YAML config)."""

    images: list[str] = field(default_factory=list)
    out: str = ""
    labels: list[str] | None = None
    bands: list[str] | None = None
    class_column: str | None = None
    chip_size: int = 128
    stride: int | None = None
    sampler: str = "grid"
    num_samples: int | None = None
    min_valid: float = 0.5
    min_labelled: int = 0  # skip chips with fewer labelled pixels (useful with sparse polygons)
    split: str = "block"
    block_size: int | str | None = None  # pixels, or a distance such as "5km" / "3000m"
    buffer: int | str | None = None  # pixels or distance; default: one chip size
    val: float = 0.15
    test: float = 0.15
    seed: int = 0

    def validate(self) -> None:
        if not self.images:
            raise ConfigError("no input image given; pass at least one IMAGE")
        if not self.out:
            raise ConfigError("no output given; pass --out STORE")
        if self.chip_size < 8:
            raise ConfigError(f"--chip-size {self.chip_size} is too small; use at least 8 pixels")
        if self.stride is not None and self.stride < 1:
            raise ConfigError(f"--stride {self.stride} must be a positive number of pixels")
        if not 0.0 <= self.min_valid <= 1.0:
            raise ConfigError(f"--min-valid {self.min_valid} must lie between 0 and 1")
        if self.val < 0 or self.test < 0 or self.val + self.test >= 1:
            raise ConfigError(
                f"--val {self.val} + --test {self.test} must be non-negative and sum to less "
                "than 1 (the rest is the training split)"
            )
        if self.split not in SPLIT_METHODS:
            raise ConfigError(
                f"--split {self.split!r} is unknown; use one of {', '.join(SPLIT_METHODS)}"
            )
        if self.labels is not None and len(self.labels) not in (1, len(self.images)):
            raise ConfigError(
                f"{len(self.labels)} --labels for {len(self.images)} images; give one labels "
                "source for all images or one per image, in the same order"
            )


def parse_distance(value: int | float | str, resolution: float, option: str) -> float:
    """A distance in pixels from ``512`` (pixels), ``"512px"``, ``"3000m"`` or ``"5km"``."""
    if isinstance(value, int | float):
        return float(value)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(px|m|km)?\s*", str(value))
    if not match:
        raise ConfigError(
            f"{option} {value!r} is not a distance; write pixels (512), metres (3000m) or km (5km)"
        )
    number, unit = float(match.group(1)), match.group(2) or "px"
    return {"px": number, "m": number / resolution, "km": number * 1000 / resolution}[unit]


def prepare(config: PrepareConfig, overwrite: bool = False, progress: bool = True) -> Path:
    """Cut images (and labels) into a chip store; returns the store path.

    Raises:
        TerralearnError: for any problem with the inputs or options (nothing is written then).
    """
    from terralearn.io import IGNORE_INDEX, open_image, open_labels, valid_mask
    from terralearn.sampling.stats import BandStatistics

    config.validate()
    out = check_output(config.out, overwrite, option="--out")
    images = [open_image(path, bands=config.bands) for path in config.images]
    _check_same_bands(images, config.images)
    size = config.chip_size
    for path, image in zip(config.images, images, strict=True):
        _, height, width = image.shape
        if size > min(height, width):
            raise ConfigError(
                f"--chip-size {size} is larger than image {path!r} ({height} x {width} px); "
                f"use a chip size of at most {min(height, width)}"
            )

    label_sources = _label_sources(config)
    sampler = _make_sampler(config)

    tables, valids, masks, classes = [], [], [], None
    for i, image in enumerate(images):
        valid = _streamed_valid_mask(image, valid_mask)
        valids.append(valid)
        if not valid.any():
            raise AllNodataError(
                f"image {config.images[i]!r} has no valid pixel (every pixel is nodata "
                f"{image.rio.nodata!r} or NaN); check the file or its nodata value"
            )
        mask = None
        if label_sources is not None:
            labels = open_labels(label_sources[i], like=image, class_column=config.class_column)
            classes = _merge_classes(classes, labels.classes, label_sources[i])
            mask = np.asarray(labels.data.values, dtype=np.uint8)
            if not mask.flags.writeable:
                mask = mask.copy()
            del labels  # the mask is the only full-size copy kept
            np.putmask(mask, ~valid, IGNORE_INDEX)
        masks.append(mask)
        tables.append(_score_candidates(i, image, sampler, size, valid, mask))

    num_classes = 0 if classes is None else max(classes) + 1
    table = _select(tables, sampler, num_classes)
    if config.min_labelled > 0 and num_classes:
        labelled = table[[f"count_{k}" for k in range(num_classes)]].sum(axis=1)
        table = table[labelled >= config.min_labelled].reset_index(drop=True)
        if table.empty:
            raise ConfigError(
                f"no chip has at least --min-labelled {config.min_labelled} labelled pixels; "
                "lower it or use a smaller --stride"
            )
    table["split"] = _assign_splits(table, images, config)
    table = table[table["split"] != "drop"].reset_index(drop=True)
    if not (table["split"] == "train").any():
        raise ConfigError(
            f"no training chip left after the split (block size {config.block_size!r}, buffer "
            f"{config.buffer!r}); use a smaller --block-size or --buffer, or smaller --val/--test"
        )
    for split, share in (("val", config.val), ("test", config.test)):
        if share > 0 and not (table["split"] == split).any():
            log.warning(
                "the %s split is empty: the image holds too few blocks of %s; use a smaller "
                "--block-size for a %s split",
                split,
                config.block_size or f"{8 * size} px",
                split,
            )
    table.insert(0, "chip_id", np.arange(len(table), dtype=np.int64))

    bands = [str(b) for b in images[0].band.values]
    stats = BandStatistics(bands)
    with atomic_output(out, overwrite, directory=True) as tmp:
        _write_arrays(tmp, table, images, valids, masks, stats, size, progress)
        table.to_parquet(tmp / layout.INDEX_FILE, index=False)
        (tmp / layout.STATS_FILE).write_text(json.dumps(stats.result(), indent=2))
        meta = layout.StoreMeta(
            chip_size=size,
            bands=bands,
            dtype=str(images[0].dtype),
            num_chips=len(table),
            classes=classes,
            ignore_index=IGNORE_INDEX,
            sources=[str(p) for p in config.images],
            labels=None if label_sources is None else [str(p) for p in label_sources],
            crs=[im.rio.crs.to_string() for im in images],
            resolution=[abs(float(im.rio.resolution()[0])) for im in images],
            splits={s: int((table["split"] == s).sum()) for s in ("train", "val", "test")},
        )
        (tmp / layout.META_FILE).write_text(json.dumps(meta.to_json(), indent=2))
        (tmp / layout.CONFIG_FILE).write_text(to_yaml(config))
    return out


def _streamed_valid_mask(image: xr.DataArray, valid_mask) -> np.ndarray:
    """``valid_mask(image)`` computed one band of rows at a time (bounded memory)."""
    from terralearn.store.chips import row_band_height

    _, height, width = image.shape
    valid = np.empty((height, width), dtype=bool)
    step = row_band_height(image, 0, budget=32 * 2**20)
    for start in range(0, height, step):
        rows = image.isel(y=slice(start, start + step))
        valid[start : start + step] = np.asarray(valid_mask(rows).values, dtype=bool)
    return valid


def _check_same_bands(images: list[xr.DataArray], paths: list[str]) -> None:
    first = [str(b) for b in images[0].band.values]
    for path, image in zip(paths[1:], images[1:], strict=True):
        names = [str(b) for b in image.band.values]
        if names != first:
            raise ConfigError(
                f"image {path!r} has bands {names}, but {paths[0]!r} has {first}; "
                "choose common bands with --bands"
            )
        if image.dtype != images[0].dtype:
            raise ConfigError(
                f"image {path!r} has dtype {image.dtype}, but {paths[0]!r} has {images[0].dtype}; "
                "convert the images to one data type"
            )


def _label_sources(config: PrepareConfig) -> list[str] | None:
    if not config.labels:
        return None
    if len(config.labels) == 1:
        return list(config.labels) * len(config.images)
    return list(config.labels)


def _merge_classes(
    known: dict[int, str] | None, new: dict[int, str], source: str
) -> dict[int, str]:
    if known is None:
        return dict(new)
    for key, name in new.items():
        if key in known and known[key] != name:
            raise ConfigError(
                f"labels {source!r} call class {key} {name!r}, other labels call it "
                f"{known[key]!r}; use one class numbering for all label files"
            )
    return dict(sorted({**known, **new}.items()))


def _make_sampler(config: PrepareConfig):
    from terralearn.sampling import get_sampler

    kwargs: dict = {"min_valid": config.min_valid}
    if config.sampler == "random":
        if not config.num_samples:
            raise ConfigError("--sampler random needs --num-samples N (how many chips per image)")
        kwargs.update(n=config.num_samples, seed=config.seed)
    else:
        kwargs["stride"] = config.stride
    return get_sampler(config.sampler, **kwargs)


def _score_candidates(
    source: int, image: xr.DataArray, sampler, size: int, valid: np.ndarray, mask: np.ndarray | None
) -> pd.DataFrame:
    """Valid fraction and labelled pixels per class of every candidate chip."""
    _, height, width = image.shape
    offsets = np.asarray(sampler.candidates(height, width, size), dtype=np.int64)
    offsets = offsets[np.lexsort((offsets[:, 1], offsets[:, 0]))]
    area = float(size * size)
    fractions = np.empty(len(offsets))
    counts = []
    for k, (r, c) in enumerate(offsets):
        fractions[k] = valid[r : r + size, c : c + size].sum() / area
        if mask is not None:
            counts.append(np.bincount(mask[r : r + size, c : c + size].ravel(), minlength=256))
    table = pd.DataFrame(
        {
            "source": np.full(len(offsets), source, dtype=np.int32),
            "row_off": offsets[:, 0],
            "col_off": offsets[:, 1],
            "height": size,
            "width": size,
            "valid_fraction": fractions,
        }
    )
    if mask is not None:
        labelled = np.stack(counts)[:, :255] if counts else np.zeros((0, 255), dtype=np.int64)
        table = pd.concat(
            [table, pd.DataFrame(labelled, columns=[f"count_{k}" for k in range(255)])], axis=1
        )
    return table


def _select(tables: list[pd.DataFrame], sampler, num_classes: int) -> pd.DataFrame:
    table = pd.concat(tables, ignore_index=True)
    drop = [c for c in table.columns if c.startswith("count_") and int(c[6:]) >= num_classes]
    table = table.drop(columns=drop)
    return (
        sampler.select(table).sort_values(["source", "row_off", "col_off"]).reset_index(drop=True)
    )


def _assign_splits(
    table: pd.DataFrame, images: list[xr.DataArray], config: PrepareConfig
) -> np.ndarray:
    from terralearn.sampling.splits import block_split, random_split

    boxes = np.empty((len(table), 4))
    crs_names = np.empty(len(table), dtype=object)
    for i, image in enumerate(images):
        rows = np.flatnonzero(table["source"].to_numpy() == i)
        transform = image.rio.transform()
        for j in rows:
            window = Window(
                int(table.at[j, "row_off"]),
                int(table.at[j, "col_off"]),
                config.chip_size,
                config.chip_size,
            )
            boxes[j] = window_bounds(window, transform)
        crs_names[rows] = image.rio.crs.to_string()
    table["minx"], table["miny"], table["maxx"], table["maxy"] = boxes.T
    table["crs"] = crs_names.astype(str)
    if config.split == "random":
        return random_split(len(table), val=config.val, test=config.test, seed=config.seed)

    resolution = abs(float(images[0].rio.resolution()[0]))
    size = config.chip_size
    block_px = parse_distance(config.block_size or 8 * size, resolution, "--block-size")
    buffer_px = parse_distance(
        size if config.buffer is None else config.buffer, resolution, "--buffer"
    )
    if block_px < size:
        raise ConfigError(
            f"--block-size {config.block_size!r} ({block_px:g} px) is smaller than the chip size "
            f"({size} px); use a block size of at least one chip, better several"
        )
    # Splits are drawn jointly for images in one CRS (they may overlap), separately per CRS.
    splits = np.empty(len(table), dtype=object)
    for crs in np.unique(crs_names):
        rows = np.flatnonzero(crs_names == crs)
        splits[rows] = block_split(
            boxes[rows],
            block_size=block_px * resolution,
            buffer=buffer_px * resolution,
            val=config.val,
            test=config.test,
            seed=config.seed,
        )
    return splits.astype(str)


def _write_arrays(
    root: Path,
    table: pd.DataFrame,
    images: list[xr.DataArray],
    valids: list[np.ndarray],
    masks: list[np.ndarray | None],
    stats,
    size: int,
    progress: bool,
) -> None:
    import zarr

    from terralearn.io import IGNORE_INDEX
    from terralearn.store.chips import iter_row_bands

    n, bands = len(table), images[0].shape[0]
    chunk = min(CHIPS_PER_ZARR_CHUNK, max(n, 1))
    group = zarr.open_group(str(root / layout.ARRAYS_DIR), mode="w")
    image_arr = group.create_array(
        "image",
        shape=(n, bands, size, size),
        chunks=(chunk, bands, size, size),
        dtype=images[0].dtype,
    )
    valid_arr = group.create_array(
        "valid", shape=(n, size, size), chunks=(chunk, size, size), dtype=bool
    )
    mask_arr = None
    if masks[0] is not None:
        mask_arr = group.create_array(
            "mask",
            shape=(n, size, size),
            chunks=(chunk, size, size),
            dtype=np.uint8,
            fill_value=IGNORE_INDEX,
        )
    writer = _ChunkWriter(image_arr, valid_arr, mask_arr, chunk)
    is_train = table["split"].to_numpy() == "train"
    sources = table["source"].to_numpy()
    with progress_bar(n, "writing chips", enabled=progress) as bar:
        for i, image in enumerate(images):
            rows = np.flatnonzero(sources == i)
            offsets = table[["row_off", "col_off"]].to_numpy()[rows]
            valid, mask = valids[i], masks[i]
            for row0, block, idx in iter_row_bands(image, offsets, size):
                for k in idx:
                    r, c = int(offsets[k, 0]), int(offsets[k, 1])
                    chip = block[:, r - row0 : r - row0 + size, c : c + size]
                    chip_valid = valid[r : r + size, c : c + size]
                    writer.add(
                        chip, chip_valid, None if mask is None else mask[r : r + size, c : c + size]
                    )
                    if is_train[rows[k]]:
                        stats.update(chip, chip_valid)
                bar.advance(len(idx))
    writer.flush()


class _ChunkWriter:
    """Buffers chips and writes whole Zarr chunks (no read-modify-write of partial chunks)."""

    def __init__(self, image, valid, mask, chunk: int):
        self.arrays = (image, valid, mask)
        self.chunk = chunk
        self.buffers: tuple[list, list, list] = ([], [], [])
        self.written = 0

    def add(self, chip: np.ndarray, valid: np.ndarray, mask: np.ndarray | None) -> None:
        for buffer, value in zip(self.buffers, (chip, valid, mask), strict=True):
            if value is not None:
                buffer.append(value)
        if len(self.buffers[0]) == self.chunk:
            self.flush()

    def flush(self) -> None:
        count = len(self.buffers[0])
        if count == 0:
            return
        sl = slice(self.written, self.written + count)
        for array, buffer in zip(self.arrays, self.buffers, strict=True):
            if array is not None and buffer:
                array[sl] = np.stack(buffer)
                buffer.clear()
        self.written += count
