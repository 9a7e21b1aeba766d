"""Accuracy and area of a class map from labelled points: read, estimate, report.

Strata are the map classes: the map class of each point is read from the map itself and the
stratum weights are the map's pixel counts per class. Points drawn by ``terralearn sample`` fit
this exactly. Other points are post-stratified by the map class at the points, which is valid
when they were drawn at random within each map class (a simple random sample is).
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

from terralearn._fs import atomic_output
from terralearn.accuracy.estimate import AreaEstimate, estimate_area
from terralearn.accuracy.sampling import MapStrata, count_classes, open_class_map
from terralearn.errors import (
    ConfigError,
    InputNotFoundError,
    MissingCRSError,
    NotAVectorError,
    UnknownColumnError,
)
from terralearn.viz.area import plot_area_estimates

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Assessment:
    """An estimate with the class table, units and where the points came from.

    Attributes:
        estimate: the stratified estimate (areas in ``unit``).
        classes: code -> name, in the order of the estimate's rows and columns.
        unit: ``ha`` (map CRS in metres), ``<unit>²`` (other CRS units) or ``pixels``.
        n_points: points used.
        from_sample: True when the points carry the strata of ``terralearn sample`` and those
            agree with the map; False when they were post-stratified by the map class.
        unlabelled: points skipped because their reference label was empty.
    """

    estimate: AreaEstimate
    classes: dict[int, str]
    unit: str
    n_points: int
    from_sample: bool
    unlabelled: int

    def to_dict(self) -> dict:
        e = self.estimate
        rows = []
        for i, (code, name) in enumerate(self.classes.items()):
            rows.append(
                {
                    "code": code,
                    "name": name,
                    "points": int(e.counts[i].sum()),
                    "mapped_area": _num(e.mapped_area[i]),
                    "area": _num(e.area[i]),
                    "area_ci95": _num(e.area_ci95[i]),
                    "users": _num(e.users[i]),
                    "users_ci95": _num(e.users_ci95[i]),
                    "producers": _num(e.producers[i]),
                    "producers_ci95": _num(e.producers_ci95[i]),
                }
            )
        return {
            "unit": self.unit,
            "points": self.n_points,
            "strata": "sample" if self.from_sample else "post-stratified by map class",
            "unlabelled_points_skipped": self.unlabelled,
            "overall": e.overall,
            "overall_ci95": e.overall_ci95,
            "classes": rows,
            "error_matrix_proportions": e.proportions.tolist(),
            "error_matrix_counts": e.counts.astype(int).tolist(),
            "method": "stratified estimator, strata = map classes (Olofsson et al. 2014)",
        }


def _num(value) -> float | None:
    return None if not np.isfinite(value) else float(value)


def area_unit(strata: MapStrata) -> tuple[str, float]:
    """Area unit of the map and the area of one pixel in it."""
    if strata.crs is None:
        return "pixels", 1.0
    if strata.crs.is_geographic:
        return "deg²", strata.pixel_area
    units = strata.crs.linear_units
    if units in ("metre", "meter", "m"):
        return "ha", strata.pixel_area / 1e4
    return f"{units}²", strata.pixel_area


def assess_map(
    map_path: str | Path, reference: str | Path, reference_column: str = "reference"
) -> Assessment:
    """Estimate accuracy and error-adjusted area of ``map_path`` from labelled points.

    Args:
        map_path: the class map.
        reference: points (any vector format) with a reference label per point: a class name
            or a class code of the map's class table.
        reference_column: the column holding the labels.

    Raises:
        TerralearnError subclasses, one line each: missing or empty column, unknown class,
        points outside the map or on nodata, a stratum with fewer than 2 points, a CRS that
        cannot be transformed.
    """
    import geopandas as gpd

    reference = Path(reference)
    if not reference.exists():
        raise InputNotFoundError(f"--reference {str(reference)!r} does not exist")
    try:
        points = gpd.read_file(reference)
    except Exception as exc:  # pyogrio/fiona errors differ by driver
        raise NotAVectorError(f"--reference {str(reference)!r} cannot be read: {exc}") from None
    if reference_column not in points.columns:
        columns = ", ".join(c for c in points.columns if c != "geometry")
        raise UnknownColumnError(
            f"--reference {str(reference)!r} has no column {reference_column!r} (columns: "
            f"{columns}); choose one with --reference-column"
        )
    labels = points[reference_column].astype("string").str.strip()
    labelled = labels.notna() & (labels != "")
    if not labelled.any():
        raise ConfigError(
            f"column {reference_column!r} of {str(reference)!r} is empty; label the points "
            "(e.g. in QGIS) or fill it with terralearn sample --reference-from"
        )
    with open_class_map(map_path) as ds:
        map_crs = ds.crs
    points = _to_crs(points, map_crs, reference)
    strata = count_classes(map_path)
    map_codes = _map_codes_at(map_path, points, reference)
    unlabelled = int((~labelled).sum())
    keep = labelled.to_numpy()
    map_codes = map_codes[keep]
    ref_codes = _parse_labels(labels[keep].tolist(), strata.classes, reference_column)
    present = set(strata.codes.tolist()) | set(ref_codes.tolist())
    codes = [c for c in strata.classes if c in present]
    index = {c: i for i, c in enumerate(codes)}
    counts = np.zeros((len(codes), len(codes)), dtype=np.int64)
    np.add.at(counts, ([index[c] for c in map_codes], [index[c] for c in ref_codes]), 1)
    pixels = dict(zip(strata.codes.tolist(), strata.pixels.tolist(), strict=True))
    unit, pixel_area = area_unit(strata)
    mapped = np.array([pixels.get(c, 0) for c in codes], dtype=float) * pixel_area
    short = [c for c in codes if pixels.get(c, 0) > 0 and counts[index[c]].sum() < 2]
    if short:
        c = short[0]
        raise ConfigError(
            f"map class {strata.classes[c]!r} (code {c}) has {int(counts[index[c]].sum())} "
            "labelled point(s); each mapped class needs at least 2 to estimate a variance "
            "(draw points with terralearn sample, which gives every class --min-per-class)"
        )
    # points of terralearn sample carry their stratum; it must be the map class at the point
    from_sample = {"stratum", "inclusion_probability"} <= set(points.columns) and bool(
        np.array_equal(
            pd.to_numeric(points["stratum"], errors="coerce").to_numpy()[keep], map_codes
        )
    )
    return Assessment(
        estimate=estimate_area(counts, mapped),
        classes={c: strata.classes[c] for c in codes},
        unit=unit,
        n_points=int(keep.sum()),
        from_sample=from_sample,
        unlabelled=unlabelled,
    )


def _to_crs(points, map_crs, reference: Path):
    """Points in the map's CRS (assumed so when the points have none)."""
    if map_crs is None or points.crs is None:
        if points.crs is None and map_crs is not None:
            log.info("%s has no CRS; taking its coordinates in the map's CRS", reference)
        return points
    if points.crs == map_crs:
        return points
    try:
        moved = points.to_crs(map_crs)
    except Exception as exc:  # pyproj errors: unknown or non-transformable CRS
        raise MissingCRSError(
            f"--reference {str(reference)!r}: its CRS ({points.crs}) cannot be transformed to "
            f"the map's ({map_crs}): {exc}"
        ) from None
    xy = moved.geometry.get_coordinates().to_numpy()
    if not np.isfinite(xy).all():
        raise MissingCRSError(
            f"--reference {str(reference)!r}: its CRS ({points.crs}) cannot be transformed to "
            f"the map's ({map_crs}) for every point; reproject the points first"
        )
    return moved


