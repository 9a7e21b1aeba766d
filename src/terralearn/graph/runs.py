"""Graph run directories: train a GNN on points, save it, load it to evaluate and predict.

A run directory has the one run format of :mod:`terralearn.artifacts`::

    run.json                kind "graph": task, target/feature names, classes, CRS, the
                            learner's options and normalisation
    config.yaml             the training options
    checkpoints/last.ckpt   network weights and the observed points predictions are made from
                            (``state_dict``, loaded with ``torch.load(weights_only=True)``)
    metrics.json            scores on the held-out spatial validation blocks

Runs of the older format (``config.json`` + ``model.pt``) still load.

The GNN is trained on the training blocks; validation blocks score it; the saved model then
predicts from *all* points (the network weights are unchanged, the observations complete).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS

from terralearn.artifacts import RUN_FILE, write_run
from terralearn.artifacts import load_run as load_any_run
from terralearn.errors import ConfigError, IncompatibleError, NotARunError
from terralearn.graph.grid import to_crs
from terralearn.graph.learner import GraphLearner
from terralearn.graph.points import PointSet
from terralearn.graph.validation import default_block_size, metrics
from terralearn.sampling.splits import block_split

KIND = "graph"


@dataclass
class GraphRun:
    """A loaded run: its folder, configuration and trained learner."""

    path: Path
    config: dict[str, Any]
    learner: GraphLearner

    @property
    def crs(self) -> CRS | None:
        wkt = self.config.get("crs")
        return CRS.from_wkt(wkt) if wkt else None

    @property
    def classes(self) -> list[str] | None:
        return self.config.get("classes")

    @property
    def feature_names(self) -> list[str]:
        return list(self.config.get("features", []))

    @property
    def target(self) -> str:
        return self.config["target"]


def train_run(
    points: PointSet,
    out: str | os.PathLike,
    model: str = "sage",
    graph: str = "knn:8",
    epochs: int = 200,
    lr: float = 0.002,
    val: float = 0.2,
    block_size: float | None = None,
    buffer: float = 0.0,
    seed: int = 0,
    model_kwargs: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress=None,
) -> tuple[Path, dict[str, float]]:
    """Train a GNN on ``points`` and write a run directory to ``out``.

    Args:
        val: share of points (whole spatial blocks) held out to score the model; 0 for none.
        block_size: side of the split blocks in CRS units (default: about 20 blocks).
        buffer: training points closer than this to a validation point are dropped.
        progress: optional ``progress(epoch, loss)``.

    Returns:
        The run folder and the validation metrics (empty when ``val`` is 0).
    """
    if points.target is None:
        raise ConfigError(f"{points.source}: training needs a target column; pass --target COL")
    learner = GraphLearner(
        model=model, task=points.task, graph=graph, epochs=epochs, lr=lr,
        model_kwargs=model_kwargs, seed=seed,
    )  # fmt: skip
    num_classes = len(points.classes) if points.classes else None
    scores: dict[str, float] = {}
    if val > 0:
        boxes = np.column_stack([points.xy, points.xy])
        size = block_size or default_block_size(points.xy, 5)
        split = block_split(boxes, size, buffer=buffer, val=val, test=0.0, seed=seed)
        train, held = split == "train", split == "val"
        if held.sum() == 0:
            raise ConfigError(
                f"no validation block with --val {val} and block size {size:g}; use a smaller "
                "--block-size or --val 0"
            )
        learner.fit(
            points.xy[train], points.features[train], points.target[train], num_classes, progress
        )
        pred = learner.predict(points.xy[held], points.features[held])
        scores = {
            **metrics(points, points.target[held], pred),
            "n_train": int(train.sum()),
            "n_val": int(held.sum()),
        }
    else:
        learner.fit(points.xy, points.features, points.target, num_classes, progress)
    learner.observe(points.xy, points.features, points.target)
    options = {
        "model": model, "graph": graph, "epochs": epochs, "lr": lr, "val": val,
        "block_size": block_size, "buffer": buffer, "seed": seed,
        "model_kwargs": model_kwargs or {},
    }  # fmt: skip
    save_run(out, learner, points, scores, overwrite, options)
    return Path(out), scores


def save_run(
    out: str | os.PathLike,
    learner: GraphLearner,
    points: PointSet,
    scores: dict[str, float],
    overwrite: bool = False,
    options: dict[str, Any] | None = None,
) -> Path:
    """Write a run directory atomically (``options``: the training options, ``config.yaml``)."""
    meta, tensors = learner.get_state()
    config = {
        "kind": KIND,
        "learner": meta,
        "task": points.task,
        "target": points.target_name,
        "features": points.feature_names,
        "classes": points.classes,
        "crs": points.crs.to_wkt() if points.crs is not None else None,
        "source": points.source,
        "num_points": len(points),
    }
    return write_run(out, config, options or {}, tensors, scores, overwrite)


def load_run(path: str | os.PathLike) -> GraphRun:
    """Load a run written by :func:`train_run` (also one of the older format).

    Raises:
        NotARunError: the folder is not a graph run.
    """
    path = Path(path)
    try:
        run = load_any_run(path)
    except NotARunError:
        raise NotARunError(
            f"{str(path)!r} is not a graph run (no {RUN_FILE}); "
            "give the --out folder of `terralearn graph train`"
        ) from None
    if run.kind != KIND:
        kind = run.kind
        hint = (
            "use `terralearn graph segments-predict` for segment runs"
            if kind == "graph-segments"
            else "use `terralearn evaluate/predict` for raster runs"
        )
        raise NotARunError(f"{str(path)!r} is a {kind} run, not a graph run; {hint}")
    return GraphRun(path, run.meta, GraphLearner.from_state(run.meta["learner"], run.weights()))


def check_points(run: GraphRun, points: PointSet) -> None:
    """Raise if ``points`` lack what the run's model needs (same features, a known CRS)."""
    if points.feature_names != run.feature_names:
        raise IncompatibleError(
            f"{points.source}: the run uses features {run.feature_names or '(none)'} but "
            f"{points.feature_names or '(none)'} were given; pass --features "
            f"{' '.join(run.feature_names) or '(none)'}"
        )


def points_in_run_crs(run: GraphRun, points: PointSet) -> np.ndarray:
    """The points' coordinates in the CRS of the run's training points."""
    if points.crs is None or run.crs is None:
        return points.xy
    return to_crs(points.xy, points.crs, run.crs)
