"""Graphs over points: k nearest neighbours, radius, Delaunay; Gaussian edge weights.

Edges follow PyTorch Geometric's convention: ``edge_index[0]`` is the source and
``edge_index[1]`` the target, so a node aggregates messages from its neighbours. Neighbour
searches use scipy's cKDTree: O(N log N) to build and query.

Shapes:
    - ``xy``: ``(N, 2)`` float coordinates (metres).
    - ``edge_index``: ``(2, E)`` int64; ``distance``: ``(E,)`` float64.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.spatial import Delaunay, QhullError, cKDTree

from terralearn.errors import ConfigError

GraphKind = Literal["knn", "radius", "delaunay"]


@dataclass(frozen=True)
class GraphSpec:
    """How to connect points: ``knn:K``, ``radius:R`` (CRS units) or ``delaunay``."""

    kind: GraphKind = "knn"
    k: int = 8
    radius: float = 0.0

    @classmethod
    def parse(cls, text: str) -> GraphSpec:
        """Parse ``"knn:8"``, ``"knn"`` (k=8), ``"radius:500"`` or ``"delaunay"``.

        Raises:
            ConfigError: for anything else.
        """
        match = re.fullmatch(r"\s*(knn|radius|delaunay)\s*(?::\s*([0-9.eE+]+))?\s*", text or "")
        hint = "use knn:K (e.g. knn:8), radius:R (in CRS units, e.g. radius:500) or delaunay"
        if match is None:
            raise ConfigError(f"--graph {text!r} is not a graph; {hint}")
        kind, value = match.group(1), match.group(2)
        try:
            if kind == "knn":
                k = int(value) if value is not None else 8
                if k < 1 or (value is not None and float(value) != k):
                    raise ValueError
                return cls("knn", k=k)
            if kind == "radius":
                radius = float(value) if value is not None else float("nan")
                if not radius > 0:
                    raise ValueError
                return cls("radius", radius=radius)
        except ValueError:
            raise ConfigError(f"--graph {text!r}: bad number; {hint}") from None
        if value is not None:
            raise ConfigError(f"--graph {text!r}: delaunay takes no number; {hint}")
        return cls("delaunay")

    def __str__(self) -> str:
        if self.kind == "knn":
            return f"knn:{self.k}"
        if self.kind == "radius":
            return f"radius:{self.radius:g}"
        return "delaunay"


@dataclass(frozen=True)
class Graph:
    """Directed edges between ``num_nodes`` points with their lengths."""

    edge_index: np.ndarray
    distance: np.ndarray
    num_nodes: int

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]

    def weights(self, scale: float | None = None) -> np.ndarray:
        """Gaussian edge weights, see :func:`gaussian_weights`."""
        return gaussian_weights(self.distance, scale)


def _check_xy(xy: np.ndarray) -> np.ndarray:
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"xy must have shape (N, 2), got {xy.shape}")
    return xy


def knn_neighbors(
    xy: np.ndarray,
    k: int,
    query: np.ndarray | None = None,
    tree: cKDTree | None = None,
    workers: int = -1,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest points of ``xy`` to each query point, nearest first.

    Args:
        xy: ``(N, 2)`` reference points.
        k: neighbours per query point.
        query: ``(M, 2)`` query points; None means ``xy`` itself, each point excluding itself.
        tree: a cKDTree of ``xy`` to reuse.
        workers: threads for the query (-1: all cores).

    Returns:
        ``(distance, index)``, both ``(M, k)``.

    Raises:
        ConfigError: fewer than ``k`` reference points (``k + 1`` when ``query`` is None).
    """
    xy = _check_xy(xy)
    n_needed = k + (query is None)
    if len(xy) < n_needed:
        raise ConfigError(
            f"a knn:{k} graph needs at least {n_needed} points, got {len(xy)}; use a smaller k "
            "(--graph knn:K) or more points"
        )
    tree = tree if tree is not None else cKDTree(xy)
    if query is not None:
        dist, idx = tree.query(_check_xy(query), k=k, workers=workers)
        return dist.reshape(-1, k), idx.reshape(-1, k)
    dist, idx = tree.query(xy, k=k + 1, workers=workers)
    n = len(xy)
    if (idx[:, 0] == np.arange(n)).all():  # the usual case: each point finds itself first
        return dist[:, 1:], idx[:, 1:]
    # with duplicates a point may not come first among its equals, or not at all
    is_self = idx == np.arange(n)[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    is_self &= np.cumsum(is_self, axis=1) == 1
    keep = ~is_self
    return dist[keep].reshape(n, k), idx[keep].reshape(n, k)


def _from_neighbors(dist: np.ndarray, idx: np.ndarray, num_nodes: int) -> Graph:
    m, k = idx.shape
    # filled in place: one pass over memory per row, no temporaries (this is the hot path)
    edge_index = np.empty((2, m * k), dtype=np.int64)
    edge_index[0].reshape(m, k)[:] = idx
    edge_index[1].reshape(m, k)[:] = np.arange(m, dtype=np.int64)[:, None]
    return Graph(edge_index, dist.ravel(), num_nodes)


def knn_graph(xy: np.ndarray, k: int = 8, loop: bool = False, workers: int = -1) -> Graph:
    """Each point receives edges from its ``k`` nearest other points (plus itself if ``loop``).

    Not symmetric: ``j`` being among ``i``'s nearest does not make ``i`` one of ``j``'s.
    """
    dist, idx = knn_neighbors(xy, k, workers=workers)
    graph = _from_neighbors(dist, idx, len(xy))
    return add_self_loops(graph) if loop else graph


def radius_graph(xy: np.ndarray, radius: float, loop: bool = False) -> Graph:
    """Edges in both directions between points closer than or at ``radius``."""
    xy = _check_xy(xy)
    if not radius > 0:
        raise ConfigError(f"graph radius must be > 0, got {radius}")
    pairs = cKDTree(xy).query_pairs(radius, output_type="ndarray").astype(np.int64)
    graph = _symmetric(xy, pairs)
    return add_self_loops(graph) if loop else graph


def delaunay_graph(xy: np.ndarray, loop: bool = False) -> Graph:
    """Edges in both directions along the sides of the Delaunay triangles."""
    xy = _check_xy(xy)
    if len(xy) < 3:
        raise ConfigError(f"a delaunay graph needs at least 3 points, got {len(xy)}")
    try:
        simplices = Delaunay(xy).simplices.astype(np.int64)
    except QhullError:
        raise ConfigError(
            "the points are collinear or coincide, so they have no Delaunay triangulation; "
            "use --graph knn:K"
        ) from None
    sides = np.concatenate([simplices[:, [0, 1]], simplices[:, [1, 2]], simplices[:, [0, 2]]])
    sides = np.unique(np.sort(sides, axis=1), axis=0)
    graph = _symmetric(xy, sides)
    return add_self_loops(graph) if loop else graph


def _symmetric(xy: np.ndarray, pairs: np.ndarray) -> Graph:
    pairs = pairs.reshape(-1, 2)
    edge_index = np.concatenate([pairs.T, pairs.T[::-1]], axis=1)
    distance = np.hypot(*(xy[edge_index[0]] - xy[edge_index[1]]).T)
    order = np.lexsort((edge_index[0], edge_index[1]))  # grouped by target, like knn_graph
    return Graph(np.ascontiguousarray(edge_index[:, order]), distance[order], len(xy))


def add_self_loops(graph: Graph) -> Graph:
    """The graph with one ``i -> i`` edge (distance 0) per node added."""
    loops = np.arange(graph.num_nodes, dtype=np.int64)
    edge_index = np.concatenate([graph.edge_index, np.stack([loops, loops])], axis=1)
    distance = np.concatenate([graph.distance, np.zeros(graph.num_nodes)])
    return Graph(edge_index, distance, graph.num_nodes)


def build_graph(xy: np.ndarray, spec: GraphSpec | str, loop: bool = False) -> Graph:
    """The graph of ``spec`` (a :class:`GraphSpec` or its text) over ``xy``."""
    spec = GraphSpec.parse(spec) if isinstance(spec, str) else spec
    match spec.kind:
        case "knn":
            return knn_graph(xy, spec.k, loop=loop)
        case "radius":
            return radius_graph(xy, spec.radius, loop=loop)
        case "delaunay":
            return delaunay_graph(xy, loop=loop)
    raise ConfigError(f"unknown graph kind {spec.kind!r}")  # pragma: no cover


def gaussian_weights(distance: np.ndarray, scale: float | None = None) -> np.ndarray:
    """``w = exp(-d^2 / (2 s^2))`` with ``s`` the median positive edge length by default.

    The median neighbour distance adapts the kernel to the sampling density, so the same
    graph recipe works for points metres or kilometres apart.
    """
    distance = np.asarray(distance, dtype=np.float64)
    if scale is None:
        scale = median_length(distance)
    return np.exp(-0.5 * (distance / scale) ** 2)


def median_length(distance: np.ndarray) -> float:
    """Median of the positive edge lengths (1.0 when there is none)."""
    positive = distance[distance > 0]
    return float(np.median(positive)) if len(positive) else 1.0


def normalize_by_target(edge_index: np.ndarray, weights: np.ndarray, num_nodes: int) -> np.ndarray:
    """Weights divided by their sum over each target's incoming edges (each sums to 1)."""
    totals = np.bincount(edge_index[1], weights, minlength=num_nodes)
    return weights / np.maximum(totals[edge_index[1]], np.finfo(np.float64).tiny)
