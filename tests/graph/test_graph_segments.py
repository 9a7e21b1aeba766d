"""Superpixels, region adjacency against brute force, and mapping back to a raster."""

from __future__ import annotations

import numpy as np

from terralearn.graph.objects import superpixels
from terralearn.graph.segments import region_adjacency, segment_labels, to_raster


def test_region_adjacency_of_a_known_layout():
    labels = np.array([[0, 0, 1], [2, 2, 1], [2, 3, 3]])
    graph = region_adjacency(labels)
    edges = set(map(tuple, graph.edge_index.T.tolist()))
    assert edges == {(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1), (1, 3), (3, 1), (2, 3), (3, 2)}
    assert graph.num_nodes == 4


def test_slic_on_two_halves_and_back_to_raster():
    image = np.zeros((2, 40, 40))
    image[:, :, 20:] = 10.0
    image += np.random.default_rng(0).normal(0, 0.1, image.shape)
    seg = superpixels(image, n_segments=8).segments
    # no segment straddles the edge between the halves
    for s in range(seg.count):
        cols = np.nonzero(seg.labels == s)[1]
        assert cols.max() < 20 or cols.min() >= 20
    np.testing.assert_array_equal(seg.sizes, np.bincount(seg.labels.ravel()))
    assert seg.features.shape == (seg.count, 4)
    classes = np.zeros((40, 40), np.uint8)
    classes[:, 20:] = 1
    per_segment = segment_labels(seg.labels, classes)
    np.testing.assert_array_equal(to_raster(seg.labels, per_segment), classes)
    # features: band means of the right half are 10
    right = per_segment == 1
    np.testing.assert_allclose(seg.features[right, 0], 10.0, atol=0.1)


def test_invalid_pixels_are_not_segmented():
    image = np.random.default_rng(0).normal(size=(1, 20, 20))
    image[:, :5] = np.nan
    seg = superpixels(image, n_segments=4).segments
    assert (seg.labels[:5] == -1).all() and (seg.labels[5:] >= 0).all()
    assert to_raster(seg.labels, np.arange(seg.count))[0, 0] == 255
