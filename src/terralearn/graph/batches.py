"""What the interpolating GNN sees: training masks and mini-batch neighbourhoods.

:class:`~terralearn.graph.learner.GraphLearner` predicts *query* nodes from *observed* ones.
For a batch of queries, :func:`make_batch` gathers

- for the kriging layer, each query's kriging neighbourhood (offsets and values): its nearest
  observed points, plus (a quarter of ``K``) the nearest points of a random 1/COARSE subset
  of the observations, which reach about sqrt(COARSE) times farther, so that a query inside
  a large gap also sees its far side, not only the nearest edge;
- for the GNN, the two-hop subgraph: edges from observed points into the queries, and from
  observed points into those (NeighborLoader style, with cKDTree queries), so the cost of a
  batch depends on its size, not on the number of points.

:func:`random_mask` hides points for one training step (single points, or whole square cells
of a random size, as in a held-out block); :func:`validation_cells` holds out whole cells for
early stopping; :func:`variogram_guess` starts the learned covariance from a classical
variogram fit. Lengths are in units of the median neighbour distance
(:attr:`Scaling.length`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import least_squares
from scipy.spatial import Delaunay, cKDTree

from terralearn.graph.build import GraphSpec, build_graph, knn_neighbors

VAL_CELLS = 5  # validation cells per side of the extent (about the default CV blocks)
COARSE = 16  # one observation in COARSE is in the far-reaching part of kriging neighbourhoods


@dataclass
class Scaling:
    """Affine normalisations learned from the training points."""

    xy_min: list[float]
    xy_extent: float
    length: float  # median neighbour distance: the unit of edge lengths
    y_mean: float
    y_std: float
    f_mean: list[float]
    f_std: list[float]


@dataclass
class Edges:
    index: torch.Tensor  # (2, E)
    weight: torch.Tensor  # (E,) Gaussian of the length
    attr: torch.Tensor  # (E, 3): distance, dx, dy


@dataclass
class Nodes:
    """Points with their node inputs: observed ones (with values) or ones to predict."""

    xy: np.ndarray  # (N, 2)
    inputs: np.ndarray  # (N, F): standardised features
    pos: np.ndarray  # (N, 2): coordinates for the positional encoding
    values: np.ndarray | None = None  # (N, V): standardised values or one-hot classes

    def take(self, index: np.ndarray) -> Nodes:
        values = None if self.values is None else self.values[index]
        return Nodes(self.xy[index], self.inputs[index], self.pos[index], values)


@dataclass
class Batch:
    """Tensors of one forward pass: ``Q`` query nodes first, then ``M`` observed nodes."""

    krig_offsets: torch.Tensor  # (Q, K, 2)
    krig_values: torch.Tensor  # (Q, K, V)
    krig_valid: torch.Tensor | None  # (Q, K) False: a repeated neighbour, left out
    query_inputs: torch.Tensor  # (Q, F)
    observed_inputs: torch.Tensor | None = None  # (M, V + 2 + F); None: kriging only
    pos: torch.Tensor | None = None  # (Q + M, 2)
    edges: Edges | None = None


def drop_self(idx: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Neighbour lists ``(M, k + 1)`` without each row's own index (else without the last)."""
    is_self = idx == own[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    is_self &= np.cumsum(is_self, axis=1) == 1
    return idx[~is_self].reshape(len(idx), -1)


class ObservedGraph:
    """Edges among observed points and from them to query points, for one set of observations.

    ``knn:K``: the ``K`` nearest other observed points; ``radius:R``: observed points within
    ``R``; ``delaunay``: the triangulation of the observed points (a query connects to the
    corners of its triangle, or to its 3 nearest points outside the hull).

    Args:
        xy: observed points.
        spec: the GNN's graph recipe.
        tree: a cKDTree of ``xy`` to reuse.
        workers: threads of the tree queries.
        seed: seed (or generator) of the random 1/COARSE subset of observations.
    """

    def __init__(
        self,
        xy: np.ndarray,
        spec: GraphSpec,
        tree: cKDTree | None = None,
        workers: int = -1,
        seed: int | np.random.Generator = 0,
    ):
        self.xy, self.spec, self.workers = xy, spec, workers
        self.tree = tree if tree is not None else cKDTree(xy)
        rng = np.random.default_rng(seed)
        self.coarse = np.sort(rng.choice(len(xy), len(xy) // COARSE, replace=False))
        self._coarse_tree: cKDTree | None = None
        self._static: np.ndarray | None = None
        self._delaunay: Delaunay | None = None

    def kriging_neighbors(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, int]:
        """``(index, valid, nearest)``: the kriging neighbourhoods ``(M, k)`` of ``query``.

        The ``nearest = k - k // 4`` nearest observed points, nearest first, then the
        ``k // 4`` nearest of the coarse subset (all ``k`` nearest when the subset is smaller
        than that); ``valid`` is False where a coarse neighbour is also a near one.
        """
        m, far = len(query), k // 4
        if len(self.coarse) < max(far, 1):
            _, idx = self.tree.query(query, k=k, workers=self.workers)
            return idx.reshape(m, k), np.ones((m, k), dtype=bool), k
        _, near = self.tree.query(query, k=k - far, workers=self.workers)
        near = near.reshape(m, k - far)
        if self._coarse_tree is None:
            self._coarse_tree = cKDTree(self.xy[self.coarse])
        _, coarse = self._coarse_tree.query(query, k=far, workers=self.workers)
        coarse = self.coarse[coarse.reshape(m, far)]
        repeated = (coarse[:, :, None] == near[:, None, :]).any(axis=2)
        valid = np.concatenate([np.ones_like(near, dtype=bool), ~repeated], axis=1)
        return np.concatenate([near, coarse], axis=1), valid, k - far

    def into_observed(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(source, target)`` edges into the observed ``nodes`` from other observed points."""
        k = self.spec.k
        if len(nodes) == 0:
            return nodes, nodes
        if self.spec.kind == "knn":
            _, idx = self.tree.query(self.xy[nodes], k=k + 1, workers=self.workers)
            return drop_self(idx.reshape(len(nodes), k + 1), nodes).ravel(), np.repeat(nodes, k)
        if self._static is None:
            self._static = build_graph(self.xy, self.spec).edge_index
        keep = np.isin(self._static[1], nodes)
        return self._static[0][keep], self._static[1][keep]

    def into_queries(self, query: np.ndarray, nearest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(source, query index)`` edges; ``nearest``: the queries' nearest observed points."""
        spec, m = self.spec, len(query)
        if spec.kind == "knn":
            if nearest.shape[1] < spec.k:
                _, nearest = knn_neighbors(self.xy, spec.k, query=query, tree=self.tree)
            return nearest[:, : spec.k].ravel(), np.repeat(np.arange(m), spec.k)
        if spec.kind == "radius":
            lists = self.tree.query_ball_point(query, spec.radius)
            counts = np.fromiter((len(x) for x in lists), np.int64, m)
            src = np.fromiter((j for x in lists for j in x), np.int64, counts.sum())
            return src, np.repeat(np.arange(m), counts)
        if self._delaunay is None:
            self._delaunay = Delaunay(self.xy)
        simplex = self._delaunay.find_simplex(query)
        vertices = np.where(
            simplex[:, None] >= 0, self._delaunay.simplices[simplex], nearest[:, :3]
        )
        return vertices.ravel(), np.repeat(np.arange(m), 3)


def make_edges(xy: np.ndarray, src: np.ndarray, dst: np.ndarray, length: float) -> Edges:
    """Edge tensors: Gaussian weights ``exp(-d^2 / 2)`` and ``(d, dx, dy)``, in ``length``."""
    offset = (xy[src] - xy[dst]) / length
    dist = np.hypot(offset[:, 0], offset[:, 1])
    return Edges(
        index=torch.from_numpy(np.stack([src, dst]).astype(np.int64)),
        weight=torch.from_numpy(np.exp(-0.5 * dist**2)).float(),
        attr=torch.from_numpy(np.column_stack([dist, offset])).float(),
    )


def make_batch(
    observed: Nodes,
    graph: ObservedGraph,
    query: Nodes,
    length: float,
    kriging_neighbors: int,
    subgraph: bool = True,
) -> Batch:
    """The kriging neighbourhoods and (if ``subgraph``) the two-hop GNN subgraph of ``query``.

    Observed nodes of the subgraph carry ``[value, 0, 1, features]`` (value, no uncertainty,
    observed flag); the query rows are completed by the network with the kriging estimate.
    """
    k = min(kriging_neighbors, len(observed.xy))
    neighbors, valid, nearest = graph.kriging_neighbors(query.xy, k)
    offsets = (observed.xy[neighbors] - query.xy[:, None, :]) / length
    batch = Batch(
        krig_offsets=torch.from_numpy(offsets).float(),
        krig_values=torch.from_numpy(observed.values[neighbors]).float(),
        krig_valid=None if valid.all() else torch.from_numpy(valid),
        query_inputs=torch.from_numpy(query.inputs).float(),
    )
    if not subgraph:
        return batch
    q_src, q_dst = graph.into_queries(query.xy, neighbors[:, :nearest])
    o_src, o_dst = graph.into_observed(np.unique(q_src))
    members = np.unique(np.concatenate([q_src, o_src]))  # observed nodes in the subgraph
    q = len(query.xy)
    src = np.searchsorted(members, np.concatenate([q_src, o_src])) + q
    dst = np.concatenate([q_dst, np.searchsorted(members, o_dst) + q])
    m = len(members)
    observed_inputs = np.concatenate(
        [observed.values[members], np.zeros((m, 1)), np.ones((m, 1)), observed.inputs[members]],
        axis=1,
    )
    batch.observed_inputs = torch.from_numpy(observed_inputs).float()
    batch.pos = torch.from_numpy(np.concatenate([query.pos, observed.pos[members]])).float()
    batch.edges = make_edges(np.concatenate([query.xy, observed.xy[members]]), src, dst, length)
    return batch


def cell_ids(xy: np.ndarray, origin: np.ndarray, size: float, shift=0.0) -> np.ndarray:
    """An integer id per square cell of side ``size`` (grid anchored at ``origin - shift``)."""
    cells = np.floor((xy - origin + shift) / size).astype(np.int64)
    return cells[:, 0] * (int(cells[:, 1].max()) + 1) + cells[:, 1]


def random_mask(
    xy: np.ndarray,
    scaling: Scaling,
    rate: float,
    need: int,
    rng: np.random.Generator,
    cells: bool,
) -> np.ndarray:
    """Observed flags for one training step (False: hidden, the target is to predict).

    With ``cells``, whole random square cells of a random size (log-uniform between one
    neighbour distance and a quarter of the extent) are hidden, so the network also learns
    to predict far from any observation; otherwise single points. About ``rate`` of the
    points are hidden, and at least ``need`` stay observed.
    """
    n = len(xy)
    if cells:
        low = math.log(scaling.length)
        high = math.log(max(scaling.xy_extent / 4, scaling.length * 1.01))
        size = math.exp(rng.uniform(low, high))
        ids = cell_ids(xy, np.asarray(scaling.xy_min), size, rng.uniform(0, size, 2))
        _, cell = np.unique(ids, return_inverse=True)
        observed = ~(rng.random(int(cell.max()) + 1) < rate)[cell.ravel()]
    else:
        observed = rng.random(n) >= rate
    if observed.sum() < need or observed.all():
        observed = np.ones(n, dtype=bool)
        observed[rng.choice(n, max(1, min(n - need, int(rate * n))), replace=False)] = False
    return observed


def validation_cells(
    xy: np.ndarray, scaling: Scaling, share: float, keep: int, rng: np.random.Generator
) -> np.ndarray:
    """Validation cell of each point (-1: none): random whole cells holding about ``share``.

    Cells are squares, VAL_CELLS per side of the extent. None are chosen when fewer than
    ``keep`` points would be left.
    """
    none = np.full(len(xy), -1, dtype=np.int64)
    if share <= 0:
        return none
    ids = cell_ids(xy, np.asarray(scaling.xy_min), scaling.xy_extent / VAL_CELLS)
    _, cell = np.unique(ids, return_inverse=True)
    cell = cell.ravel()
    counts = np.bincount(cell)
    order = rng.permutation(len(counts))
    chosen = order[: np.searchsorted(np.cumsum(counts[order]), share * len(xy)) + 1]
    rank = np.full(len(counts), -1, dtype=np.int64)
    rank[chosen] = np.arange(len(chosen))
    val_cell = rank[cell]
    return val_cell if (val_cell < 0).sum() >= keep else none


def variogram_guess(
    xy: np.ndarray, values: np.ndarray, scaling: Scaling, rng: np.random.Generator
) -> dict[str, float]:
    """Range, shape and nugget of a powered-exponential variogram fitted to the points.

    The classical start of kriging: semivariances ``|z_i - z_j|^2 / 2`` (summed over value
    columns, over the total variance) of the 8 nearest pairs within random subsets of
    1, 1/4, 1/16 ... of the points (at most 20,000 each, so lags span from the sampling
    distance to a quarter of the extent), averaged in 12 log-spaced lag bins and fitted by
    weighted least squares with ``sill * (nugget + 1 - exp(-(h / range)^shape))``. Lengths
    in units of ``scaling.length``; bounded to ``range`` in [0.5, extent / 2], ``shape`` in
    [0.1, 1.95], ``nugget`` in [1e-4, 1]; range 3, shape 1, nugget 0.05 with too few pairs.
    """
    k, n = 8, len(xy)
    extent = scaling.xy_extent / scaling.length
    values = values.reshape(n, -1)
    total = float(values.var(axis=0).sum()) or 1.0
    lags, halves = [], []
    size = n
    while size >= 2 * k:
        idx = rng.choice(n, min(size, 20_000), replace=False)
        dist, nb = cKDTree(xy[idx]).query(xy[idx], k=k + 1)
        diff = values[idx][:, None, :] - values[idx][nb[:, 1:]]
        lags.append(dist[:, 1:].ravel() / scaling.length)
        halves.append(0.5 * (diff**2).sum(axis=2).ravel() / total)
        size //= 4
    fallback = {"range": 3.0, "shape": 1.0, "nugget": 0.05}
    if not lags:
        return fallback
    lag, half = np.concatenate(lags), np.concatenate(halves)
    keep = (lag > 0) & (lag < extent / 4)
    if keep.sum() < 50:
        return fallback
    lag, half = lag[keep], half[keep]
    edges = np.geomspace(lag.min(), lag.max() * (1 + 1e-9), 13)
    bins = np.clip(np.searchsorted(edges, lag, side="right") - 1, 0, 11)
    count = np.bincount(bins, minlength=12)
    full = count > 10
    h = np.bincount(bins, lag, 12)[full] / count[full]
    gamma = np.bincount(bins, half, 12)[full] / count[full]
    if len(h) < 4:
        return fallback

    def residuals(p: np.ndarray) -> np.ndarray:
        a, shape, nugget, sill = p
        return np.sqrt(count[full]) * (sill * (nugget + 1 - np.exp(-((h / a) ** shape))) - gamma)

    low, high = [0.5, 0.1, 1e-4, 0.05], [max(extent / 2, 1.0), 1.95, 1.0, 10.0]
    start = np.clip([np.median(h), 1.0, 0.05, 1.0], low, high)
    a, shape, nugget, _ = least_squares(residuals, start, bounds=(low, high)).x
    return {"range": float(a), "shape": float(shape), "nugget": float(nugget)}
