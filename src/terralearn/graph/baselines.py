"""Classical baselines for point interpolation and classification, with one interface.

Every estimator has ``fit(xy, features, y) -> self`` and ``predict(xy, features)``, like
:class:`terralearn.graph.learner.GraphLearner`, so the same spatial cross-validation runs
them all:

- :class:`IDW`: inverse distance weighting over the ``k`` nearest observations (a weighted
  vote for classes).
- :class:`Kriging`: ordinary kriging with PyKrige (variogram fitted to the data, moving window
  of the ``n_closest`` observations). Its variogram fit is O(N^2) in memory and time.
- :class:`RandomForest`: scikit-learn's random forest on coordinates + features.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.spatial import cKDTree

from terralearn.errors import ConfigError
from terralearn.graph.learner import GraphLearner

Task = Literal["regression", "classification"]


def _features(features: np.ndarray | None, n: int) -> np.ndarray:
    return np.empty((n, 0)) if features is None else np.asarray(features, np.float64).reshape(n, -1)


class IDW:
    """Inverse distance weighting: ``z(q) = sum_i w_i z_i / sum_i w_i``, ``w_i = d_i^-power``.

    Over the ``k`` nearest observations; a query at an observation returns its value.
    """

    def __init__(self, task: Task = "regression", k: int = 12, power: float = 2.0):
        self.task, self.k, self.power = task, k, power

    def fit(self, xy: np.ndarray, features: np.ndarray | None, y: np.ndarray, num_classes=None):
        self.xy_ = np.asarray(xy, dtype=np.float64)
        self.y_ = np.asarray(y)
        self.tree_ = cKDTree(self.xy_)
        self.num_classes_ = int(
            num_classes or (self.y_.max() + 1 if self.task != "regression" else 1)
        )
        return self

    def predict(self, xy: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        k = min(self.k, len(self.xy_))
        dist, idx = self.tree_.query(np.asarray(xy, dtype=np.float64), k=k, workers=-1)
        dist, idx = dist.reshape(len(xy), k), idx.reshape(len(xy), k)
        with np.errstate(divide="ignore"):
            weights = dist ** (-self.power)
        exact = dist[:, 0] == 0
        weights[exact] = 0.0
        weights[exact, 0] = 1.0
        if self.task == "regression":
            return (weights * self.y_[idx]).sum(axis=1) / weights.sum(axis=1)
        votes = np.zeros((len(xy), self.num_classes_))
        np.add.at(
            votes,
            (np.repeat(np.arange(len(xy)), k), self.y_[idx].ravel().astype(int)),
            weights.ravel(),
        )
        return votes.argmax(axis=1)


class Kriging:
    """Ordinary kriging (PyKrige) with a fitted variogram and a moving-window prediction.

    Args:
        variogram: PyKrige variogram model (``spherical``, ``exponential``, ``gaussian`` ...).
        n_closest: observations per prediction (moving window); None solves the full system.
        nlags: lags of the experimental variogram.
        max_points: refuse larger inputs (the variogram fit holds all N^2/2 pair distances).
    """

    def __init__(
        self,
        task: Task = "regression",
        variogram: str = "spherical",
        n_closest: int | None = 64,
        nlags: int = 20,
        max_points: int = 20_000,
    ):
        self.task, self.variogram, self.n_closest = task, variogram, n_closest
        self.nlags, self.max_points = nlags, max_points

    def fit(self, xy: np.ndarray, features: np.ndarray | None, y: np.ndarray, num_classes=None):
        from pykrige.ok import OrdinaryKriging

        if self.task != "regression":
            raise ConfigError("kriging interpolates numbers; use idw or rf for classification")
        if len(xy) > self.max_points:
            pairs_gb = len(xy) ** 2 * 8 * 2 / 2 / 1e9
            raise ConfigError(
                f"kriging on {len(xy)} points would hold {pairs_gb:.0f} GB of pair distances "
                f"(limit {self.max_points} points); subsample the points or skip kriging"
            )
        xy = np.asarray(xy, dtype=np.float64)
        self.model_ = OrdinaryKriging(
            xy[:, 0], xy[:, 1], np.asarray(y, np.float64), variogram_model=self.variogram,
            nlags=self.nlags,
        )  # fmt: skip
        return self

    def predict(self, xy: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64)
        if self.n_closest is None:
            z, _ = self.model_.execute("points", xy[:, 0], xy[:, 1], backend="vectorized")
        else:
            n = min(self.n_closest, len(self.model_.X_ORIG))
            z, _ = self.model_.execute(
                "points", xy[:, 0], xy[:, 1], backend="C", n_closest_points=n
            )
        return np.asarray(z, dtype=np.float64)


class RandomForest:
    """scikit-learn random forest on ``[x, y, features]``."""

    def __init__(
        self, task: Task = "regression", n_estimators: int = 100, n_jobs: int = -1, seed: int = 0
    ):
        self.task, self.n_estimators, self.n_jobs, self.seed = task, n_estimators, n_jobs, seed

    def fit(self, xy: np.ndarray, features: np.ndarray | None, y: np.ndarray, num_classes=None):
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestRegressor if self.task == "regression" else RandomForestClassifier
        self.model_ = cls(
            n_estimators=self.n_estimators, n_jobs=self.n_jobs, random_state=self.seed
        )
        self.model_.fit(np.column_stack([xy, _features(features, len(xy))]), y)
        return self

    def predict(self, xy: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        return self.model_.predict(np.column_stack([xy, _features(features, len(xy))]))


BASELINES = {"idw": IDW, "kriging": Kriging, "rf": RandomForest}
GNNS = ("gcn", "sage", "gat")


def make_estimator(name: str, task: Task = "regression", **options: Any):
    """An estimator by name: ``gcn``, ``sage``, ``gat`` (a GraphLearner), ``idw``, ``kriging``, ``rf``.

    Raises:
        ConfigError: unknown name.
    """
    if name in GNNS:
        return GraphLearner(model=name, task=task, **options)
    if name not in BASELINES:
        raise ConfigError(f"unknown method {name!r}; choose from {', '.join((*GNNS, *BASELINES))}")
    return BASELINES[name](task=task, **options)
