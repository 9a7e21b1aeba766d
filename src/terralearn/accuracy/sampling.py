"""A stratified random sample of a class map, streamed over row strips.

Strata are the map classes. Two passes over the map, never holding it whole: the first counts the
valid pixels of each class; then, per class, ``n_h`` distinct ranks are drawn among its ``N_h``
pixels (seeded); the second pass walks the same strips in the same order and turns the ranks that
fall in each strip into pixel positions. Nodata pixels are never counted nor drawn.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from terralearn._fs import atomic_output, check_output
from terralearn.accuracy.classes import read_class_table
from terralearn.errors import (
    AllNodataError,
    ConfigError,
    InputNotFoundError,
    NotARasterError,
)

log = logging.getLogger(__name__)

STRIP_PIXELS = 1 << 22  # about 4 M pixels read at a time


@dataclass(frozen=True)
class MapStrata:
    """Pixel counts per class of a class map and its grid.

    Attributes:
        codes: class codes that have valid pixels, ascending.
        pixels: valid pixels per code (same order).
        classes: code -> name for every code of the map's class table and every code present.
        crs: the map's CRS (None for a pixel grid).
        transform: the map's affine transform.
        shape: (height, width).
    """

    codes: np.ndarray
    pixels: np.ndarray
    classes: dict[int, str]
    crs: object
    transform: object
    shape: tuple[int, int]

    @property
    def pixel_area(self) -> float:
        return abs(self.transform.a * self.transform.e - self.transform.b * self.transform.d)


@dataclass(frozen=True)
class Sample:
    """Drawn pixels: positions, map class codes and the allocation behind them."""

    rows: np.ndarray
    cols: np.ndarray
    codes: np.ndarray
    allocation: dict[int, int] = field(default_factory=dict)


def _open_raster(path: str | Path, what: str):
    """An open rasterio dataset, or one line saying which file (``what``) is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{what} {str(path)!r} does not exist")
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise NotARasterError(f"{what} {str(path)!r} cannot be read as a raster: {exc}") from None


def open_class_map(path: str | Path):
    """Open a raster of class codes in band 1 (integers, or floats with integer values)."""
    ds = _open_raster(path, "map")
    if not np.issubdtype(np.dtype(ds.dtypes[0]), np.number):
        ds.close()
        raise ConfigError(
            f"map {str(path)!r} has {ds.dtypes[0]} values; a class map holds class codes"
        )
    return ds


