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

``"crop"`` (margin cropping, the default for networks with a finite receptive field) lays tiles
out differently: the raster is cut into **cores** of ``core = tile - overlap`` pixels starting at
``0, core, 2 core, ...`` (the last one shorter), and core ``k`` is predicted by the tile that
starts ``overlap / 2`` pixels before it (at 0 for the first) and is ``tile`` pixels long, or
ends at the raster's edge::

    cores  |  core 0   |  core 1   | core 2 |
    tiles  [  tile 0      ]
                     [-m  tile 1     ]
                                 [-m tile 2]     (shorter: it ends at the raster's edge)

Each pixel comes from exactly one tile, at least ``overlap / 2`` pixels from that tile's edge
unless the edge is the raster's own edge (where a whole-image forward pass has its edge too).
With ``core`` and ``overlap / 2`` multiples of the network's down-sampling factor (the
defaults are), every tile starts on the whole image's pooling grid, and a last tile cut at the
raster's edge is padded by the network exactly as the whole image is.
No weights and no sums: a core is the tile's output, copied. The cores are the chunks of a Zarr
output, so Dask workers can predict and write cores independently (no chunk is written twice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from terralearn.errors import ConfigError
from terralearn.geo import axis_offsets

Blend = Literal["crop", "smooth", "constant"]
BLENDS = ("crop", "smooth", "constant")

DEFAULT_TILE_SIZE = 512  # networks with global context (ViTs): 4x the chip size in [256, 1024]
CROP_TILE_SIZE = 768  # "crop" tiles of a network whose memory is not known (see crop_tile_size)
CROP_OVERLAP = 64  # a 32 px margin each side: see default_overlap
ACTIVATION_BUDGET = 1.25e9  # bytes of activations one "crop" forward may take (crop_tile_size)
HEAP_SLACK = 1.4  # the process's memory for a forward over the tensors alive at its peak
CROP_TILE_STEP = 128  # crop_tile_size rounds down to a multiple of this
CROP_TILE_LIMITS = (512, 2048)
PIXELS_PER_BATCH = 1024 * 1024  # default batch: about one megapixel of tiles


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


def crop_axis(
    length: int, tile: int, overlap: int
) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """Tile starts, tile ends and cores ``[a, b)`` along one axis for ``"crop"`` (see the module
    docstring).

    Args:
        length: raster size along the axis (>= 1).
        tile: tile size (>= 1); a raster no longer than that is one tile and one core.
        overlap: ``tile - core``: twice the margin before each core (but the first).

    Returns:
        ``(starts, ends, cores)``, one each per core; ``start <= a < b <= end <= length``.
    """
    if length <= tile:
        return [0], [length], [(0, length)]
    core, margin = tile - overlap, overlap // 2
    cores = [(a, min(a + core, length)) for a in range(0, length, core)]
    starts = [max(a - margin, 0) for a, _ in cores]
    return starts, [min(start + tile, length) for start in starts], cores


@dataclass(frozen=True)
class TileLayout:
    """Tiles covering a ``height x width`` raster.

    Attributes:
        height: raster rows.
        width: raster columns.
        tile_size: requested tile side; tiles are ``tile_h x tile_w`` (smaller on a small raster).
        overlap: pixels shared by neighbouring tiles (at least; the last tile may share more).
        blend: how overlapping tiles are combined (``"crop"``: one core per tile).
    """

    height: int
    width: int
    tile_size: int
    overlap: int
    blend: Blend = "smooth"

    def __post_init__(self) -> None:
        check_tiling(self.tile_size, self.overlap)
        if self.blend not in BLENDS:
            raise ConfigError(f"--blend must be one of {', '.join(BLENDS)}, got {self.blend!r}")

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
        if self.blend == "crop":
            return self._crop_rows[0]
        return axis_starts(self.height, self.tile_size, self.stride)

    @property
    def col_starts(self) -> list[int]:
        if self.blend == "crop":
            return self._crop_cols[0]
        return axis_starts(self.width, self.tile_size, self.stride)

    @property
    def row_ends(self) -> list[int]:
        """One past each tile row's last row (``"crop"``: the last tile row may be shorter)."""
        if self.blend == "crop":
            return self._crop_rows[1]
        return [start + self.tile_h for start in self.row_starts]

    @property
    def col_ends(self) -> list[int]:
        """One past each tile column's last column."""
        if self.blend == "crop":
            return self._crop_cols[1]
        return [start + self.tile_w for start in self.col_starts]

    # computed once per layout: a Dask client asks for them for every part it submits
    @cached_property
    def _crop_rows(self) -> tuple[list[int], list[int], list[tuple[int, int]]]:
        return crop_axis(self.height, self.tile_size, self.overlap)

    @cached_property
    def _crop_cols(self) -> tuple[list[int], list[int], list[tuple[int, int]]]:
        return crop_axis(self.width, self.tile_size, self.overlap)

    @property
    def row_cores(self) -> list[tuple[int, int]]:
        """``"crop"``: rows ``[a, b)`` each tile row writes."""
        return self._crop_rows[2]

    @property
    def col_cores(self) -> list[tuple[int, int]]:
        """``"crop"``: columns ``[a, b)`` each tile column writes."""
        return self._crop_cols[2]

    @property
    def chunks(self) -> tuple[int, int]:
        """``"crop"``: the core size, the chunk grid on which each tile writes one chunk."""
        return self.row_cores[0][1], self.col_cores[0][1]

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


def default_blend(global_context: bool) -> Blend:
    """``"crop"`` for networks with a finite receptive field, ``"smooth"`` for global context
    (a ViT's output changes with the tile: the cross-fade hides it)."""
    return "smooth" if global_context else "crop"


def default_tile_size(
    chip_size: int | None, blend: Blend = "smooth", activation_bytes: float | None = None
) -> int:
    """``"crop"``: :func:`crop_tile_size` of the network's ``activation_bytes``; else 512, or 4x
    the training chip size within [256, 1024] (a ViT's attention grows with the square of the
    tile's tokens)."""
    if blend == "crop":
        return crop_tile_size(activation_bytes)
    if not chip_size:
        return DEFAULT_TILE_SIZE
    return int(min(max(4 * chip_size, 256), 1024))


def crop_tile_size(activation_bytes: float | None) -> int:
    """The side of the largest ``"crop"`` tile whose forward pass fits in
    :data:`ACTIVATION_BUDGET`, given the bytes per input pixel of the tensors the network holds
    at once (:meth:`terralearn.predict.Predictor.activation_bytes`; None:
    :data:`CROP_TILE_SIZE`) times :data:`HEAP_SLACK`.

    Larger tiles forward fewer margin pixels twice (768 px tiles with 32 px margins forward
    1.19x the pixels, 1792 px tiles 1.07x), but a forward's memory grows with the tile's area.
    The slack is what the process holds beyond the live tensors: glibc keeps freed
    activations for reuse (:mod:`terralearn._memory`), and blocks of other sizes fragment its
    heap. Measured on a forward's first pass with the inference rewrites
    (:mod:`terralearn.models.fold`): 0.94x for ``unet_small`` (272 B/px alive, counting the
    probe's float32 input), 1.7-1.9x for ``unet`` (488 B/px). So a cheap, narrow network gets
    large tiles (``unet_small``: 1792 px, 0.82 GB) and a wide one smaller tiles (``unet``:
    1280 px, 1.34 GB); the wider one also spends more time per pixel, so its margins cost
    relatively less. Rounded down to :data:`CROP_TILE_STEP`, within :data:`CROP_TILE_LIMITS`.
    """
    if not activation_bytes or activation_bytes <= 0:
        return CROP_TILE_SIZE
    side = math.sqrt(ACTIVATION_BUDGET / (HEAP_SLACK * activation_bytes))
    side = int(side // CROP_TILE_STEP) * CROP_TILE_STEP
    low, high = CROP_TILE_LIMITS
    return min(max(side, low), high)


def default_batch_size(tile_h: int, tile_w: int) -> int:
    """Tiles per forward pass: about :data:`PIXELS_PER_BATCH` pixels, at least one tile."""
    return max(1, PIXELS_PER_BATCH // max(tile_h * tile_w, 1))


def default_overlap(
    receptive_field: int | None, tile_size: int, align: int = 1, blend: Blend = "smooth"
) -> int:
    """``"crop"``: :data:`CROP_OVERLAP` (at most a quarter of the tile). Otherwise the
    receptive field rounded up to a multiple of 32, capped at a quarter of the tile.

    Both are kept multiples of ``align`` (the model's down-sampling factor) when possible, so
    tile starts stay on the model's pooling grid. The crop margin is below half the theoretical
    receptive field of a U-Net (116 px for ``unet_small``, 236 for ``unet``): what a pixel
    depends on decays fast away from it, and ``benchmarks/predict.py`` measures the agreement
    with a whole-image forward pass (the seam check: at least 99.9 % of pixels).
    """
    cap = tile_size // 4
    if blend == "crop":
        return _aligned(min(CROP_OVERLAP, cap), align)
    if align > 1 and cap >= align:
        cap -= cap % align
    if not receptive_field:
        return cap
    step = max(32, align)
    return int(min(math.ceil(receptive_field / step) * step, cap))


def _aligned(overlap: int, align: int) -> int:
    """``overlap`` rounded down to a multiple of ``2 * align`` when that stays positive, so the
    margin (half the overlap) keeps tile starts on the model's grid."""
    step = 2 * align
    return overlap - overlap % step if align > 1 and overlap >= step else overlap
