"""Graph builders against brute force on small inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import Delaunay

from terralearn.errors import ConfigError
from terralearn.graph.build import (
    GraphSpec,
    build_graph,
    delaunay_graph,
    gaussian_weights,
    knn_graph,
    knn_neighbors,
    normalize_by_target,
    radius_graph,
)


def edge_set(graph) -> set[tuple[int, int]]:
    return set(map(tuple, graph.edge_index.T.tolist()))


@pytest.fixture
def xy() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 100, (60, 2))


def brute_distances(xy):
    return np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))


def test_knn_graph_matches_brute_force(xy):
    d = brute_distances(xy)
    np.fill_diagonal(d, np.inf)
    expected = {(int(j), i) for i in range(len(xy)) for j in np.argsort(d[i])[:5]}
    graph = knn_graph(xy, k=5)
    assert graph.num_edges == 60 * 5
    assert edge_set(graph) == expected
    src, dst = graph.edge_index
    np.testing.assert_allclose(graph.distance, d[src, dst])
    assert not (src == dst).any()


def test_knn_graph_self_loops_only_when_asked(xy):
    graph = knn_graph(xy, k=3, loop=True)
    src, dst = graph.edge_index
    assert (src == dst).sum() == 60
    assert graph.num_edges == 60 * 4


def test_knn_excludes_self_with_duplicates():
    xy = np.array([[0, 0], [0, 0], [0, 0], [5, 5], [9, 9]], dtype=float)
    dist, idx = knn_neighbors(xy, 2)
    assert not (idx == np.arange(5)[:, None]).any()
    np.testing.assert_array_equal(dist[:3], 0.0)


def test_knn_query_points(xy):
    query = np.array([[50.0, 50.0], [0.0, 0.0]])
    dist, idx = knn_neighbors(xy, 4, query=query)
    brute = np.hypot(*(xy[None] - query[:, None]).transpose(2, 0, 1))
    np.testing.assert_array_equal(idx, np.argsort(brute, axis=1)[:, :4])
    np.testing.assert_allclose(dist, np.sort(brute, axis=1)[:, :4])


def test_fewer_points_than_k():
    with pytest.raises(
        ConfigError, match=r"knn:8 graph needs at least 9 points, got 5; use a smaller k"
    ):
        knn_graph(np.zeros((5, 2)) + np.arange(5)[:, None], k=8)


def test_radius_graph_matches_brute_force(xy):
    d = brute_distances(xy)
    i, j = np.nonzero((d <= 15) & ~np.eye(60, dtype=bool))
    graph = radius_graph(xy, 15)
    assert edge_set(graph) == set(zip(j.tolist(), i.tolist(), strict=True))
    assert edge_set(graph) == {(b, a) for a, b in edge_set(graph)}


def test_delaunay_edges_symmetric_and_match_scipy(xy):
    graph = delaunay_graph(xy)
    edges = edge_set(graph)
    assert edges == {(b, a) for a, b in edges}
    assert all(a != b for a, b in edges)
    expected = set()
    for tri in Delaunay(xy).simplices:
        for a in tri:
            for b in tri:
                if a != b:
                    expected.add((int(a), int(b)))
    assert edges == expected


def test_delaunay_collinear_points_error():
    xy = np.column_stack([np.arange(5.0), np.arange(5.0)])
    with pytest.raises(ConfigError, match="collinear"):
        delaunay_graph(xy)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("knn:8", GraphSpec("knn", k=8)), ("knn", GraphSpec("knn", k=8)), ("knn:3", GraphSpec("knn", k=3)),
     ("radius:250.5", GraphSpec("radius", radius=250.5)), ("delaunay", GraphSpec("delaunay"))],
)  # fmt: skip
def test_graph_spec_parse(text, expected):
    assert GraphSpec.parse(text) == expected
    assert GraphSpec.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["knn:0", "knn:2.5", "radius", "radius:-1", "delaunay:3", "grid"])
def test_graph_spec_rejects(text):
    with pytest.raises(ConfigError, match=rf"--graph '{text}'.*use knn:K"):
        GraphSpec.parse(text)


def test_build_graph_dispatch(xy):
    assert edge_set(build_graph(xy, "knn:4")) == edge_set(knn_graph(xy, 4))
    assert edge_set(build_graph(xy, "delaunay")) == edge_set(delaunay_graph(xy))


def test_gaussian_weights_and_normalisation():
    d = np.array([0.0, 1.0, 2.0, 3.0])
    w = gaussian_weights(d)  # median positive length 2
    np.testing.assert_allclose(w, np.exp(-0.5 * (d / 2.0) ** 2))
    edge_index = np.array([[0, 1, 2, 3], [4, 4, 5, 5]])
    norm = normalize_by_target(edge_index, w, 6)
    np.testing.assert_allclose(np.bincount(edge_index[1], norm, 6)[4:], [1.0, 1.0])
