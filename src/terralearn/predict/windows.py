"""Tile layout and blending weights for sliding-window prediction (pure numpy, no I/O).

A raster of ``length`` pixels along an axis is covered by tiles of ``tile`` pixels whose starts
are ``0, stride, 2 * stride, ...`` with ``stride = tile - overlap``; the last start is clamped to
``length - tile`` so every tile lies inside the raster and all tiles have one shape (a raster
shorter than ``tile`` gets one tile of its own length)::

    starts = [0, s, 2s, ..., k s, length - tile]     k s < length - tile

Each tile's prediction is weighted by a separable weight ``w_y[:, None] * w_x[None, :]``. Along
an axis, the weights of two neighbouring tiles over their shared pixels ``[b, a + tile)`` form a
partition of unity:

- ``"constant"``: each pixel belongs to one tile, cut at the middle of the shared span, so a
  pixel is at least ``overlap // 2`` from the edge of the tile it comes from. With an overlap of
  at least the model's receptive field this equals predicting the whole image at once.
- ``"smooth"``: a raised-cosine cross-fade over the whole shared span, ``cos^2`` down in the
  first tile and ``sin^2`` up in the second (they add to 1), so there are no seams.

Edges on the raster's border keep weight 1: there is no neighbour to blend with. With an overlap
above half a tile three tiles can share a pixel and the sums exceed 1; the engine divides by the
summed weights, so any positive weights work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from terralearn.errors import ConfigError
from terralearn.geo import axis_offsets

Blend = Literal["smooth", "constant"]

DEFAULT_TILE_SIZE = 512


def axis_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets of the tiles along one axis (see the module docstring).

    The tiling rule is :func:`terralearn.geo.axis_offsets` (last tile snapped to the edge).

    Args:
        length: raster size along the axis (>= 1).
        tile: tile size (>= 1).
        stride: distance between starts (>= 1).

    Returns:
        Increasing starts; the last tile ends at ``length`` (or the only tile is ``[0, length)``).
    """
    return axis_offsets(length, min(tile, length), stride).tolist()


def axis_weights(starts: list[int], size: int, blend: Blend) -> list[np.ndarray]:
    """One float32 weight vector of ``size`` values per tile along an axis.

    Args:
        starts: tile starts from :func:`axis_starts`.
        size: tile size along this axis (all tiles share it).
        blend: ``"smooth"`` or ``"constant"``.

    Returns:
        Vectors such that the weights of all tiles covering a pixel add up to 1.
    """
    weights = [np.ones(size, dtype=np.float64) for _ in starts]
    for i in range(len(starts) - 1):
        a, b = starts[i], starts[i + 1]
        shared = a + size - b  # pixels [b, a + size) are in both tiles
        if shared <= 0:
            continue
        if blend == "constant":
            cut = shared // 2  # first tile keeps the first half of the shared span
            weights[i][size - shared + cut :] = 0.0
            weights[i + 1][:cut] = 0.0
        else:
            t = (np.arange(shared) + 0.5) / shared  # strictly inside (0, 1): weights stay > 0
            down = np.cos(0.5 * np.pi * t) ** 2
            weights[i][size - shared :] *= down
            weights[i + 1][:shared] *= 1.0 - down
    return [w.astype(np.float32) for w in weights]


@dataclass(frozen=True)
class TileLayout:
    """Tiles covering a ``height x width`` raster.

    Attributes:
        height: raster rows.
        width: raster columns.
        tile_size: requested tile side; tiles are ``tile_h x tile_w`` (smaller on a small raster).
        overlap: pixels shared by neighbouring tiles (at least; the last tile may share more).
        blend: weighting of overlapping predictions.
    """

    height: int
    width: int
    tile_size: int
    overlap: int
    blend: Blend = "smooth"

    def __post_init__(self) -> None:
        check_tiling(self.tile_size, self.overlap)
        if self.blend not in ("smooth", "constant"):
            raise ConfigError(f"blend must be 'smooth' or 'constant', got {self.blend!r}")

    @property
    def stride(self) -> int:
        return self.tile_size - self.overlap

    @property
    def tile_h(self) -> int:
        return min(self.tile_size, self.height)

    @property
    def tile_w(self) -> int:
        return min(self.tile_size, self.width)

    @property
    def row_starts(self) -> list[int]:
        return axis_starts(self.height, self.tile_size, self.stride)

    @property
    def col_starts(self) -> list[int]:
        return axis_starts(self.width, self.tile_size, self.stride)

    @property
    def num_tiles(self) -> int:
        return len(self.row_starts) * len(self.col_starts)

    def row_weights(self) -> list[np.ndarray]:
        return axis_weights(self.row_starts, self.tile_h, self.blend)

    def col_weights(self) -> list[np.ndarray]:
        return axis_weights(self.col_starts, self.tile_w, self.blend)

    def complete_rows(self, row_index: int) -> tuple[int, int]:
        """Rows ``[y0, y1)`` that no tile after tile-row ``row_index`` touches."""
        starts = self.row_starts
        end = starts[row_index + 1] if row_index + 1 < len(starts) else self.height
        return starts[row_index], end


def check_tiling(tile_size: int, overlap: int) -> None:
    """Raise :class:`ConfigError` unless ``0 <= overlap < tile_size``."""
    if isinstance(tile_size, bool) or not isinstance(tile_size, int) or tile_size < 1:
        raise ConfigError(f"--tile-size must be a positive integer, got {tile_size!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise ConfigError(f"--overlap must be an integer >= 0, got {overlap!r}")
    if overlap >= tile_size:
        raise ConfigError(
            f"--overlap {overlap} must be smaller than --tile-size {tile_size}; "
            f"lower the overlap or raise the tile size (e.g. --tile-size {max(2 * overlap, 64)})"
        )


def default_tile_size(chip_size: int | None) -> int:
    """512, or 4x the training chip size kept within [256, 1024] (CPU memory stays modest)."""
    if not chip_size:
        return DEFAULT_TILE_SIZE
    return int(min(max(4 * chip_size, 256), 1024))


def default_overlap(receptive_field: int | None, tile_size: int, align: int = 1) -> int:
    """The receptive field rounded up to a multiple of 32, capped at a quarter of the tile.

    Both are kept multiples of ``align`` (the model's down-sampling factor) when possible, so
    tile starts stay on the model's pooling grid.
    """
    cap = tile_size // 4
    if align > 1 and cap >= align:
        cap -= cap % align
    if not receptive_field:
        return cap
    step = max(32, align)
    return int(min(math.ceil(receptive_field / step) * step, cap))
