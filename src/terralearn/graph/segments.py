"""Image segments as graph nodes: the segment table, region adjacency, labels and rasters.

For object-based image analysis (the superpixels themselves come from
:func:`terralearn.graph.objects.superpixels`): two segments are adjacent when they share a pixel
edge (4-connectivity); class labels per segment are the majority label of its pixels, and
segment predictions map back to a raster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from terralearn.graph.build import Graph
from terralearn.pixels import NO_LABEL


@dataclass
class Segments:
    """Superpixels of an image.

    Attributes:
        labels: ``(H, W)`` int64 segment id per pixel (``-1`` where the image is invalid).
        features: ``(S, 2 * bands)`` band means then band standard deviations.
        centroids: ``(S, 2)`` (x, y) of each segment in pixel units (x right, y up).
        sizes: ``(S,)`` pixels per segment.
    """

    labels: np.ndarray
    features: np.ndarray
    centroids: np.ndarray
    sizes: np.ndarray

    @property
    def count(self) -> int:
        return len(self.sizes)


def region_adjacency(labels: np.ndarray) -> Graph:
    """Symmetric edges between segments sharing a pixel edge; distance between centroids.

    Shapes:
        - labels: ``(H, W)`` ids ``0 .. S - 1`` (``-1`` ignored); edge_index: ``(2, E)``.
    """
    pairs = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        keep = (a != b) & (a >= 0) & (b >= 0)
        pairs.append(np.stack([a[keep], b[keep]], axis=1))
    pairs = np.unique(np.sort(np.concatenate(pairs), axis=1), axis=0)
    edge_index = np.concatenate([pairs.T, pairs.T[::-1]], axis=1).astype(np.int64)
    count = int(labels.max()) + 1
    seg = labels[labels >= 0]
    rows, cols = np.nonzero(labels >= 0)
    sizes = np.bincount(seg, minlength=count)
    centre = np.column_stack(
        [np.bincount(seg, cols, count) / sizes, np.bincount(seg, rows, count) / sizes]
    )
    distance = np.hypot(*(centre[edge_index[0]] - centre[edge_index[1]]).T)
    return Graph(edge_index, distance, count)


def segment_labels(
    labels: np.ndarray, pixel_classes: np.ndarray, ignore: int = NO_LABEL
) -> np.ndarray:
    """Majority class of each segment's labelled pixels (``-1`` when it has none)."""
    ok = (labels >= 0) & (pixel_classes != ignore)
    count = int(labels.max()) + 1
    num_classes = int(pixel_classes[ok].max()) + 1 if ok.any() else 1
    votes = np.zeros((count, num_classes), dtype=np.int64)
    np.add.at(votes, (labels[ok], pixel_classes[ok].astype(np.int64)), 1)
    out = votes.argmax(axis=1)
    out[votes.sum(axis=1) == 0] = -1
    return out


def to_raster(labels: np.ndarray, values: np.ndarray, fill: float | int = NO_LABEL) -> np.ndarray:
    """Per-segment ``values`` painted on the pixels of each segment (``fill`` elsewhere)."""
    values = np.asarray(values)
    out = np.full(labels.shape, fill, dtype=np.result_type(values.dtype, np.min_scalar_type(fill)))
    ok = labels >= 0
    out[ok] = values[labels[ok]]
    return out
