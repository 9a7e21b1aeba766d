"""What graph runs write and score: predictions at the points of a file, scores on labelled
points, and the out-of-fold residuals of a cross-validation."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from terralearn._fs import atomic_output, check_output
from terralearn.errors import ConfigError, IncompatibleError
from terralearn.graph.points import PointSet, read_points, read_table
from terralearn.graph.runs import GraphRun, check_points, points_in_run_crs
from terralearn.graph.validation import CVResult, classification_metrics, regression_metrics
from terralearn.viz.graph import plot_residual_map

TABLE_SUFFIXES = (".csv", ".gpkg", ".geojson", ".parquet")


def evaluate_points(run: GraphRun, points: PointSet) -> dict[str, float]:
    """Scores of the model of ``run`` on the target of ``points`` (read with the run's task).

    Raises:
        IncompatibleError: the points lack the run's features, or hold classes the run never saw.
    """
    check_points(run, points)
    pred = run.learner.predict(points_in_run_crs(run, points), points.features)
    if not run.classes:
        return regression_metrics(points.target, pred)
    names = np.asarray(points.classes)[points.target]
    unknown = sorted(set(names) - set(run.classes))
    if unknown:
        raise IncompatibleError(
            f"{points.source}: classes {', '.join(unknown)} are not among the run's classes "
            f"({', '.join(run.classes)}); remove those points"
        )
    index = {name: i for i, name in enumerate(run.classes)}
    truth = np.array([index[n] for n in names], dtype=np.int64)
    return classification_metrics(truth, pred, len(run.classes))


def predict_points_file(
    run: GraphRun,
    points: str | os.PathLike,
    output: str | os.PathLike,
    x: str | None = None,
    y: str | None = None,
    crs: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Predict at the points of a file; write the file's rows with a ``prediction`` column.

    Args:
        run: a loaded graph run (:func:`terralearn.graph.runs.load_run`).
        points: CSV or vector file with the run's feature columns.
        output: ``.csv``, ``.gpkg``, ``.geojson`` or ``.parquet`` file to write (atomically).
        x, y, crs: coordinate columns and CRS of a CSV (see :func:`read_points`).
        overwrite: replace an existing output.

    Returns:
        The output path. Class runs write class names, regression runs numbers.
    """
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ConfigError(f"output {str(output)!r}: use a .csv, .gpkg, .geojson or .parquet name")
    check_output(output, overwrite)
    pts = read_points(points, features=run.feature_names, x=x, y=y, crs=crs, duplicates="keep")
    pred = run.learner.predict(points_in_run_crs(run, pts), pts.features)
    table = read_table(Path(points), str(points))
    if run.classes:
        pred = [run.classes[int(i)] for i in pred]
    table["prediction"] = pred
    has_geometry = "geometry" in table.columns and hasattr(table, "crs")
    with atomic_output(output, overwrite) as tmp:
        if suffix == ".csv":
            pd.DataFrame(table.drop(columns="geometry", errors="ignore")).to_csv(tmp, index=False)
        elif suffix == ".parquet":
            table.to_parquet(tmp)
        else:
            if not has_geometry:
                table = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(*pts.xy.T), crs=pts.crs)
            # the layer is named after the final file, not the temporary one
            driver = "GPKG" if suffix == ".gpkg" else "GeoJSON"
            table.to_file(tmp, driver=driver, layer=output.stem if driver == "GPKG" else None)
    return output


def write_comparison(
    result: CVResult, points: PointSet, out: str | os.PathLike, overwrite: bool = False
) -> Path:
    """Write a cross-validation to the folder ``out``: ``compare.csv`` (scores per fold and
    method) and ``residuals.png`` (out-of-fold residuals, or errors 0/1 of a class target)."""
    with atomic_output(out, overwrite, directory=True) as tmp:
        result.scores.to_csv(tmp / "compare.csv", index=False)
        if points.task == "regression":
            residuals = {n: p - points.target for n, p in result.predictions.items()}
        else:
            residuals = {
                n: np.where(np.isnan(p), np.nan, (p != points.target).astype(float))
                for n, p in result.predictions.items()
            }
        plot_residual_map(points.xy, residuals, tmp / "residuals.png")
    return Path(out)
