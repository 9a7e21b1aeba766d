"""Point data: stations or samples with a target and optional features, in a metric CRS.

:func:`read_points` reads CSV (x/y or lon/lat columns), GeoPackage, GeoJSON, Shapefile and
GeoParquet into a :class:`PointSet`. Distances only make sense in metres, so geographic
coordinates (lon/lat) are projected to the local UTM zone first. Every user mistake is one line
naming the file, the column and the fix.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pyproj import CRS

from terralearn.errors import (
    ConfigError,
    InputNotFoundError,
    MissingCRSError,
    NotAVectorError,
    UnknownColumnError,
)

logger = logging.getLogger(__name__)

Task = Literal["regression", "classification"]
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb")
PARQUET_SUFFIXES = (".parquet", ".geoparquet")
# (x, y) column names recognised in CSVs, geographic pairs first
LONLAT_NAMES = (("lon", "lat"), ("longitude", "latitude"), ("lng", "lat"))
XY_NAMES = (("x", "y"), ("easting", "northing"))


@dataclass
class PointSet:
    """Points in a metric CRS with an optional target and numeric features.

    Attributes:
        xy: ``(N, 2)`` float64 coordinates in ``crs`` units (metres).
        crs: the CRS of ``xy`` (projected), or None for plain unitless coordinates.
        target: ``(N,)`` float64 values (regression) or int64 class ids (classification), or None.
        features: ``(N, F)`` float64.
        feature_names: the ``F`` column names.
        target_name: name of the target column.
        task: ``"regression"`` or ``"classification"``.
        classes: class names indexed by class id (classification only).
        source: where the points came from, for messages.
    """

    xy: np.ndarray
    crs: CRS | None = None
    target: np.ndarray | None = None
    features: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    feature_names: list[str] = field(default_factory=list)
    target_name: str | None = None
    task: Task = "regression"
    classes: list[str] | None = None
    source: str = "<in-memory points>"

    def __post_init__(self) -> None:
        self.xy = np.asarray(self.xy, dtype=np.float64).reshape(-1, 2)
        n = len(self.xy)
        if self.features.size == 0:
            self.features = np.empty((n, 0))
        if self.features.shape[0] != n:
            raise ValueError(f"features have {self.features.shape[0]} rows for {n} points")

    def __len__(self) -> int:
        return len(self.xy)

    def subset(self, index: np.ndarray) -> PointSet:
        """The points selected by a boolean mask or integer index."""
        target = None if self.target is None else self.target[index]
        return replace(self, xy=self.xy[index], target=target, features=self.features[index])


def read_table(path: Path, source: str) -> pd.DataFrame:
    """The rows of a points file: a DataFrame (CSV) or GeoDataFrame (vector formats, Parquet)."""
    import geopandas as gpd

    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt", ".tsv"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        if suffix in PARQUET_SUFFIXES:
            try:
                return gpd.read_parquet(path)
            except ValueError:  # a plain Parquet table without geometry metadata
                return pd.read_parquet(path)
        return gpd.read_file(path)
    except (OSError, ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NotAVectorError(
            f"{source} cannot be read as points ({first}); give a CSV with x/y or lon/lat "
            f"columns, or a {', '.join(VECTOR_SUFFIXES + PARQUET_SUFFIXES)} file"
        ) from None


def _find_xy(df: pd.DataFrame, x: str | None, y: str | None, source: str) -> tuple[str, str, bool]:
    """Names of the x and y columns, and whether their names say lon/lat."""
    lower = {str(c).lower(): str(c) for c in df.columns}
    if x or y:
        for name, option in ((x, "--x"), (y, "--y")):
            if name is None or name not in df.columns:
                raise UnknownColumnError(
                    f"{source}: {option} column {name!r} not found; give both --x and --y from: "
                    f"{', '.join(map(str, df.columns))}"
                )
        geographic = (x.lower(), y.lower()) in LONLAT_NAMES
        return x, y, geographic
    for pairs, geographic in ((LONLAT_NAMES, True), (XY_NAMES, False)):
        for a, b in pairs:
            if a in lower and b in lower:
                return lower[a], lower[b], geographic
    raise UnknownColumnError(
        f"{source}: no coordinate columns (x/y, lon/lat, longitude/latitude, easting/northing) "
        f"among {', '.join(map(str, df.columns))}; name them with --x and --y"
    )


def _check_lonlat(lon: np.ndarray, lat: np.ndarray, source: str) -> None:
    for values, name, limit in ((lon, "longitude", 180.0), (lat, "latitude", 90.0)):
        bad = np.flatnonzero(~(np.abs(values) <= limit))
        if len(bad):
            raise ConfigError(
                f"{source}: {len(bad)} point(s) have {name} outside [-{limit:g}, {limit:g}] "
                f"(first: row {bad[0]}, {values[bad[0]]:g}); check that x is longitude and y "
                "latitude, or give --crs for projected coordinates"
            )


def _coordinates(
    df: pd.DataFrame, x: str | None, y: str | None, crs: str | None, source: str
) -> tuple[np.ndarray, CRS | None]:
    """Coordinates in a metric CRS: lon/lat is checked and projected to its UTM zone."""
    geometry = getattr(df, "geometry", None) if "geometry" in df.columns else None
    if geometry is not None and x is None and y is None:
        kinds = set(geometry.geom_type.dropna().unique())
        if not kinds <= {"Point"}:
            raise NotAVectorError(
                f"{source} has {', '.join(sorted(kinds))} geometries; graph commands need "
                "points (convert polygons to centroids first)"
            )
        xy = np.column_stack([geometry.x.to_numpy(), geometry.y.to_numpy()])
        src_crs = geometry.crs if crs is None else CRS.from_user_input(crs)
        if src_crs is None:
            raise MissingCRSError(f"{source} has no CRS; give one with --crs EPSG:XXXX")
        geographic = src_crs.is_geographic
    else:
        xcol, ycol, named_lonlat = _find_xy(df, x, y, source)
        xy = np.column_stack(
            [pd.to_numeric(df[c], errors="coerce").to_numpy(np.float64) for c in (xcol, ycol)]
        )
        if crs is not None:
            src_crs = _parse_crs(crs)
        elif named_lonlat:
            src_crs = CRS.from_epsg(4326)
        else:
            raise MissingCRSError(
                f"{source}: columns {xcol!r}/{ycol!r} have no CRS; give one with --crs EPSG:XXXX "
                "(EPSG:4326 for lon/lat)"
            )
        geographic = src_crs.is_geographic
    bad = np.flatnonzero(~np.isfinite(xy).all(axis=1))
    if len(bad):
        raise ConfigError(
            f"{source}: {len(bad)} point(s) have missing or non-numeric coordinates "
            f"(first: row {bad[0]}); remove them"
        )
    if not geographic:
        return xy, src_crs
    _check_lonlat(xy[:, 0], xy[:, 1], source)
    return project_lonlat(xy, src_crs)


def _parse_crs(crs: str) -> CRS:
    try:
        return CRS.from_user_input(crs)
    except Exception:
        raise ConfigError(f"--crs {crs!r} is not a CRS; give e.g. EPSG:32633") from None


def project_lonlat(lonlat: np.ndarray, crs: CRS | None = None) -> tuple[np.ndarray, CRS]:
    """Project geographic coordinates to the UTM zone of their centre.

    Distances in degrees are not distances (a degree of longitude shrinks with latitude), so
    everything downstream works in metres.
    """
    from pyproj import Transformer
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    crs = crs or CRS.from_epsg(4326)
    lon, lat = lonlat[:, 0], lonlat[:, 1]
    aoi = AreaOfInterest(float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
    infos = query_utm_crs_info(datum_name="WGS 84", area_of_interest=aoi)
    utm = CRS.from_epsg(int(infos[0].code)) if infos else CRS.from_epsg(3857)
    transformer = Transformer.from_crs(crs, utm, always_xy=True)
    x, y = transformer.transform(lon, lat)
    return np.column_stack([x, y]), utm


def _target(
    df: pd.DataFrame, name: str, task: str, source: str
) -> tuple[np.ndarray, Task, list[str] | None]:
    if name not in df.columns:
        columns = [str(c) for c in df.columns if str(c) != "geometry"]
        raise UnknownColumnError(
            f"{source}: target column {name!r} not found; columns: {', '.join(columns)}"
        )
    column = df[name]
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if task == "auto":
        task = "regression" if numeric else "classification"
    if task == "regression":
        if not numeric:
            example = column.dropna().iloc[0] if column.notna().any() else None
            raise ConfigError(
                f"{source}: target column {name!r} is not numeric (e.g. {example!r}) and "
                "regression needs numbers; pass --task classification or pick another column"
            )
        return column.to_numpy(np.float64), "regression", None
    if task != "classification":
        raise ConfigError(f"task must be auto, regression or classification, got {task!r}")
    codes, uniques = pd.factorize(column, sort=True)
    values = codes.astype(np.float64)
    values[codes < 0] = np.nan
    return values, "classification", [str(u) for u in uniques]


def _features(df: pd.DataFrame, names: Sequence[str], source: str) -> np.ndarray:
    missing = [n for n in names if n not in df.columns]
    if missing:
        columns = [str(c) for c in df.columns if str(c) != "geometry"]
        raise UnknownColumnError(
            f"{source}: feature column {missing[0]!r} not found; columns: {', '.join(columns)}"
        )
    for n in names:
        if not pd.api.types.is_numeric_dtype(df[n]):
            raise ConfigError(
                f"{source}: feature column {n!r} is not numeric; encode it as numbers or drop it"
            )
    values = df[list(names)].to_numpy(np.float64).reshape(len(df), len(names))
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if len(bad):
        raise ConfigError(
            f"{source}: {len(bad)} point(s) have missing feature values (first: row {bad[0]}); "
            "fill or remove them"
        )
    return values


def duplicate_groups(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group id of each point by exact coordinates, and the size of each group."""
    _, inverse, counts = np.unique(xy, axis=0, return_inverse=True, return_counts=True)
    return inverse.ravel(), counts