def strips(ds) -> Iterator[Window]:
    """Full-width row strips, a whole number of blocks high, in a fixed order."""
    block_rows = ds.block_shapes[0][0]
    rows = max(block_rows, (STRIP_PIXELS // max(ds.width, 1)) // block_rows * block_rows)
    for top in range(0, ds.height, rows):
        yield Window(0, top, ds.width, min(rows, ds.height - top))


def _read_valid(ds, window: Window) -> tuple[np.ndarray, np.ndarray]:
    data = ds.read(1, window=window)
    return data, ds.read_masks(1, window=window) > 0


def count_classes(path: str | Path) -> MapStrata:
    """One pass over ``path``: valid pixels per class code, with the class table and grid."""
    totals: dict[int, int] = {}
    with open_class_map(path) as ds:
        for window in strips(ds):
            data, valid = _read_valid(ds, window)
            codes, counts = np.unique(data[valid], return_counts=True)
            if codes.dtype.kind == "f" and not np.array_equal(codes, np.round(codes)):
                raise ConfigError(
                    f"map {str(path)!r} has fractional values (e.g. {codes[codes != np.round(codes)][0]:g}); "
                    "a class map holds integer class codes (e.g. the output of terralearn predict)"
                )
            codes = codes.astype(np.int64)
            for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
                totals[code] = totals.get(code, 0) + count
        crs, transform, shape = ds.crs, ds.transform, (ds.height, ds.width)
    table = read_class_table(path)
    classes = {**table, **{c: f"class_{c}" for c in totals if c not in table}}
    codes = np.array(sorted(totals), dtype=np.int64)
    return MapStrata(
        codes=codes,
        pixels=np.array([totals[c] for c in codes.tolist()], dtype=np.int64),
        classes=dict(sorted(classes.items())),
        crs=crs,
        transform=transform,
        shape=shape,
    )


def parse_allocation(spec: str, classes: dict[int, str]) -> dict[int, int] | str:
    """``proportional``, ``equal``, ``"name=n,code=n,..."`` or a CSV file (class,n) -> code: n."""
    if spec in ("proportional", "equal"):
        return spec
    path = Path(spec)
    if path.is_file():
        with path.open(newline="") as fh:
            pairs = [(row[0].strip(), row[1].strip()) for row in csv.reader(fh) if len(row) >= 2]
        pairs = [p for p in pairs if p[1].lstrip("-").isdigit()]  # skip a header row
    elif "=" in spec:
        pairs = [tuple(s.strip() for s in item.split("=", 1)) for item in spec.split(",") if item]
    else:
        raise ConfigError(
            f"--allocation {spec!r}: use proportional, equal, 'name=n,...' or a CSV file of "
            "class,n rows"
        )
    by_name = {name.lower(): code for code, name in classes.items()}
    allocation = {}
    for key, value in pairs:
        code = by_name.get(key.lower())
        if code is None and re.fullmatch(r"-?\d+", key) and int(key) in classes:
            code = int(key)
        if code is None:
            known = ", ".join(f"{c}={n}" for c, n in classes.items())
            raise ConfigError(f"--allocation: class {key!r} is not in the map ({known})")
        if not re.fullmatch(r"\d+", value):
            raise ConfigError(f"--allocation: {key}={value!r} is not a count")
        allocation[code] = int(value)
    return allocation


def allocate(
    strata: MapStrata, n: int, allocation: str | dict[int, int], min_per_class: int
) -> dict[int, int]:
    """Points per stratum: proportional with a minimum, equal, or given; at most N_h each.

    Proportional: classes whose share ``n W_h`` is below ``min_per_class`` get the minimum and
    the rest of ``n`` is shared by area among the others (Olofsson et al. 2014, section 5.1.4).
    """
    codes, pixels = strata.codes.tolist(), strata.pixels.astype(float)
    k = len(codes)
    if k == 0:
        raise AllNodataError(
            "the map has no class pixels (every pixel is nodata); nothing to sample"
        )
    if isinstance(allocation, dict):
        missing = [strata.classes[c] for c in codes if c not in allocation]
        if missing:
            raise ConfigError(
                f"--allocation gives no count for mapped class(es) {', '.join(missing)}; "
                "give every mapped class a count"
            )
        wanted = np.array([allocation[c] for c in codes], dtype=float)
    elif allocation == "equal":
        wanted = np.full(k, n / k)
    else:
        if n < k * min_per_class:
            raise ConfigError(
                f"--n {n} is smaller than {k} classes x --min-per-class {min_per_class} = "
                f"{k * min_per_class}; raise --n or lower --min-per-class"
            )
        fixed = np.zeros(k, dtype=bool)
        while True:  # raise rare classes to the minimum, share the rest by area
            free = n - min_per_class * fixed.sum()
            share = np.where(fixed, min_per_class, free * pixels / pixels[~fixed].sum())
            low = (~fixed) & (share < min_per_class)
            if not low.any():
                break
            fixed |= low
        wanted = share
    counts = _round_preserving_sum(wanted)
    return {
        c: int(min(m, p)) for c, m, p in zip(codes, counts, strata.pixels.tolist(), strict=True)
    }


def _round_preserving_sum(values: np.ndarray) -> np.ndarray:
    """Integers that sum to round(sum(values)), by largest remainders."""
    floor = np.floor(values).astype(np.int64)
    rest = int(round(values.sum())) - int(floor.sum())
    order = np.argsort(-(values - floor), kind="stable")
    floor[order[:rest]] += 1
    return floor


def draw_sample(
    path: str | Path, strata: MapStrata, allocation: dict[int, int], seed: int
) -> Sample:
    """Second pass: the pixels of sorted random ranks drawn per class (without replacement)."""
    rng = np.random.default_rng(seed)
    ranks = {
        code: np.sort(rng.choice(int(total), size=allocation[code], replace=False))
        for code, total in zip(strata.codes.tolist(), strata.pixels.tolist(), strict=True)
    }
    seen = dict.fromkeys(ranks, 0)
    rows, cols, codes = [], [], []
    with open_class_map(path) as ds:
        for window in strips(ds):
            data, valid = _read_valid(ds, window)
            flat, flat_valid = data.ravel(), valid.ravel()
            present = np.unique(flat[flat_valid])
            for code in present.tolist():
                wanted = ranks.get(code)
                if wanted is None:  # a class that appeared only now: cannot happen, same data
                    continue
                where = np.flatnonzero((flat == code) & flat_valid)
                lo, hi = np.searchsorted(wanted, [seen[code], seen[code] + where.size])
                picked = where[wanted[lo:hi] - seen[code]]
                seen[code] += where.size
                rows.append(picked // window.width + window.row_off)
                cols.append(picked % window.width)
                codes.append(np.full(picked.size, code, dtype=np.int64))
    if not rows:
        return Sample(np.empty(0, int), np.empty(0, int), np.empty(0, int), allocation)
    rows_a, cols_a, codes_a = np.concatenate(rows), np.concatenate(cols), np.concatenate(codes)
    order = np.lexsort((cols_a, rows_a, codes_a))
    return Sample(rows_a[order], cols_a[order], codes_a[order], allocation)


def reference_at(raster: str | Path, xs: np.ndarray, ys: np.ndarray, crs) -> np.ndarray:
    """Values of band 1 of ``raster`` at points (x, y in ``crs``), reprojected as needed.

    Returns a masked int64 array: masked where the point is outside the raster or on nodata.
    """
    from rasterio.warp import transform as transform_xy

    with _open_raster(raster, "--reference-from") as ds:
        if crs is not None and ds.crs is not None and ds.crs != crs:
            xs, ys = (np.asarray(v) for v in transform_xy(crs, ds.crs, xs, ys))
        values = np.ma.masked_all(len(xs), dtype=np.int64)
        if len(xs):
            sampled = np.ma.array(list(ds.sample(zip(xs, ys, strict=True), indexes=1, masked=True)))
            rows, cols = rasterio.transform.rowcol(ds.transform, xs, ys)
            inside = (
                (np.asarray(rows) >= 0)
                & (np.asarray(rows) < ds.height)
                & (np.asarray(cols) >= 0)
                & (np.asarray(cols) < ds.width)
            )
            ok = inside & ~np.ma.getmaskarray(sampled).ravel()
            values[ok] = np.asarray(sampled).ravel()[ok].astype(np.int64)
    return values


def sample_map(
    path: str | Path,
    out: str | Path,
    n: int,
    allocation: str = "proportional",
    min_per_class: int = 50,
    seed: int = 0,
    reference_from: str | Path | None = None,
    overwrite: bool = False,
):
    """Draw a stratified random sample of the class map ``path`` and write it as points.

    Args:
        path: class map (one band of integer codes; nodata never sampled).
        out: points file to write (GeoPackage or any vector format by suffix).
        n: total sample size (proportional and equal allocation).
        allocation: ``proportional`` (with ``min_per_class``), ``equal``, ``"name=n,..."`` or a
            CSV file of ``class,n`` rows.
        min_per_class: minimum points per class for proportional allocation.
        seed: random seed; the same map, options and seed give the same points.
        reference_from: a reference raster read at the points (reprojected if in another CRS)
            and named through the map's class table, to fill the ``reference`` column.
        overwrite: replace ``out``.

    Returns:
        (GeoDataFrame of the points, MapStrata, allocation).
    """
    import geopandas as gpd

    check_output(out, overwrite, option="--out")
    strata = count_classes(path)
    spec = parse_allocation(allocation, strata.classes)
    if n < 1 and not isinstance(spec, dict):
        raise ConfigError(f"--n {n}: give a positive sample size")
    counts = allocate(strata, n, spec, min_per_class)
    sample = draw_sample(path, strata, counts, seed)
    xs, ys = rasterio.transform.xy(strata.transform, sample.rows, sample.cols, offset="center")
    xs, ys = np.asarray(xs, dtype=float).ravel(), np.asarray(ys, dtype=float).ravel()
    totals = dict(zip(strata.codes.tolist(), strata.pixels.tolist(), strict=True))
    codes = sample.codes.tolist()
    reference = [None] * len(codes)
    if reference_from is not None:
        values = reference_at(reference_from, xs, ys, strata.crs)
        reference = [
            None if v is np.ma.masked else strata.classes.get(int(v), str(int(v))) for v in values
        ]
        missing = sum(r is None for r in reference)
        if missing:
            log.info(
                "%d of %d points have no reference value (outside or nodata)", missing, len(codes)
            )
    points = gpd.GeoDataFrame(
        {
            "point_id": np.arange(len(codes), dtype=np.int64),
            "map_code": sample.codes,
            "map_class": [strata.classes[c] for c in codes],
            "stratum": sample.codes,
            "inclusion_probability": [counts[c] / totals[c] for c in codes],
            "row": sample.rows,
            "col": sample.cols,
            "reference": np.array(reference, dtype=object),
        },
        geometry=gpd.points_from_xy(xs, ys),
        crs=strata.crs,
    )
    points["reference"] = points["reference"].astype("string")
    with atomic_output(out, overwrite=overwrite) as tmp:
        tmp.unlink()  # the vector driver creates the file itself
        points.to_file(tmp, driver=_driver(Path(out)), layer=Path(out).stem or "points")
    return points, strata, counts


def _driver(path: Path) -> str:
    return {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON", ".json": "GeoJSON",
            ".fgb": "FlatGeobuf", ".csv": "CSV"}.get(path.suffix.lower(), "GPKG")  # fmt: skip
