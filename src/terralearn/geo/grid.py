"""Tiling arithmetic: where the windows of a regular grid sit along an axis and in an image.

:func:`axis_offsets` is the one tiling rule: chip grids (:func:`chip_offsets`), prediction tiles
(:mod:`terralearn.predict.windows`) and Earth Engine requests (:mod:`terralearn.io.ee_fetch`)
all take their starts from it.
"""

from __future__ import annotations

import numpy as np
from rasterio.windows import Window

from terralearn.errors import ConfigError


def axis_offsets(
    length: int, size: int, stride: int | None = None, *, snap: bool = True
) -> np.ndarray:
    """Starts of the windows of ``size`` pixels, ``stride`` pixels apart, along an axis.

    With ``snap`` (chips, prediction tiles) there are ``n = ceil((length - size) / stride) + 1``
    windows at ``o_i = min(i * stride, length - size)``: a regular grid whose last window is
    moved back to end at ``length``, so every window lies inside the axis (``size <= length``)
    and, when ``stride <= size``, every pixel is covered. Without ``snap`` (requests aligned to
    chunks of ``stride``) the starts are every multiple of ``stride`` below ``length``; the
    caller cuts the last window at the edge.

    Args:
        length: Axis length in pixels.
        size: Window length in pixels (>= 1; at most ``length`` when snapping).
        stride: Step between starts in pixels (>= 1); defaults to ``size`` (no overlap).
        snap: Move the last window back inside the axis.

    Returns:
        Strictly increasing int64 starts, the first 0.
    """
    stride = size if stride is None else stride
    if not snap:
        return np.arange(0, length, stride, dtype=np.int64)
    n = -(-(length - size) // stride) + 1  # ceil((length - size) / stride) + 1
    return np.minimum(np.arange(n, dtype=np.int64) * stride, length - size)


def chip_offsets(height: int, width: int, size: int, stride: int | None = None) -> np.ndarray:
    """Upper-left offsets of the square chips of a regular grid over an image.

    Along each axis the offsets are :func:`axis_offsets` (last chip snapped to the image edge):
    no chip leaves the image, offsets are strictly increasing, and when ``stride <= size`` every
    pixel is covered (chips overlap by ``size - stride`` pixels, the last one possibly by more).

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
    rows = axis_offsets(int(height), int(size), int(stride))
    cols = axis_offsets(int(width), int(size), int(stride))
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    return np.stack([rr.ravel(), cc.ravel()], axis=1)


def chip_windows(height: int, width: int, size: int, stride: int | None = None) -> list[Window]:
    """The chips of :func:`chip_offsets` as rasterio windows ``Window(col_off, row_off, w, h)``."""
    return [
        Window(int(c), int(r), size, size) for r, c in chip_offsets(height, width, size, stride)
    ]
