"""Image segments as graph nodes: SLIC superpixels, region adjacency, per-segment features.

For object-based image analysis: a ``(bands, H, W)`` image is cut into superpixels with
scikit-image's SLIC; two segments are adjacent when they share a pixel edge (4-connectivity);
each segment's node features are the mean and standard deviation of every band. Class labels
per segment are the majority label of its pixels, and segment predictions map back to a raster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from terralearn.errors import ConfigError
from terralearn.graph.build import Graph


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


def slic_segments(
    image: np.ndarray,
    n_segments: int = 500,
    compactness: float = 0.1,
    valid: np.ndarray | None = None,
    seed: int = 0,
) -> Segments:
    """Superpixels of a ``(bands, H, W)`` image with SLIC on standardised bands.

    Args:
        n_segments: approximate number of segments.
        compactness: SLIC's colour/space trade-off (bands are standardised to unit variance).
        valid: ``(H, W)`` mask of usable pixels (default: all finite).
    """
    from skimage.segmentation import slic

    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3:
        raise ConfigError(f"segments need a (bands, height, width) image, got shape {image.shape}")
    if valid is None:
        valid = np.isfinite(image).all(axis=0)
    if not valid.any():
        raise ConfigError("the image has no valid pixel to segment")
    mean = np.array([b[valid].mean() for b in image])
    std = np.array([b[valid].std() or 1.0 for b in image])
    scaled = (np.where(valid, image, mean[:, None, None]) - mean[:, None, None]) / std[
        :, None, None
    ]
    raw = slic(
        np.moveaxis(scaled, 0, -1), n_segments=n_segments, compactness=compactness,
        channel_axis=-1, mask=valid, start_label=0, enforce_connectivity=True,
    )  # fmt: skip
    raw = np.where(valid, raw, -1)
    ids, labels = np.unique(raw, return_inverse=True)
    labels = labels.reshape(raw.shape) - (1 if ids[0] == -1 else 0)
    labels[~valid] = -1
    return _describe(image, labels)


def _describe(image: np.ndarray, labels: np.ndarray) -> Segments:
    ok = labels >= 0
    seg = labels[ok]
    count = int(seg.max()) + 1
    sizes = np.bincount(seg, minlength=count).astype(np.float64)
    means, stds = [], []
    for band in image:
        values = band[ok]
        m = np.bincount(seg, values, count) / sizes
        sq = np.bincount(seg, values**2, count) / sizes
        means.append(m)
        stds.append(np.sqrt(np.maximum(sq - m**2, 0)))
    rows, cols = np.nonzero(ok)
    cx = np.bincount(seg, cols + 0.5, count) / sizes
    cy = np.bincount(seg, labels.shape[0] - rows - 0.5, count) / sizes
    return Segments(labels, np.column_stack(means + stds), np.column_stack([cx, cy]), sizes)


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


def segment_labels(labels: np.ndarray, pixel_classes: np.ndarray, ignore: int = 255) -> np.ndarray:
    """Majority class of each segment's labelled pixels (``-1`` when it has none)."""
    ok = (labels >= 0) & (pixel_classes != ignore)
    count = int(labels.max()) + 1
    num_classes = int(pixel_classes[ok].max()) + 1 if ok.any() else 1
    votes = np.zeros((count, num_classes), dtype=np.int64)
    np.add.at(votes, (labels[ok], pixel_classes[ok].astype(np.int64)), 1)
    out = votes.argmax(axis=1)
    out[votes.sum(axis=1) == 0] = -1
    return out


def to_raster(labels: np.ndarray, values: np.ndarray, fill: float | int = 255) -> np.ndarray:
    """Per-segment ``values`` painted on the pixels of each segment (``fill`` elsewhere)."""
    values = np.asarray(values)
    out = np.full(labels.shape, fill, dtype=np.result_type(values.dtype, np.min_scalar_type(fill)))
    ok = labels >= 0
    out[ok] = values[labels[ok]]
    return out
