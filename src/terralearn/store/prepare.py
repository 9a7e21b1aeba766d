"""``prepare``: images + labels -> a chip store (Zarr arrays, Parquet index, statistics).

Two streamed passes over each image, both through a sliding window of rows
(:class:`terralearn.store.chips.ImageRows`: image rows, their valid mask and labels): the first
scores every candidate chip (valid fraction, labelled pixels per class), the second copies the
selected chips into Zarr. Memory holds a chip size plus one row of file blocks, never a whole
(y, x) array, except for polygons and label rasters on another grid, aligned whole by
``open_labels`` (1 byte per pixel); a label raster on the image grid is read by windows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from rasterio.windows import Window

from terralearn._fs import atomic_output, check_output
from terralearn._progress import progress_bar
from terralearn.classes import ClassTable, product_name, read_class_file, table_for_codes
from terralearn.config import to_yaml
from terralearn.errors import AllNodataError, ConfigError
from terralearn.geo import PREPARE_CACHE, gdal_env, window_bounds
from terralearn.geo.distance import Distance
from terralearn.io import open_image
from terralearn.io.pairs import expand_pairs
from terralearn.io.readers import check_same_grid_kind, crs_text, is_pixel_grid
from terralearn.pixels import NO_LABEL
from terralearn.sampling import get_sampler
from terralearn.sampling.splits import block_split, count_blocks, group_split, random_split
from terralearn.sampling.stats import BandStatistics
from terralearn.store import layout
from terralearn.store.chips import ImageRows, mapped_empty

log = logging.getLogger(__name__)

SPLIT_METHODS = ("block", "random", "image")
# Automatic geometry (no --chip-size / --block-size): the largest chip of AUTO_CHIP_SIZES that
# gives the scene room for MIN_BLOCKS blocks of 3 x 3 chips, then the largest block of 8 x 8 down
# to 1 x 1 chips that still makes MIN_BLOCKS blocks (more when val or test is small: two blocks
# for the smaller share), so that train, val and test all get whole blocks.
AUTO_CHIP_SIZES = (128, 64, 32, 16)
MIN_BLOCKS = 12
MAX_BLOCK_CHIPS = 8
MIN_BLOCK_CHIPS = 3
CHIPS_PER_ZARR_CHUNK = 32


@dataclass
class PrepareConfig:
    """Options of ``terralearn prepare`` (also the keys of its YAML config)."""

    images: list[str] = field(default_factory=list)
    out: str = ""
    labels: list[str] | None = None
    bands: list[str] | None = None
    class_column: str | None = None
    classes: str | None = None  # a --classes FILE (.csv/.yaml: value,name[,color])
    label_product: str | None = None  # a built-in product: nlcd, worldcover, dynamic-world, corine
    chip_size: int | None = None  # pixels; None: chosen from the scene size (see AUTO_CHIP_SIZES)
    stride: int | None = None
    sampler: str = "grid"
    num_samples: int | None = None
    min_valid: float = 0.5
    min_labelled: int = 0  # skip chips with fewer labelled pixels (useful with sparse polygons)
    split: str = "block"  # "block" (spatial), "random" (chips) or "image" (whole images)
    block_size: int | str | None = None  # pixels or a distance ("5km"); None: from the scene
    buffer: int | str | None = None  # pixels or distance; default: one chip size
    val: float = 0.15
    test: float = 0.15
    seed: int = 0
    pixel_grid: bool = False  # read rasters without a CRS (TIFFs too) on their pixel grid

    def validate(self) -> None:
        if not self.images:
            raise ConfigError("no input image given; pass at least one IMAGE")
        if not self.out:
            raise ConfigError("no output given; pass --out STORE")
        if self.chip_size is not None and self.chip_size < 8:
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
        if self.classes and self.label_product:
            raise ConfigError(
                "give either --classes FILE or --label-product NAME, not both (a --classes file "
                "can hold the product's names and colours)"
            )
        if self.label_product:
            product_name(self.label_product)
        if self.labels is not None and len(self.labels) not in (1, len(self.images)):
            raise ConfigError(
                f"{len(self.labels)} --labels for {len(self.images)} images; give one labels "
                "source for all images or one per image, in the same order"
            )


def parse_distance(value: int | float | str, resolution: float, option: str) -> float:
    """A distance in pixels from ``512`` (pixels), ``"512px"``, ``"3000m"`` or ``"5km"``."""
    return Distance.parse(value, option).pixels(resolution)


def prepare(config: PrepareConfig, overwrite: bool = False, progress: bool = True) -> Path:
    """Cut images (and labels) into a chip store; returns the store path.

    Raises:
        TerralearnError: for any problem with the inputs or options (nothing is written then).
    """
    if config.images:  # quoted glob patterns -> sorted files, paired with the labels in order
        config.images, config.labels = expand_pairs(config.images, config.labels)
    config.validate()
    out = check_output(config.out, overwrite, option="--out")
    images = [
        open_image(path, bands=config.bands, pixel_grid=config.pixel_grid) for path in config.images
    ]
    check_same_grid_kind(images, config.images)
    if is_pixel_grid(images[0]):
        _check_pixel_distances(config)
    _check_same_bands(images, config.images)
    config, notes = _resolve_chip_size(config, images)
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
    user_table = read_class_file(config.classes) if config.classes else None

    with contextlib.ExitStack() as stack:
        stack.enter_context(gdal_env(PREPARE_CACHE))
        sources, tables, counts, own_tables = [], [], [], []
        for i, image in enumerate(images):
            label_source = None if label_sources is None else label_sources[i]
            rows = stack.enter_context(
                ImageRows(
                    image, label_source, config.class_column, user_table, config.label_product
                )
            )
            sources.append(rows)
            table, count = _score_candidates(i, rows, sampler, size)
            if not rows.any_valid:
                raise AllNodataError(
                    f"image {config.images[i]!r} has no valid pixel (every pixel is nodata "
                    f"{image.rio.nodata!r} or NaN); check the file or its nodata value"
                )
            if label_source is not None:
                own_tables.append((rows.table, label_source))  # raises for unknown codes
            tables.append(table)
            counts.append(count)

        class_table = classes = None
        if label_sources is not None:
            class_table = _merge_tables(own_tables, user_table)
            classes = class_table.as_dict
            # the first sweep counted pixels by each source's own indices: move to the final ones
            counts = [
                _remap_counts(count, rows.use_table(class_table), len(class_table))
                for count, rows in zip(counts, sources, strict=True)
            ]

        table, config, plan_notes = _plan(tables, counts, classes, sampler, images, config)
        for note in notes + plan_notes:
            log.info(note)
        for warning in _missing_classes(table, classes, config):
            log.warning(warning)

        bands = [str(b) for b in images[0].band.values]
        stats = BandStatistics(bands)
        with atomic_output(out, overwrite, directory=True) as tmp:
            _write_arrays(tmp, table, sources, stats, size, progress)
            table.to_parquet(tmp / layout.INDEX_FILE, index=False)
            (tmp / layout.STATS_FILE).write_text(json.dumps(stats.result(), indent=2))
            meta = layout.StoreMeta(
                chip_size=size,
                bands=bands,
                dtype=str(images[0].dtype),
                num_chips=len(table),
                classes=classes,
                class_table=None if class_table is None else class_table.to_json(),
                ignore_index=NO_LABEL,
                sources=[str(p) for p in config.images],
                labels=None if label_sources is None else [str(p) for p in label_sources],
                crs=[crs_text(im) for im in images],  # "" on a pixel grid
                resolution=[abs(float(im.rio.resolution()[0])) for im in images],
                splits={s: int((table["split"] == s).sum()) for s in ("train", "val", "test")},
            )
            (tmp / layout.META_FILE).write_text(json.dumps(meta.to_json(), indent=2))
            (tmp / layout.CONFIG_FILE).write_text(to_yaml(config))
    return out


def _plan(
    tables: list[pd.DataFrame],
    counts: list[np.ndarray | None],
    classes: dict[int, str] | None,
    sampler,
    images: list[xr.DataArray],
    config: PrepareConfig,
) -> tuple[pd.DataFrame, PrepareConfig, list[str]]:
    """The chips to write: selected by the sampler, ``--min-labelled`` and the split.

    Returns the table, the config with the block size resolved and lines that report choices.

    Raises:
        ConfigError: if a split with a positive share would be empty.
    """
    size = config.chip_size
    num_classes = 0 if classes is None else max(classes) + 1
    tables = [_with_counts(t, c, num_classes) for t, c in zip(tables, counts, strict=True)]
    table = _select(tables, sampler, num_classes)
    if config.min_labelled > 0 and num_classes:
        labelled = table[[f"count_{k}" for k in range(num_classes)]].sum(axis=1)
        table = table[labelled >= config.min_labelled].reset_index(drop=True)
        if table.empty:
            raise ConfigError(
                f"no chip has at least --min-labelled {config.min_labelled} labelled pixels; "
                "lower it or use a smaller --stride"
            )
    _add_bounds(table, images, size)
    notes = []
    if config.split == "block" and config.block_size is None:
        config, note = _resolve_block_size(table, images, config)
        notes.append(note)
    table["split"] = _assign_splits(table, images, config)
    table = table[table["split"] != "drop"].reset_index(drop=True)
    if not (table["split"] == "train").any():
        raise ConfigError(
            f"no training chip left after the split (block size {config.block_size!r}, buffer "
            f"{config.buffer!r}); use a smaller --block-size or --buffer, or smaller --val/--test"
        )
    for split, share in (("val", config.val), ("test", config.test)):
        if share > 0 and not (table["split"] == split).any():
            raise ConfigError(_empty_split_message(split, share, table, images, config))
    table.insert(0, "chip_id", np.arange(len(table), dtype=np.int64))
    return table, config, notes


def _min_blocks(config: PrepareConfig) -> int:
    """Blocks wanted: :data:`MIN_BLOCKS`, or two for the smallest positive share if more."""
    shares = [share for share in (config.val, config.test) if share > 0]
    return max(MIN_BLOCKS, math.ceil(2 / min(shares) - 1e-9)) if shares else MIN_BLOCKS


def _resolve_chip_size(
    config: PrepareConfig, images: list[xr.DataArray]
) -> tuple[PrepareConfig, list[str]]:
    """``config`` with ``chip_size`` set (unchanged if given) and a line reporting the choice.

    The chip is the largest of :data:`AUTO_CHIP_SIZES` that fits every image and of which the
    images hold at least ``MIN_BLOCK_CHIPS**2 * _min_blocks(config)`` whole chips; else the
    smallest one that fits.
    """
    if config.chip_size is not None:
        return config, []
    shapes = [image.shape[1:] for image in images]
    shortest = min(min(shape) for shape in shapes)
    wanted = MIN_BLOCK_CHIPS**2 * _min_blocks(config)
    fitting = [size for size in AUTO_CHIP_SIZES if size <= shortest]
    if not fitting:
        raise ConfigError(
            f"image {config.images[[min(s) for s in shapes].index(shortest)]!r} is only "
            f"{shortest} px on its short side, too small for chips of {AUTO_CHIP_SIZES[-1]} px; "
            "give a smaller --chip-size (at least 8)"
        )
    size = next(
        (s for s in fitting if sum((h // s) * (w // s) for h, w in shapes) >= wanted),
        fitting[-1],
    )
    if len(images) == 1:
        scene = f"scene {shapes[0][1]} x {shapes[0][0]} px"
    else:
        whole = sum((h // size) * (w // size) for h, w in shapes)
        scene = f"{len(images)} images holding {whole} whole chips"
    note = f"chip size {size} px ({scene}; give --chip-size to choose)"
    return dataclasses.replace(config, chip_size=size), [note]


def _count_blocks(table: pd.DataFrame, block: float) -> int:
    """Spatial blocks (per CRS) holding the chips of ``table``, ``block`` in map units."""
    boxes = table[["minx", "miny", "maxx", "maxy"]].to_numpy()
    crs = table["crs"].to_numpy()
    return sum(count_blocks(boxes[crs == name], block) for name in np.unique(crs))


def _resolve_block_size(
    table: pd.DataFrame, images: list[xr.DataArray], config: PrepareConfig
) -> tuple[PrepareConfig, str]:
    """``config`` with the largest block of ``MAX_BLOCK_CHIPS`` down to 1 chips a side that
    still cuts the chips into ``_min_blocks(config)`` blocks, and a line reporting it."""
    resolution = abs(float(images[0].rio.resolution()[0]))
    size = config.chip_size
    for chips in range(MAX_BLOCK_CHIPS, 0, -1):
        blocks = _count_blocks(table, chips * size * resolution)
        if blocks >= _min_blocks(config):
            break
    note = (
        f"block size {chips * size} px = {chips} x {chips} chips ({blocks} blocks; give "
        "--block-size to choose)"
    )
    return dataclasses.replace(config, block_size=chips * size), note


def _empty_split_message(
    split: str, share: float, table: pd.DataFrame, images: list[xr.DataArray], config: PrepareConfig
) -> str:
    """One line: why ``split`` would be empty and what to change."""
    empty = f"the {split} split would be empty ({len(table)} chips in all)"
    if config.split == "random":
        return f"{empty}; use a smaller --chip-size or --stride for more chips, or --{split} 0"
    if config.split == "image":
        return f"{empty}: too few image groups for --{split} {share}; add images or --{split} 0"
    resolution = abs(float(images[0].rio.resolution()[0]))
    block_px = parse_distance(config.block_size, resolution, "--block-size")
    blocks = _count_blocks(table, block_px * resolution)
    return (
        f"{empty}: too few blocks for --{split} {share} ({blocks} of {block_px:g} px); use a "
        f"smaller --block-size (or leave it out), a smaller --chip-size, or --{split} 0"
    )


def _missing_classes(
    table: pd.DataFrame, classes: dict[int, str] | None, config: PrepareConfig
) -> list[str]:
    """Warning lines naming the classes present in the store but in no chip of a split."""
    columns = {k: f"count_{k}" for k in (classes or {}) if f"count_{k}" in table.columns}
    present = [k for k, column in columns.items() if table[column].sum() > 0]
    warnings = []
    for split, share in (("train", 1.0), ("val", config.val), ("test", config.test)):
        rows = table["split"] == split
        missing = [k for k in present if share > 0 and table.loc[rows, columns[k]].sum() == 0]
        if missing:
            names = ", ".join(f"{classes[k]!r} ({k})" for k in missing)
            warnings.append(
                f"no {split} chip holds class {names}: {split} metrics will not cover it; try "
                "another --seed or a smaller --block-size"
            )
    return warnings


def _check_pixel_distances(config: PrepareConfig) -> None:
    """Pictures without a CRS have no metres: split distances must be pixels."""
    for option, value in (("--block-size", config.block_size), ("--buffer", config.buffer)):
        if isinstance(value, str) and re.search(r"\d\s*k?m\s*$", value):
            raise ConfigError(
                f"{option} {value!r} is a distance, but the images have no CRS (pixel grid); "
                "give it in pixels, e.g. 512"
            )


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


def _merge_tables(tables: list[tuple[ClassTable, str]], user: ClassTable | None) -> ClassTable:
    """One class table for every label source (the ``--classes`` table when given).

    Without one, the classes of all sources by code, names and colours from the first source
    that names a code; a code named differently by two sources is an error.
    """
    if user is not None:
        return user
    if len(tables) == 1 or all(t == tables[0][0] for t, _ in tables):
        return tables[0][0]
    names: dict[int, str] = {}
    colors: dict[int, str] = {}
    for table, source in tables:
        for c in table:
            if c.code in names and names[c.code] != c.name:
                raise ConfigError(
                    f"labels {source!r} call class {c.code} {c.name!r}, other labels call it "
                    f"{names[c.code]!r}; use one class numbering for all label files (or give "
                    "--classes FILE)"
                )
            names.setdefault(c.code, c.name)
            colors.setdefault(c.code, c.color)
    return table_for_codes(names, names, colors)


def _remap_counts(
    counts: np.ndarray | None, lut: np.ndarray, num_classes: int
) -> np.ndarray | None:
    """Per-chip pixel counts by old index (columns) -> by new index (``lut[old]``, 255 dropped)."""
    if counts is None:
        return None
    out = np.zeros((len(counts), num_classes), np.int64)
    for old in range(counts.shape[1]):
        new = int(lut[old])
        if new < num_classes:
            out[:, new] += counts[:, old]
    return out


def _make_sampler(config: PrepareConfig):
    kwargs: dict = {"min_valid": config.min_valid}
    if config.sampler == "random":
        if not config.num_samples:
            raise ConfigError("--sampler random needs --num-samples N (how many chips per image)")
        kwargs.update(n=config.num_samples, seed=config.seed)
    else:
        kwargs["stride"] = config.stride
    return get_sampler(config.sampler, **kwargs)


def _score_candidates(
    source: int, rows: ImageRows, sampler, size: int
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Valid fraction of every candidate chip and its labelled pixels per class.

    Returns the table and an (N, K) int64 array of per-class counts (None without labels), K
    the highest class id seen + 1 (classes are known only at the end of the sweep).
    """
    _, height, width = rows.image.shape
    offsets = np.asarray(sampler.candidates(height, width, size), dtype=np.int64)
    offsets = offsets[np.lexsort((offsets[:, 1], offsets[:, 0]))]
    area = float(size * size)
    fractions = np.empty(len(offsets))
    counts = np.zeros((len(offsets), 8), np.int64) if rows.has_labels else None
    for row0, views, idx in rows.sweep(offsets[:, 0], size, every_row=True):
        valid = views[1]
        for k in idx:
            r, c = int(offsets[k, 0]) - row0, int(offsets[k, 1])
            fractions[k] = valid[r : r + size, c : c + size].sum() / area
            if counts is not None:
                found = np.bincount(views[2][r : r + size, c : c + size].ravel(), minlength=256)
                if found[counts.shape[1] : NO_LABEL].any():  # a higher class id: widen
                    wide = min(
                        NO_LABEL, max(2 * counts.shape[1], np.flatnonzero(found[:NO_LABEL])[-1] + 1)
                    )
                    counts = np.pad(counts, ((0, 0), (0, wide - counts.shape[1])))
                counts[k] = found[: counts.shape[1]]
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
    return table, counts