def merge_duplicates(points: PointSet) -> PointSet:
    """Merge points at identical coordinates: mean target (most frequent class) and features."""
    group, counts = duplicate_groups(points.xy)
    if (counts == 1).all():
        return points
    order = np.argsort(group, kind="stable")
    first = order[np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]]
    n = len(counts)
    n_feat = points.features.shape[1]
    features = np.empty((n, n_feat))
    for col in range(n_feat):
        features[:, col] = np.bincount(group, points.features[:, col], n) / counts
    target = None
    if points.target is not None:
        if points.task == "regression":
            target = np.bincount(group, points.target, n) / counts
        else:
            votes = np.zeros((n, len(points.classes or [])))
            np.add.at(votes, (group, points.target.astype(np.int64)), 1)
            target = votes.argmax(axis=1).astype(np.int64)
    xy = points.xy[first]  # groups are numbered in sorted order, as is first
    return replace(points, xy=xy, target=target, features=features)


def check_duplicates(points: PointSet) -> None:
    """Raise if two points share coordinates (graph distances of 0 break the edge weights)."""
    _, counts = duplicate_groups(points.xy)
    shared = counts[counts > 1]
    if len(shared):
        raise ConfigError(
            f"{points.source}: {int(shared.sum())} points share coordinates with another "
            f"(at {len(shared)} location{'s' if len(shared) > 1 else ''}); "
            "pass --merge-duplicates to average them"
        )


