"""Mini-batch neighbourhoods, masks and validation cells of the interpolating GNN."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from terralearn.graph.batches import (
    Nodes,
    ObservedGraph,
    Scaling,
    make_batch,
    random_mask,
    validation_cells,
    variogram_guess,
)
from terralearn.graph.build import GraphSpec
from terralearn.graph.fields import gaussian_random_field, sample_field


def nodes(xy, values=None):
    n = len(xy)
    return Nodes(xy, np.zeros((n, 0)), xy / 100, None if values is None else values[:, None])


def nearest(reference, points, k, exclude_self=False):
    d = np.linalg.norm(points[:, None] - reference[None], axis=2)
    if exclude_self:
        d[d == 0] = np.inf
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def test_batch_matches_brute_force_neighbours():
    rng = np.random.default_rng(0)
    obs_xy, query_xy = rng.uniform(0, 100, (60, 2)), rng.uniform(0, 100, (7, 2))
    values = rng.normal(size=60)
    graph = ObservedGraph(obs_xy, GraphSpec("knn", k=3))
    batch = make_batch(nodes(obs_xy, values), graph, nodes(query_xy), 2.0, kriging_neighbors=5)
    # kriging: the 4 nearest observed points and the nearest of the 60 // 16 coarse ones,
    # offsets in units of length 2
    assert len(graph.coarse) == 3
    coarse = graph.coarse[nearest(obs_xy[graph.coarse], query_xy, 1)]
    near = np.concatenate([nearest(obs_xy, query_xy, 4), coarse], axis=1)
    np.testing.assert_allclose(batch.krig_values[..., 0].numpy(), values[near], rtol=1e-6)
    repeated = (near[:, 4:] == near[:, :4]).any(axis=1)
    valid = np.ones((7, 5), bool) if batch.krig_valid is None else batch.krig_valid.numpy()
    np.testing.assert_array_equal(valid[:, 4], ~repeated)
    assert valid[:, :4].all()
    np.testing.assert_allclose(
        batch.krig_offsets.numpy(), (obs_xy[near] - query_xy[:, None]) / 2, rtol=1e-5
    )
    # GNN subgraph: queries first, then observed members; every edge from an observed node
    index = batch.edges.index.numpy()
    members = np.unique(nearest(obs_xy, query_xy, 3))
    into_members = nearest(obs_xy, obs_xy[members], 3, exclude_self=True)
    members = np.unique(np.concatenate([members, into_members.ravel()]))
    assert len(batch.observed_inputs) == len(members)
    assert (index[0] >= 7).all()
    for q in range(7):
        src = members[index[0][index[1] == q] - 7]
        assert sorted(src) == sorted(nearest(obs_xy, query_xy[q : q + 1], 3)[0])
    # observed rows: value, no uncertainty, observed flag
    np.testing.assert_allclose(batch.observed_inputs[:, 0].numpy(), values[members], rtol=1e-6)
    assert (batch.observed_inputs[:, 1:].numpy() == [0.0, 1.0]).all()
    attr = batch.edges.attr.numpy()
    np.testing.assert_allclose(attr[:, 0], np.hypot(attr[:, 1], attr[:, 2]), rtol=1e-5)
    assert not batch.edges.index[0].eq(batch.edges.index[1]).any()  # no self-loops


def test_kriging_only_batch_has_no_subgraph():
    xy = np.random.default_rng(1).uniform(0, 10, (20, 2))
    graph = ObservedGraph(xy[:15], GraphSpec("delaunay"))
    batch = make_batch(nodes(xy[:15], xy[:15, 0]), graph, nodes(xy[15:]), 1.0, 32, False)
    assert batch.krig_offsets.shape == (5, 15, 2) and batch.edges is None
    full = make_batch(nodes(xy[:15], xy[:15, 0]), graph, nodes(xy[15:]), 1.0, 32)
    assert (np.bincount(full.edges.index[1].numpy(), minlength=5)[:5] == 3).all()


def scaling(extent=100.0):
    return Scaling([0.0, 0.0], extent, 1.0, 0.0, 1.0, [], [])


def test_random_mask_hides_points_or_whole_cells():
    rng = np.random.default_rng(2)
    xy = np.random.default_rng(3).uniform(0, 100, (4000, 2))
    points = random_mask(xy, scaling(), 0.25, 9, rng, cells=False)
    assert 0.2 < 1 - points.mean() < 0.3
    together = []
    for _ in range(10):
        observed = random_mask(xy, scaling(), 0.25, 9, rng, cells=True)
        assert observed.sum() >= 9 and not observed.all()
        near = nearest(xy, xy[~observed], 1, exclude_self=True)[:, 0]
        together.append((~observed[near]).mean())
    # whole cells: a hidden point's nearest neighbour is hidden far more often than by chance
    assert np.mean(together) > 0.6


def test_validation_cells_are_whole_cells():
    rng = np.random.default_rng(4)
    xy = np.random.default_rng(5).uniform(0, 100, (2000, 2))
    cell = validation_cells(xy, scaling(), 0.15, 100, rng)
    val = cell >= 0
    assert 0.15 <= val.mean() < 0.25
    grid = np.floor(xy / 20).astype(int)  # VAL_CELLS = 5 per side of the extent
    for c in np.unique(cell[val]):
        squares = np.unique(grid[cell == c], axis=0)
        assert len(squares) == 1  # one square per cell id ...
        inside = (grid == squares[0]).all(axis=1)
        assert (cell[inside] == c).all()  # ... and all of its points
    assert (validation_cells(xy, scaling(), 0.15, 1990, rng) == -1).all()  # too few left
    assert (validation_cells(xy, scaling(), 0.0, 100, rng) == -1).all()


def test_coarse_neighbours_reach_farther():
    xy = np.random.default_rng(6).uniform(0, 100, (2000, 2))
    graph = ObservedGraph(xy, GraphSpec("knn", k=8), seed=1)
    assert len(graph.coarse) == 125 and len(np.unique(graph.coarse)) == 125
    query = np.array([[50.0, 50.0], [3.0, 97.0]])
    idx, valid, nearest_count = graph.kriging_neighbors(query, 32)
    assert idx.shape == valid.shape == (2, 32) and nearest_count == 24
    np.testing.assert_array_equal(idx[:, :24], nearest(xy, query, 24))
    assert np.isin(idx[:, 24:], graph.coarse).all()
    dist = np.linalg.norm(xy[idx] - query[:, None], axis=2)
    for q in range(2):  # the 8 coarse ones reach about sqrt(16 * 8 / 24) = 2.3 times farther
        assert np.median(dist[q, 24:][valid[q, 24:]]) > dist[q, :24].max()


def test_variogram_guess_recovers_a_gaussian_covariance():
    field = gaussian_random_field(128, 6.0, seed=2)
    pts, _ = sample_field(field, 3000, seed=3, noise=0.05)
    d, _ = cKDTree(pts.xy).query(pts.xy, k=9)
    length = float(np.median(d[:, 1:]))
    s = Scaling([0.0, 0.0], 128.0, length, 0.0, 1.0, [], [])
    guess = variogram_guess(pts.xy, pts.target, s, np.random.default_rng(0))
    # exp(-r^2 / (2 l^2)) = exp(-(r / a)^2) with a = l sqrt(2), in units of length
    assert guess["range"] * length == pytest.approx(6 * np.sqrt(2), rel=0.2)
    assert guess["shape"] > 1.6 and guess["nugget"] < 0.02
    flat = variogram_guess(pts.xy[:10], pts.target[:10], s, np.random.default_rng(0))
    assert flat == {"range": 3.0, "shape": 1.0, "nugget": 0.05}  # too few pairs: defaults