def _with_counts(table: pd.DataFrame, counts: np.ndarray | None, num_classes: int) -> pd.DataFrame:
    """``table`` with one ``count_<k>`` column per class id ``k < num_classes``."""
    if counts is None:
        return table
    labelled = np.zeros((len(table), num_classes), np.int64)
    k = min(num_classes, counts.shape[1])
    labelled[:, :k] = counts[:, :k]
    columns = [f"count_{k}" for k in range(num_classes)]
    return pd.concat([table, pd.DataFrame(labelled, columns=columns)], axis=1)


def _select(tables: list[pd.DataFrame], sampler, num_classes: int) -> pd.DataFrame:
    table = pd.concat(tables, ignore_index=True)
    drop = [c for c in table.columns if c.startswith("count_") and int(c[6:]) >= num_classes]
    table = table.drop(columns=drop)
    return (
        sampler.select(table).sort_values(["source", "row_off", "col_off"]).reset_index(drop=True)
    )


def _add_bounds(table: pd.DataFrame, images: list[xr.DataArray], size: int) -> None:
    """Add each chip's map bounds (``minx`` ... ``maxy``) and CRS to ``table``."""
    boxes = np.empty((len(table), 4))
    crs_names = np.empty(len(table), dtype=object)
    offsets = table[["row_off", "col_off"]].to_numpy(dtype=np.float64)
    for i, image in enumerate(images):
        rows = np.flatnonzero(table["source"].to_numpy() == i)
        transform = image.rio.transform()
        if transform.b == 0 and transform.d == 0:  # north-up: window_bounds' formula, vectorised
            xs = transform.c + (offsets[rows, 1, None] + [0, size]) * transform.a
            ys = transform.f + (offsets[rows, 0, None] + [0, size]) * transform.e
            boxes[rows] = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1)
        else:
            for j in rows:
                window = Window(int(offsets[j, 1]), int(offsets[j, 0]), size, size)
                boxes[j] = window_bounds(window, transform)
        crs = image.rio.crs
        crs_names[rows] = "" if crs is None else crs.to_string()
    table["minx"], table["miny"], table["maxx"], table["maxy"] = boxes.T
    table["crs"] = crs_names.astype(str)


