"""GNN interpolation and classification on toy fields; baselines; spatial CV."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from terralearn.errors import ConfigError
from terralearn.graph.baselines import IDW, Kriging, RandomForest, make_estimator
from terralearn.graph.fields import gaussian_random_field, sample_field
from terralearn.graph.learner import GraphLearner
from terralearn.graph.validation import classification_metrics, cross_validate, regression_metrics


def smooth_points(n=300, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    value = np.sin(xy[:, 0] / 15) + np.cos(xy[:, 1] / 20)
    return xy, value


def test_gnn_recovers_a_smooth_field():
    xy, value = smooth_points()
    train, test = slice(0, 250), slice(250, None)
    learner = GraphLearner("sage", epochs=150, seed=0).fit(xy[train], None, value[train])
    pred = learner.predict(xy[test])
    rmse = np.sqrt(np.mean((pred - value[test]) ** 2))
    # the field has sd ~0.9; IDW on the same points is the yardstick
    idw = IDW().fit(xy[train], None, value[train]).predict(xy[test])
    assert rmse < 0.2
    assert rmse < 1.5 * np.sqrt(np.mean((idw - value[test]) ** 2))
    assert len(learner.history_) == 150
    # scored at the end of the 75 kriging steps, then every 15 GNN steps
    steps = [s for s, _ in learner.val_history_]
    assert steps == [74, 89, 104, 119, 134, 149]
    assert learner.best_step_ in steps


def test_learned_covariance_recovers_a_known_field():
    # Gaussian covariance exp(-r^2 / (2 l^2)) = exp(-(r / a)^2) with a = l sqrt(2)
    field = gaussian_random_field(64, 4.0, seed=0)
    pts, _ = sample_field(field, 600, seed=10, noise=0.05)
    learner = GraphLearner("sage", epochs=150).fit(pts.xy, None, pts.target)
    params = learner.net_.kriging.parameters_dict()
    assert params["range"] * learner.scaling_.length == pytest.approx(4 * np.sqrt(2), rel=0.25)
    assert params["shape"] > 1.5  # Gaussian: 2 (the layer's limit is 1.95)
    assert params["nugget"] < 0.02  # noise variance 0.0025 over a unit sill


def test_selection_keeps_the_residual_only_beyond_the_noise():
    from terralearn.graph.learner import _Selection

    net = torch.nn.Linear(1, 1)
    cells = torch.tensor([0, 0, 1, 1, 2, 2])
    selection = _Selection()
    selection.update(10, (torch.ones(6), cells), net)
    # lower on average, but worse in one cell of three: within one standard error
    selection.update(20, (torch.tensor([0.1, 0.1, 0.1, 0.1, 2.5, 2.5]), cells), net)
    assert selection.best_step == 10
    selection.update(30, (torch.full((6,), 0.9), cells), net)  # better in every cell
    assert selection.best_step == 30
    assert selection.history == [(10, 1.0), (20, pytest.approx(0.9)), (30, pytest.approx(0.9))]


def test_state_without_kriging_layer_is_refused():
    xy, value = smooth_points(40)
    meta, tensors = GraphLearner("sage", epochs=2).fit(xy, None, value).get_state()
    del tensors["net.kriging.log_range"]
    with pytest.raises(ConfigError, match="saved by an older terralearn without the kriging"):
        GraphLearner.from_state(meta, tensors)


@pytest.mark.parametrize("graph", ["radius:12", "delaunay"])
def test_other_graph_kinds_predict(graph):
    xy, value = smooth_points(120)
    learner = GraphLearner("gcn", graph=graph, epochs=20).fit(xy[:100], None, value[:100])
    pred = learner.predict(xy[100:])
    assert pred.shape == (20,) and np.isfinite(pred).all()


def test_classification_and_state_round_trip():
    xy, value = smooth_points(200)
    labels = (value > 0).astype(int)
    feats = xy[:, :1] / 100
    learner = GraphLearner("gat", task="classification", epochs=60, model_kwargs={"hidden": 16})
    learner.fit(xy[:160], feats[:160], labels[:160])
    pred = learner.predict(xy[160:], feats[160:])
    assert (pred == labels[160:]).mean() >= 0.8
    proba = learner.predict_proba(xy[160:], feats[160:])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    meta, tensors = learner.get_state()
    again = GraphLearner.from_state(meta, tensors)
    np.testing.assert_array_equal(again.predict(xy[160:], feats[160:]), pred)


def test_fit_does_not_change_global_threads():
    before = torch.get_num_threads()
    xy, value = smooth_points(40)
    GraphLearner("sage", epochs=2, num_threads=1).fit(xy, None, value)
    assert torch.get_num_threads() == before


def test_too_few_points():
    xy, value = smooth_points(8)
    with pytest.raises(
        ConfigError, match=r"8 training points are too few for a knn:8 graph \(need at least 10\)"
    ):
        GraphLearner("sage").fit(xy, None, value)


def test_feature_count_checked():
    xy, value = smooth_points(40)
    learner = GraphLearner("sage", epochs=2).fit(xy, np.ones((40, 2)), value)
    with pytest.raises(ConfigError, match="uses 2 feature"):
        learner.predict(xy[:3], None)


def test_idw_exact_at_observations_and_weighted():
    xy = np.array([[0.0, 0.0], [2.0, 0.0]])
    idw = IDW(k=2).fit(xy, None, np.array([1.0, 3.0]))
    np.testing.assert_allclose(idw.predict(np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.0]])),
                               [1.0, 2.0, (1 / 0.25 + 3 / 2.25) / (1 / 0.25 + 1 / 2.25)])  # fmt: skip


def test_kriging_and_rf_interpolate():
    field = gaussian_random_field(64, 8, seed=0)
    pts, truth = sample_field(field, 400, seed=1)
    for est in (Kriging(n_closest=32), RandomForest(n_estimators=20, n_jobs=1)):
        pred = est.fit(pts.xy[:300], None, pts.target[:300]).predict(pts.xy[300:])
        assert np.sqrt(np.mean((pred - truth[300:]) ** 2)) < 0.8


def test_kriging_refuses_too_many_points_and_classes():
    with pytest.raises(ConfigError, match=r"kriging on 30 points .*limit 20 points"):
        Kriging(max_points=20).fit(np.random.rand(30, 2), None, np.zeros(30))
    with pytest.raises(ConfigError, match="kriging interpolates numbers"):
        Kriging(task="classification").fit(np.random.rand(5, 2), None, np.zeros(5))
    with pytest.raises(
        ConfigError, match="unknown method 'svm'; choose from gcn, sage, gat, idw, kriging, rf"
    ):
        make_estimator("svm")


def test_metrics():
    assert regression_metrics(np.array([0.0, 2.0]), np.array([1.0, 1.0])) == {
        "rmse": 1.0,
        "mae": 1.0,
        "r2": 0.0,
    }
    m = classification_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
    assert m["accuracy"] == 0.75 and m["miou"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_cross_validate_same_folds_for_all_methods():
    field = gaussian_random_field(64, 8, seed=0)
    pts, _ = sample_field(field, 300, seed=1)
    result = cross_validate(pts, {"idw": IDW, "rf": lambda: RandomForest(n_estimators=5, n_jobs=1)},
                            folds=3, block_size=16)  # fmt: skip
    assert list(result.scores["method"]) == ["idw", "rf"] * 3
    for name in ("idw", "rf"):
        assert np.isfinite(result.predictions[name]).all()  # every point tested once
    per_fold = result.scores.pivot(index="fold", columns="method", values="n_test")
    assert (per_fold["idw"] == per_fold["rf"]).all() and per_fold["idw"].sum() == 300
    assert list(result.summary().columns[:3]) == ["rmse", "mae", "r2"]