def _map_codes_at(map_path, points, reference: Path) -> np.ndarray:
    """Map class code at each point; refuses points outside the map or on nodata."""
    if not (points.geometry.geom_type == "Point").all():
        raise NotAVectorError(f"--reference {str(reference)!r} must hold points only")
    xy = points.geometry.get_coordinates().to_numpy()
    with rasterio.open(map_path) as ds:
        rows, cols = rasterio.transform.rowcol(ds.transform, xy[:, 0], xy[:, 1])
        rows, cols = np.asarray(rows), np.asarray(cols)
        outside = (rows < 0) | (rows >= ds.height) | (cols < 0) | (cols >= ds.width)
        if outside.any():
            raise ConfigError(
                f"{int(outside.sum())} point(s) of {str(reference)!r} lie outside the map (first: "
                f"x={xy[outside][0, 0]:.6g}, y={xy[outside][0, 1]:.6g}); remove them or check the "
                "points' CRS"
            )
        values = np.ma.array(list(ds.sample(map(tuple, xy), indexes=1, masked=True))).ravel()
    nodata = np.ma.getmaskarray(values)
    if nodata.any():
        raise ConfigError(
            f"{int(nodata.sum())} point(s) of {str(reference)!r} fall on nodata pixels of the "
            "map; remove them (terralearn sample never draws nodata)"
        )
    return np.asarray(values).astype(np.int64)


def _parse_labels(labels: list[str], classes: dict[int, str], column: str) -> np.ndarray:
    """Reference labels (class names, case-insensitive, or codes) -> codes of ``classes``."""
    by_name = {name.lower(): code for code, name in classes.items()}
    codes = []
    for label in labels:
        code = by_name.get(label.lower())
        if code is None:
            try:
                number = float(label)
            except ValueError:
                number = None
            if number is not None and number.is_integer() and int(number) in classes:
                code = int(number)
        if code is None:
            known = ", ".join(f"{c}={n}" for c, n in classes.items())
            raise ConfigError(
                f"reference class {label!r} in column {column!r} is not in the map's class "
                f"table ({known}); use one of these names or codes"
            )
        codes.append(code)
    return np.array(codes, dtype=np.int64)


def write_report(assessment: Assessment, out: str | Path, overwrite: bool = False) -> Path:
    """Write ``area.json``, ``area.csv``, ``error_matrix.csv`` and ``area.png`` into ``out``."""
    report = assessment.to_dict()
    names = list(assessment.classes.values())
    with atomic_output(out, overwrite=overwrite, directory=True) as tmp:
        (tmp / "area.json").write_text(json.dumps(report, indent=2) + "\n")
        with (tmp / "area.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(report["classes"][0]) + ["unit"])
            writer.writeheader()
            for row in report["classes"]:
                writer.writerow({**row, "unit": assessment.unit})
        with (tmp / "error_matrix.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["map \\ reference", *names, "total"])
            p = assessment.estimate.proportions
            for name, row in zip(names, p, strict=True):
                writer.writerow([name, *(f"{v:.6f}" for v in row), f"{row.sum():.6f}"])
            writer.writerow(["total", *(f"{v:.6f}" for v in p.sum(axis=0)), f"{p.sum():.6f}"])
        e = assessment.estimate
        plot_area_estimates(
            assessment.classes, e.mapped_area, e.area, e.area_ci95, assessment.unit,
            tmp / "area.png",
        )  # fmt: skip
    return Path(out)