def _class_counts(table: pd.DataFrame) -> np.ndarray:
    """``(N, K)`` labelled pixels per class of each chip (``K = 0`` without labels)."""
    columns = [c for c in table.columns if c.startswith("count_")]
    return table[columns].to_numpy(dtype=np.float64).reshape(len(table), len(columns))


def image_groups(paths: list[str]) -> list[str]:
    """Group of each image for ``--split image``: its folder, so the parts of one tile stay
    together; one group per image when all images are in one folder."""
    folders = [str(Path(path).resolve().parent) for path in paths]
    if len(set(folders)) == 1:
        return [str(Path(path).resolve()) for path in paths]
    return folders


def _assign_splits(
    table: pd.DataFrame, images: list[xr.DataArray], config: PrepareConfig
) -> np.ndarray:
    if config.split == "random":
        return random_split(len(table), val=config.val, test=config.test, seed=config.seed)
    counts = _class_counts(table)
    if config.split == "image":
        return _image_split(table, counts, config)

    boxes = table[["minx", "miny", "maxx", "maxy"]].to_numpy()
    crs_names = table["crs"].to_numpy()
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
            class_counts=counts[rows],
        )
    return splits.astype(str)


def _image_split(table: pd.DataFrame, counts: np.ndarray, config: PrepareConfig) -> np.ndarray:
    """Whole image groups (:func:`image_groups`) to splits, class-aware; no buffer needed."""
    names, group_of_image = np.unique(image_groups(config.images), return_inverse=True)
    wanted = 1 + (config.val > 0) + (config.test > 0)
    if len(names) < wanted:
        raise ConfigError(
            f"--split image needs at least {wanted} groups of images (one per folder, or one per "
            f"image when all are in one folder), got {len(names)}; add images from more "
            "folders or use --split block"
        )
    group_of_chip = group_of_image.ravel()[table["source"].to_numpy()]
    sizes = np.bincount(group_of_chip, minlength=len(names))
    group_counts = np.zeros((len(names), counts.shape[1]))
    np.add.at(group_counts, group_of_chip, counts)
    groups = group_split(sizes, group_counts, val=config.val, test=config.test, seed=config.seed)
    return groups[group_of_chip].astype(str)


