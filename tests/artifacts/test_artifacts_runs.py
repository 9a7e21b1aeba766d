"""One run-folder format: graph runs written in it, and graph runs of the older format loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from terralearn._fs import load_weights
from terralearn.artifacts import RunDir, load_run, load_task
from terralearn.errors import NotARunError
from terralearn.graph.fields import gaussian_random_field, sample_field
from terralearn.graph.learner import GraphLearner
from terralearn.graph.runs import load_run as load_graph_run
from terralearn.graph.runs import train_run


@pytest.fixture(scope="module")
def points():
    pts, _ = sample_field(gaussian_random_field(32, 6, seed=0), 60, seed=1, pixel_size=10)
    return pts


@pytest.fixture(scope="module")
def learner(points):
    learner = GraphLearner(model="sage", task="regression", graph="knn:6", epochs=5, seed=0)
    learner.fit(points.xy, points.features, points.target)
    return learner.observe(points.xy, points.features, points.target)


def write_old_graph_run(out, learner, points, scores):
    """A graph run as terralearn wrote it before the one format (graph/runs.py save_run)."""
    meta, tensors = learner.get_state()
    config = {
        "kind": "graph",
        "learner": meta,
        "task": points.task,
        "target": points.target_name,
        "features": points.feature_names,
        "classes": points.classes,
        "crs": points.crs.to_wkt() if points.crs is not None else None,
        "source": points.source,
        "num_points": len(points),
    }
    out.mkdir()
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "metrics.json").write_text(json.dumps(scores, indent=2))
    torch.save(tensors, out / "model.pt")


def test_an_old_format_graph_run_loads_and_predicts_alike(tmp_path, learner, points):
    old = tmp_path / "old"
    write_old_graph_run(old, learner, points, {"rmse": 1.0})
    run = load_run(old)
    assert (run.kind, run.legacy, run.config) == ("graph", True, {})
    assert run.meta["num_points"] == 60
    assert set(run.weights()) == set(learner.get_state()[1])
    loaded = load_graph_run(old)
    query = points.xy[:7] + 3.0
    np.testing.assert_array_equal(loaded.learner.predict(query), learner.predict(query))


def test_graph_runs_are_written_in_the_one_format(tmp_path, points):
    out, _ = train_run(points, tmp_path / "run", epochs=3, val=0.0, seed=2)
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoints", "config.yaml", "metrics.json", "run.json"
    ]  # fmt: skip
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["last.ckpt"]
    assert json.loads((out / "run.json").read_text())["kind"] == "graph"
    options = yaml.safe_load((out / "config.yaml").read_text())
    assert (options["model"], options["graph"], options["epochs"], options["seed"]) == (
        "sage", "knn:8", 3, 2
    )  # fmt: skip
    run = load_run(out, kind="graph")
    assert (run.legacy, run.config["epochs"]) == (False, 3)
    assert run.checkpoint("best") == out / "checkpoints" / "last.ckpt"  # no best: the last
    assert set(load_weights(run.checkpoint())["state_dict"]) == set(run.weights())
    loaded = load_graph_run(out)
    assert loaded.config["num_points"] == 60 and loaded.target == points.target_name


def test_a_graph_run_is_refused_where_a_raster_run_is_needed(tmp_path, points):
    out, _ = train_run(points, tmp_path / "run", epochs=1, val=0.0)
    with pytest.raises(NotARunError, match=r"is a graph run, not a segmentation run; give a"):
        load_task(out)
    with pytest.raises(NotARunError, match=r"is a graph run, not a pretraining run; give the "):
        load_run(out, kind="pretraining")
    with pytest.raises(NotARunError, match=r"is a graph run, not a raster run"):
        RunDir(out).info(kind=None)
    with pytest.raises(NotARunError, match=r"is not a terralearn run directory \(no run.json\)"):
        load_run(tmp_path)
