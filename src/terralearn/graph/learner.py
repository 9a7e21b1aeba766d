"""GNN interpolation and node classification: learned kriging plus a GNN residual.

A node's prediction comes from the *observed* points around it, never from its own value:

1. :class:`~terralearn.models.kriging.LocalKriging` kriges the node from
   ``kriging_neighbors`` observed values (the nearest, plus a few from a sparse subset that
   reach across gaps), with a covariance (range, shape, nugget, local-mean variance) started
   from a variogram fit and learned by the network (indicator kriging of one-hot classes for
   classification);
2. a GNN over the node's two-hop neighbourhood of observed points adds a residual (KCN style:
   observed nodes carry their value and an "observed" flag, the node to predict carries the
   kriging estimate and its standard deviation; edges carry offsets and distances).

Training imitates prediction at a new place. At each step a random ``mask_rate`` share of the
training points is hidden (single points on even steps; on odd steps whole square cells of a
random size, as in a held-out block or a grid over a gap) and a mini-batch of ``batch_size``
hidden points is predicted from the observed rest; only the mini-batch's neighbourhoods are
built (:mod:`terralearn.graph.batches`), so a step costs about the same at any N. The first
half of the steps fits only the covariance (the GNN's output starts at zero: the network is
plain kriging), the second half only the GNN.

Hyper-parameters are fixed in code; the one data-driven choice is early stopping on training
data: a ``val_share`` of the training points (whole cells) is never a loss node, and the
state that predicts it best (hidden, from the other training points) is kept, with a
one-standard-error rule against plain kriging (:class:`_Selection`).

The estimator follows scikit-learn conventions: the constructor stores options, :meth:`fit`
returns ``self``, learned state ends in ``_``.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any, Literal

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import nn

from terralearn.errors import ConfigError
from terralearn.graph.batches import (
    Batch,
    Nodes,
    ObservedGraph,
    Scaling,
    make_batch,
    random_mask,
    validation_cells,
    variogram_guess,
)
from terralearn.graph.build import GraphSpec, knn_neighbors, median_length
from terralearn.models import create_model, require_kind
from terralearn.models.kriging import LocalKriging

__all__ = ["GraphLearner", "Scaling"]

Task = Literal["regression", "classification"]
PREDICT_CHUNK = 8192  # query nodes per forward pass (kriging holds Q x K x K pairs)
COVARIANCE_LR = 0.05  # Adam step of the covariance parameters (cosine-annealed)
KRIGING_SHARE = 0.5  # share of the steps that fit only the covariance
EVALUATIONS = 5  # validation scores after the kriging steps (plus one at their end)
MAX_VAL_NODES = 2000  # validation nodes scored (a fixed random subset beyond this)
PE_UNIT = 128  # positional encoding: coordinates in units of PE_UNIT median neighbour distances


class _Interpolator(nn.Module):
    """Learned kriging of the query nodes plus a GNN residual over the batch's subgraph.

    Regression: ``kriged mean + GNN``. Classification (indicator kriging of one-hot classes):
    logits ``log(kriged share + 0.01) + GNN``. The GNN's output layer starts at zero, so the
    untrained network is plain kriging.
    """

    def __init__(self, gnn: nn.Module, regression: bool, covariance: dict[str, float]):
        super().__init__()
        self.gnn = gnn
        self.kriging = LocalKriging(
            range_=covariance["range"], shape=covariance["shape"], nugget=covariance["nugget"]
        )
        self.regression = regression
        nn.init.zeros_(gnn.head.weight)
        nn.init.zeros_(gnn.head.bias)

    def forward(self, batch: Batch, fit_kriging: bool = False) -> torch.Tensor:
        """Outputs at the batch's query nodes (kriging only if the batch has no subgraph).

        The covariance gets gradients only with ``fit_kriging``.
        """
        with torch.set_grad_enabled(torch.is_grad_enabled() and fit_kriging):
            mean, sd = self.kriging(batch.krig_offsets, batch.krig_values, batch.krig_valid)
        base = mean if self.regression else torch.log(mean.clamp_min(0) + 0.01)
        if batch.edges is None:
            return base
        q = len(mean)
        query = torch.cat([mean, sd[:, None], torch.zeros(q, 1), batch.query_inputs], dim=1)
        x = torch.cat([query, batch.observed_inputs])
        e = batch.edges
        return base + self.gnn(x, e.index, e.weight, e.attr, batch.pos)[:q]


class _Selection:
    """Early stopping: the network state with the lowest validation loss.

    A state's score is its mean loss difference to the first state scored (plain learned
    kriging) plus the standard error of that difference over the validation cells (errors
    within a cell are correlated, so cells are the samples): a one-standard-error rule,
    keeping the GNN residual only when it helps beyond the noise of the validation sample.
    """

    def __init__(self):
        self.reference: torch.Tensor | None = None
        self.best_score, self.best_state, self.best_step = math.inf, None, -1
        self.history: list[tuple[int, float]] = []  # (step, mean validation loss)

    def update(self, step: int, scored: tuple[torch.Tensor, torch.Tensor], net: nn.Module) -> None:
        errors, cells = scored
        if self.reference is None:
            self.reference = errors
        self.history.append((step, float(errors.mean())))
        diff = (errors - self.reference).double()
        count = torch.bincount(cells).double()
        per_cell = torch.bincount(cells, diff)[count > 0] / count[count > 0]
        n = len(per_cell)
        score = float(diff.mean()) + (float(per_cell.std()) / math.sqrt(n) if n > 1 else 0.0)
        if score < self.best_score:
            self.best_score, self.best_step = score, step
            self.best_state = copy.deepcopy(net.state_dict())


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """Run torch with ``count`` intra-op threads, restoring the previous number after."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class GraphLearner:
    """A GNN that predicts a target at nodes from the observed targets of their neighbours.

    Args:
        model: registered graph model (``gcn``, ``sage``, ``gat``).
        task: ``regression`` or ``classification``.
        graph: graph recipe of the GNN (``knn:K``, ``radius:R``, ``delaunay``) or
            :class:`GraphSpec`.
        epochs: training steps, each on a fresh random mask and mini-batch (the first half
            fit the kriging covariance, the second half the GNN).
        lr: Adam learning rate of the GNN (cosine-annealed to 0).
        weight_decay: Adam weight decay of the GNN.
        mask_rate: share of training targets hidden at each step.
        model_kwargs: options of the model (``hidden``, ``layers``, ``pos_frequencies`` ...).
        seed: seed of the weights, masks, mini-batches and validation cells.
        batch_size: hidden nodes predicted (loss nodes) per step.
        kriging_neighbors: observed points each kriging estimate uses.
        val_share: share of training points (whole cells) held out for early stopping; 0: none.
        num_threads: torch threads while fitting/predicting (None: leave as is). One is the
            fastest for these small sparse steps on a busy machine.
    """

    def __init__(
        self,
        model: str = "sage",
        task: Task = "regression",
        graph: GraphSpec | str = "knn:8",
        epochs: int = 200,
        lr: float = 0.002,
        weight_decay: float = 0.0,
        mask_rate: float = 0.25,
        model_kwargs: dict[str, Any] | None = None,
        seed: int = 0,
        batch_size: int = 128,
        kriging_neighbors: int = 32,
        val_share: float = 0.15,
        num_threads: int | None = 1,
    ):
        self.model = model
        self.task = task
        self.graph = GraphSpec.parse(graph) if isinstance(graph, str) else graph
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.mask_rate = mask_rate
        self.model_kwargs = dict(model_kwargs or {})
        self.seed = seed
        self.batch_size = batch_size
        self.kriging_neighbors = kriging_neighbors
        self.val_share = val_share
        self.num_threads = num_threads

    # ----------------------------------------------------------------- set-up
    def _check(self, n: int) -> None:
        if self.task not in ("regression", "classification"):
            raise ConfigError(f"task must be regression or classification, got {self.task!r}")
        if not 0 < self.mask_rate < 1:
            raise ConfigError(f"mask_rate must be between 0 and 1, got {self.mask_rate}")
        if not 0 <= self.val_share < 0.5:
            raise ConfigError(f"val_share must be in [0, 0.5), got {self.val_share}")
        for name in ("epochs", "batch_size", "kriging_neighbors"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        need = self.graph.k + 2 if self.graph.kind == "knn" else 4
        if n < need:
            raise ConfigError(
                f"{n} training points are too few for a {self.graph} graph (need at least "
                f"{need}); use a smaller k or more points"
            )

    @property
    def num_values(self) -> int:
        """Width of the target encoding: 1 for regression, one-hot classes otherwise."""
        return 1 if self.task == "regression" else self.num_classes_

    def _nodes(self, xy: np.ndarray, features: np.ndarray, y: np.ndarray | None = None) -> Nodes:
        """Node inputs of points: standardised features (+ encoded values).

        Coordinates are not inputs (the network would learn corrections tied to places, which
        do not carry over to a held-out block); they reach the GNN only as edge offsets and,
        if ``pos_frequencies`` > 0, through the sinusoidal encoding, in units of PE_UNIT
        median neighbour distances (shortest wavelength: two neighbour distances).
        """
        s = self.scaling_
        shifted = xy - np.asarray(s.xy_min)
        feats = ((features - np.asarray(s.f_mean)) / np.asarray(s.f_std)).reshape(len(xy), -1)
        nodes = Nodes(xy, feats, shifted / (PE_UNIT * s.length))
        if y is not None:
            if self.task == "regression":
                nodes.values = ((y - s.y_mean) / s.y_std)[:, None]
            else:
                nodes.values = np.eye(self.num_classes_)[y.astype(np.int64)]
        return nodes

    def _batch(
        self, observed: Nodes, graph: ObservedGraph, query: Nodes, subgraph: bool = True
    ) -> Batch:
        return make_batch(
            observed, graph, query, self.scaling_.length, self.kriging_neighbors, subgraph
        )

    def _loss(self, out: torch.Tensor, target: torch.Tensor, reduction="mean") -> torch.Tensor:
        if self.task == "regression":
            return nn.functional.mse_loss(out[:, 0], target, reduction=reduction)
        return nn.functional.cross_entropy(out, target, reduction=reduction)

    # ---------------------------------------------------------------- training
    def fit(
        self,
        xy: np.ndarray,
        features: np.ndarray | None,
        y: np.ndarray,
        num_classes: int | None = None,
        progress=None,
    ) -> GraphLearner:
        """Train on observations ``y`` at ``xy`` (with ``features``, ``(N, F)`` or None).

        Args:
            num_classes: classes of a classification target (default: ``max(y) + 1``).
            progress: optional callable ``progress(epoch, loss)`` after every step.
        """
        with _threads(self.num_threads):
            return self._fit(xy, features, y, num_classes, progress)

    def _fit(self, xy, features, y, num_classes, progress) -> GraphLearner:
        xy = np.asarray(xy, dtype=np.float64)
        n = len(xy)
        features = np.empty((n, 0)) if features is None else np.asarray(features, np.float64)
        y = np.asarray(y, dtype=np.float64)
        self._check(n)
        require_kind(self.model, "graph", "graph training")
        regression = self.task == "regression"
        self.num_classes_ = int(num_classes or int(y.max()) + 1) if not regression else 1
        rng = np.random.default_rng(self.seed)
        f_std = features.std(axis=0)
        near_dist, _ = knn_neighbors(xy, min(self.graph.k, n - 1))
        self.scaling_ = Scaling(
            xy_min=xy.min(axis=0).tolist(),
            xy_extent=float(max(np.ptp(xy, axis=0).max(), 1e-12)),
            length=median_length(near_dist.ravel()),
            y_mean=float(y.mean()) if regression else 0.0,
            y_std=float(y.std() or 1.0) if regression else 1.0,
            f_mean=features.mean(axis=0).tolist(),
            f_std=np.where(f_std > 0, f_std, 1.0).tolist(),
        )
        nodes = self._nodes(xy, features, y)
        self.in_channels_ = self.num_values + 2 + nodes.inputs.shape[1]
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            gnn = create_model(
                self.model, self.in_channels_, self.num_classes_, **self.model_kwargs
            )
            start = variogram_guess(xy, nodes.values, self.scaling_, rng)
            net = _Interpolator(gnn, regression, start)
        warmup = int(KRIGING_SHARE * self.epochs)  # covariance only: plain kriging
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR
        cov_opt = torch.optim.Adam(net.kriging.parameters(), lr=COVARIANCE_LR)
        gnn_opt = torch.optim.Adam(gnn.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        schedules = [cosine(cov_opt, max(1, warmup)), cosine(gnn_opt, max(1, self.epochs - warmup))]
        if regression:
            target = torch.from_numpy(nodes.values[:, 0]).float()
        else:
            target = torch.from_numpy(y.astype(np.int64))
        keep = max(2 * (self.graph.k + 2), n // 2)  # enough loss nodes and observations
        val_cell = validation_cells(xy, self.scaling_, self.val_share, keep, rng)
        scorer = self._val_scorer(nodes, val_cell, target, rng)
        selection = _Selection()
        eval_every = max(1, (self.epochs - warmup) // EVALUATIONS)
        self.history_: list[float] = []
        net.train()
        for step in range(self.epochs):
            kriging_only = step < warmup
            loss = self._step(net, nodes, target, val_cell >= 0, rng, step, kriging_only)
            cov_opt.zero_grad()
            gnn_opt.zero_grad()
            loss.backward()
            stage = 0 if kriging_only else 1
            (cov_opt, gnn_opt)[stage].step()
            schedules[stage].step()
            self.history_.append(loss.item())
            if progress is not None:
                progress(step, self.history_[-1])
            due = step >= warmup - 1 and (step - warmup + 1) % eval_every == 0
            if scorer is not None and (due or step == self.epochs - 1):
                selection.update(step, scorer(net), net)
        if selection.best_state is not None:
            net.load_state_dict(selection.best_state)
        self.val_history_ = selection.history
        self.best_step_ = selection.best_step
        net.eval()
        self.net_ = net
        self.observe(xy, features, y)
        return self

    def _step(self, net, nodes: Nodes, target, val, rng, step: int, kriging_only: bool):
        """The loss of one training step: a fresh mask, a mini-batch of hidden nodes.

        Odd steps hide whole cells, even steps single points (see
        :func:`~terralearn.graph.batches.random_mask`).
        """
        need = max(self.graph.k + 1, 3) if self.graph.kind == "knn" else 4
        observed = random_mask(nodes.xy, self.scaling_, self.mask_rate, need, rng, step % 2 == 1)
        loss_nodes = np.flatnonzero(~observed & ~val)
        if len(loss_nodes) == 0:  # every hidden point is a validation point: hide others
            train_ids = np.flatnonzero(~val)
            count = max(1, int(self.mask_rate * len(train_ids)))
            loss_nodes = rng.choice(train_ids, count, replace=False)
            observed[loss_nodes] = False
        batch_ids = rng.choice(loss_nodes, min(self.batch_size, len(loss_nodes)), replace=False)
        obs_ids = np.flatnonzero(observed)
        # small queries: threads cost more than they save
        graph = ObservedGraph(nodes.xy[obs_ids], self.graph, workers=1, seed=rng)
        batch = self._batch(
            nodes.take(obs_ids), graph, nodes.take(batch_ids), subgraph=not kriging_only
        )
        out = net(batch, fit_kriging=kriging_only)
        return self._loss(out, target[torch.from_numpy(batch_ids)])

    def _val_scorer(self, nodes: Nodes, val_cell: np.ndarray, target: torch.Tensor, rng):
        """A function of the network giving the losses at the validation nodes (hidden,
        predicted from the other training points) and their cells; None without any."""
        val = val_cell >= 0
        if not val.any():
            return None
        val_ids = np.flatnonzero(val)
        if len(val_ids) > MAX_VAL_NODES:
            val_ids = np.sort(rng.choice(val_ids, MAX_VAL_NODES, replace=False))
        observed = nodes.take(np.flatnonzero(~val))
        batch = self._batch(observed, ObservedGraph(observed.xy, self.graph), nodes.take(val_ids))
        val_target = target[torch.from_numpy(val_ids)]
        cells = torch.from_numpy(val_cell[val_ids])

        def score(net: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
            net.eval()
            with torch.no_grad():
                errors = self._loss(net(batch), val_target, reduction="none")
            net.train()
            return errors, cells

        return score

    # -------------------------------------------------------------- prediction
    def observe(self, xy: np.ndarray, features: np.ndarray | None, y: np.ndarray) -> GraphLearner:
        """Replace the observations predictions are made from (weights unchanged).

        A model trained on a training split then predicts from every available point.
        """
        xy = np.asarray(xy, dtype=np.float64)
        self.observed_xy_ = xy
        self.observed_features_ = (
            np.empty((len(xy), 0)) if features is None else np.asarray(features, np.float64)
        )
        self.observed_y_ = np.asarray(y, dtype=np.float64)
        self.tree_ = cKDTree(xy)
        return self

    def _raw_predict(self, xy: np.ndarray, features: np.ndarray | None) -> np.ndarray:
        if not hasattr(self, "net_"):
            raise ConfigError("the model is not trained; call fit() first")
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        features = np.empty((len(xy), 0)) if features is None else np.asarray(features, np.float64)
        if features.shape[1] != len(self.scaling_.f_mean):
            raise ConfigError(
                f"the model uses {len(self.scaling_.f_mean)} feature(s) but "
                f"{features.shape[1]} were given"
            )
        observed = self._nodes(self.observed_xy_, self.observed_features_, self.observed_y_)
        graph = ObservedGraph(observed.xy, self.graph, self.tree_)
        outputs = []
        for start in range(0, len(xy), PREDICT_CHUNK):
            part = slice(start, start + PREDICT_CHUNK)
            batch = self._batch(observed, graph, self._nodes(xy[part], features[part]))
            with torch.no_grad():
                outputs.append(self.net_(batch).numpy().astype(np.float64))
        return np.concatenate(outputs) if outputs else np.empty((0, self.num_classes_))

    def predict(self, xy: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """Predicted values (regression) or class ids (classification) at ``xy``."""
        with _threads(self.num_threads):
            out = self._raw_predict(xy, features)
        if self.task == "regression":
            return out[:, 0] * self.scaling_.y_std + self.scaling_.y_mean
        return out.argmax(axis=1)

    def predict_proba(self, xy: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities ``(M, C)`` at ``xy`` (classification only)."""
        if self.task != "classification":
            raise ConfigError("predict_proba needs a classification model")
        with _threads(self.num_threads):
            out = torch.from_numpy(self._raw_predict(xy, features))
        return torch.softmax(out, dim=1).numpy()

    # ----------------------------------------------------------- persistence
    _OPTIONS = ("model", "task", "graph", "epochs", "lr", "weight_decay", "mask_rate", "seed",
                "batch_size", "kriging_neighbors", "val_share")  # fmt: skip

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """JSON-able options and tensors (weights + observations) to save a trained learner."""
        meta = {k: getattr(self, k) for k in self._OPTIONS}
        meta.update(
            graph=str(self.graph),
            model_kwargs=self.model_kwargs,
            num_classes=self.num_classes_,
            in_channels=self.in_channels_,
            scaling=asdict(self.scaling_),
        )
        tensors = {f"net.{k}": v for k, v in self.net_.state_dict().items()}
        tensors["observed.xy"] = torch.from_numpy(np.array(self.observed_xy_))
        tensors["observed.features"] = torch.from_numpy(np.array(self.observed_features_))
        tensors["observed.y"] = torch.from_numpy(np.array(self.observed_y_))
        return meta, tensors

    @classmethod
    def from_state(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> GraphLearner:
        """Rebuild a trained learner from :meth:`get_state`.

        Raises:
            ConfigError: the state was saved by an older learner without the kriging layer.
        """
        if "net.kriging.log_range" not in tensors:
            raise ConfigError(
                "this GNN run was saved by an older terralearn without the kriging layer; "
                "train it again with `terralearn graph train`"
            )
        learner = cls(
            **{k: meta[k] for k in cls._OPTIONS if k in meta}, model_kwargs=meta["model_kwargs"]
        )
        learner.num_classes_ = meta["num_classes"]
        learner.in_channels_ = meta["in_channels"]
        learner.scaling_ = Scaling(**meta["scaling"])
        gnn = create_model(
            learner.model, learner.in_channels_, learner.num_classes_, **learner.model_kwargs
        )
        start = {"range": 1.0, "shape": 1.0, "nugget": 0.05}  # replaced by the state
        net = _Interpolator(gnn, learner.task == "regression", start)
        net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        net.eval()
        learner.net_ = net
        learner.observe(
            tensors["observed.xy"].numpy(),
            tensors["observed.features"].numpy(),
            tensors["observed.y"].numpy(),
        )
        return learner