def _write_arrays(
    root: Path,
    table: pd.DataFrame,
    sources: list[ImageRows],
    stats,
    size: int,
    progress: bool,
) -> None:
    import zarr

    n = len(table)
    image0 = sources[0].image
    bands = image0.shape[0]
    chunk = min(CHIPS_PER_ZARR_CHUNK, max(n, 1))
    group = zarr.open_group(str(root / layout.ARRAYS_DIR), mode="w")
    image_arr = group.create_array(
        "image",
        shape=(n, bands, size, size),
        chunks=(chunk, bands, size, size),
        dtype=image0.dtype,
    )
    valid_arr = group.create_array(
        "valid", shape=(n, size, size), chunks=(chunk, size, size), dtype=bool
    )
    mask_arr = None
    if sources[0].has_labels:
        mask_arr = group.create_array(
            "mask",
            shape=(n, size, size),
            chunks=(chunk, size, size),
            dtype=np.uint8,
            fill_value=NO_LABEL,
        )
    writer = _ChunkWriter(image_arr, valid_arr, mask_arr, chunk)
    is_train = table["split"].to_numpy() == "train"
    source_ids = table["source"].to_numpy()
    with progress_bar(n, "writing chips", enabled=progress) as bar:
        for i, rows in enumerate(sources):
            chosen = np.flatnonzero(source_ids == i)
            offsets = table[["row_off", "col_off"]].to_numpy()[chosen]
            for row0, views, idx in rows.sweep(offsets[:, 0], size, every_row=False):
                block, valid = views[0], views[1]
                mask = views[2] if rows.has_labels else None
                for k in idx:
                    r, c = int(offsets[k, 0]) - row0, int(offsets[k, 1])
                    chip = block[:, r : r + size, c : c + size]
                    chip_valid = valid[r : r + size, c : c + size]
                    writer.add(
                        chip, chip_valid, None if mask is None else mask[r : r + size, c : c + size]
                    )
                    if is_train[chosen[k]]:
                        stats.update(chip, chip_valid)
                bar.advance(len(idx))
    writer.flush()


class _ChunkWriter:
    """Copies chips into one chunk of buffers and writes whole Zarr chunks (no partial chunks)."""

    def __init__(self, image, valid, mask, chunk: int):
        self.arrays = (image, valid, mask)
        self.buffers = tuple(
            None if a is None else mapped_empty((chunk, *a.shape[1:]), a.dtype) for a in self.arrays
        )
        self.chunk = chunk
        self.count = 0
        self.written = 0

    def add(self, chip: np.ndarray, valid: np.ndarray, mask: np.ndarray | None) -> None:
        """Copy one chip (the row window it comes from is overwritten later)."""
        for buffer, value in zip(self.buffers, (chip, valid, mask), strict=True):
            if buffer is not None:
                buffer[self.count] = value
        self.count += 1
        if self.count == self.chunk:
            self.flush()

    def flush(self) -> None:
        if self.count == 0:
            return
        sl = slice(self.written, self.written + self.count)
        for array, buffer in zip(self.arrays, self.buffers, strict=True):
            if array is not None:
                array[sl] = buffer[: self.count]
        self.written += self.count
        self.count = 0
