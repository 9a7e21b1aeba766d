"""Tiling arithmetic: where the chips of a regular grid sit in an image."""

from __future__ import annotations

import numpy as np

from terralearn.errors import ConfigError
from terralearn.geo.window import Window


def _grid_1d(dim: int, size: int, stride: int) -> np.ndarray:
    n = -(-(dim - size) // stride) + 1  # ceil((dim - size) / stride) + 1
    return np.minimum(np.arange(n, dtype=np.int64) * stride, dim - size)


def chip_offsets(height: int, width: int, size: int, stride: int | None = None) -> np.ndarray:
    """Upper-left offsets of the square chips of a regular grid over an image.

    Along each axis of length ``D`` there are ``n = ceil((D - size) / stride) + 1`` chips with
    offsets ``o_i = min(i * stride, D - size)`` for ``i = 0 .. n - 1``: a regular grid whose last
    chip is snapped to the image edge. So no chip leaves the image, offsets are strictly
    increasing, and when ``stride <= size`` every pixel is covered (chips overlap by
    ``size - stride`` pixels, the last one possibly by more).

    Args:
        height: Image height in pixels.
        width: Image width in pixels.
        size: Chip side in pixels.
        stride: Step between chips in pixels; defaults to ``size`` (no overlap).

    Returns:
        ``(N, 2)`` int64 array of ``[row_off, col_off]``, row-major (rows outer).

    Raises:
        ConfigError: if ``size`` or ``stride`` is < 1, or the chip is larger than the image.
    """
    stride = size if stride is None else stride
    if size < 1:
        raise ConfigError(f"chip size must be >= 1 pixel, got {size}; set a positive chip size")
    if stride < 1:
        raise ConfigError(f"chip stride must be >= 1 pixel, got {stride}; set a positive stride")
    if size > height or size > width:
        raise ConfigError(
            f"chip size {size} is larger than the image ({height} x {width} pixels); "
            "use a chip size no larger than the image's smaller side"
        )
    rows = _grid_1d(int(height), int(size), int(stride))
    cols = _grid_1d(int(width), int(size), int(stride))
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    return np.stack([rr.ravel(), cc.ravel()], axis=1)


def chip_windows(height: int, width: int, size: int, stride: int | None = None) -> list[Window]:
    """The chips of :func:`chip_offsets` as :class:`Window` objects (same order)."""
    return [
        Window(int(r), int(c), size, size) for r, c in chip_offsets(height, width, size, stride)
    ]