def read_points(
    path: str | os.PathLike,
    target: str | None = None,
    features: Sequence[str] = (),
    x: str | None = None,
    y: str | None = None,
    crs: str | None = None,
    task: Literal["auto", "regression", "classification"] = "auto",
    duplicates: Literal["error", "merge", "keep"] = "error",
) -> PointSet:
    """Read points from a CSV or a vector file into a metric :class:`PointSet`.

    Args:
        path: CSV (``x``/``y``, ``lon``/``lat``, ``longitude``/``latitude`` or
            ``easting``/``northing`` columns), GeoPackage, GeoJSON, Shapefile or GeoParquet.
        target: column to learn; numeric means regression, text/categories classification.
        features: numeric columns used as node features.
        x, y: coordinate columns of a CSV, when not named as above.
        crs: CRS of the coordinates (required for x/y columns; lon/lat defaults to EPSG:4326).
        task: ``auto`` decides from the target's type.
        duplicates: ``error`` on shared coordinates, ``merge`` them, or ``keep`` them.

    Raises:
        InputNotFoundError, NotAVectorError, UnknownColumnError, MissingCRSError, ConfigError.
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise InputNotFoundError(f"points file {source!r} does not exist; check the path")
    df = read_table(path, source)
    if len(df) == 0:
        raise ConfigError(f"{source} has no rows; give a file with points")
    xy, out_crs = _coordinates(df, x, y, crs, source)
    values, kind, classes = (None, "regression", None)
    if target is not None:
        values, kind, classes = _target(df, target, task, source)
    feats = _features(df, list(features), source)
    points = PointSet(
        xy=xy,
        crs=out_crs,
        target=values,
        features=feats,
        feature_names=list(features),
        target_name=target,
        task=kind,
        classes=classes,
        source=source,
    )
    if values is not None:
        missing = ~np.isfinite(values)
        if missing.any():
            logger.warning("%s: skipping %d point(s) without a target value", source, missing.sum())
            points = points.subset(~missing)
        if kind == "classification":
            points.target = points.target.astype(np.int64)
    if duplicates == "merge":
        points = merge_duplicates(points)
    elif duplicates == "error":
        check_duplicates(points)
    return points
