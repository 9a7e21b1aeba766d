"""Spatial cross-validation of point estimators (GNNs and baselines) on the same folds.

Points are zero-size boxes for :func:`terralearn.sampling.splits.block_kfold`: whole square
blocks go to one fold, and training points closer than ``buffer`` to a test point are dropped
(:func:`~terralearn.sampling.splits.kfold_split`), so no method sees a neighbour of a test
point that a real new location would not have.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from terralearn.errors import ConfigError
from terralearn.graph.points import PointSet
from terralearn.sampling.splits import block_kfold, kfold_split


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R^2 (1 - SSE / SST)."""
    err = np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64)
    sst = float(((y_true - np.mean(y_true)) ** 2).sum())
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": 1 - float((err**2).sum()) / sst if sst > 0 else float("nan"),
    }


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int
) -> dict[str, float]:
    """Overall accuracy and mean IoU over the classes present in truth or prediction."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    cm = np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(
        num_classes, -1
    )
    inter = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - inter
    return {
        "accuracy": float(inter.sum() / max(cm.sum(), 1)),
        "miou": float(np.mean(inter[union > 0] / union[union > 0])) if (union > 0).any() else 0.0,
    }


def metrics(points: PointSet, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The metrics of the points' task."""
    if points.task == "regression":
        return regression_metrics(y_true, y_pred)
    return classification_metrics(
        y_true, y_pred, len(points.classes or []) or int(y_true.max()) + 1
    )


def default_block_size(xy: np.ndarray, folds: int) -> float:
    """A block side giving about ``4 * folds`` blocks over the points' bounding box."""
    extent = np.ptp(xy, axis=0)
    return float(np.sqrt(max(extent[0] * extent[1], extent.max() ** 2 / 100) / (4 * folds)))


@dataclass
class CVResult:
    """Per-fold scores and out-of-fold predictions of each method."""

    scores: pd.DataFrame
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    folds: np.ndarray | None = None

    def summary(self) -> pd.DataFrame:
        """Mean over folds per method (times summed), best first."""
        numeric = self.scores.drop(columns=["fold"])
        agg = {
            c: ("sum" if c.endswith("_s") or c.startswith("n_") else "mean")
            for c in numeric.columns
            if c != "method"
        }
        table = numeric.groupby("method", sort=False).agg(agg)
        key = "rmse" if "rmse" in table else "accuracy"
        return table.sort_values(key, ascending=key == "rmse")


def cross_validate(
    points: PointSet,
    methods: dict[str, Callable[[], object]],
    folds: int = 5,
    block_size: float | None = None,
    buffer: float = 0.0,
    seed: int = 0,
    max_folds: int | None = None,
    on_result: Callable[[dict], None] | None = None,
) -> CVResult:
    """Spatial block k-fold cross-validation of several estimators on the same folds.

    Args:
        points: points with a target.
        methods: name -> factory of an unfitted estimator (``fit``/``predict``).
        folds: number of folds ``k``.
        block_size: block side in CRS units (default :func:`default_block_size`).
        buffer: training points closer than this to a test point are dropped.
        seed: seed of the block assignment.
        max_folds: evaluate only the first folds (e.g. 1 on very large inputs).
        on_result: called with each row of scores as it is computed.

    Raises:
        ConfigError: no target, or a method that fails on this input.
    """
    if points.target is None:
        raise ConfigError(f"{points.source}: cross-validation needs a target column (--target)")
    boxes = np.column_stack([points.xy, points.xy])
    block_size = block_size or default_block_size(points.xy, folds)
    fold_of = block_kfold(boxes, block_size, k=folds, seed=seed)
    num_classes = len(points.classes) if points.classes else None
    rows: list[dict] = []
    oof = {name: np.full(len(points), np.nan) for name in methods}
    for fold in range(min(folds, max_folds or folds)):
        split = kfold_split(boxes, fold_of, fold, buffer=buffer)
        train, test = split == "train", split == "test"
        for name, factory in methods.items():
            estimator = factory()
            start = time.perf_counter()
            estimator.fit(
                points.xy[train], points.features[train], points.target[train], num_classes
            )
            fitted = time.perf_counter()
            pred = estimator.predict(points.xy[test], points.features[test])
            done = time.perf_counter()
            oof[name][test] = pred
            row = {
                "method": name,
                "fold": fold,
                **metrics(points, points.target[test], pred),
                "fit_s": fitted - start,
                "predict_s": done - fitted,
                "n_train": int(train.sum()),
                "n_test": int(test.sum()),
            }
            rows.append(row)
            if on_result is not None:
                on_result(row)
    return CVResult(pd.DataFrame(rows), oof, fold_of)


def format_table(table: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """A Markdown table of a summary (index = method)."""
    columns = list(columns or table.columns)
    lines = ["| method | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for method, row in table.iterrows():
        cells = [f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
