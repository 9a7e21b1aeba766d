"""Conversions between pixel windows and world coordinates.

Windows are rasterio's ``rasterio.windows.Window(col_off, row_off, width, height)``, the one window
type of terralearn (columns first, as in rasterio and GDAL); a window covers rows
``row_off .. row_off + height - 1``. Pixel convention (GDAL/rasterio "pixel is area"): pixel
``(row, col)`` covers the half-open square ``[col, col + 1) x [row, row + 1)`` in pixel space, and
``transform * (col, row)`` maps pixel-space points to world coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from affine import Affine
from rasterio.windows import Window

# pixel-space offsets of the named points of a pixel, as (d_col, d_row)
_OFFSETS: dict[str, tuple[float, float]] = {
    "center": (0.5, 0.5),
    "ul": (0.0, 0.0),
    "ur": (1.0, 0.0),
    "ll": (0.0, 1.0),
    "lr": (1.0, 1.0),
}

# how far (in pixels) bounds may sit from the pixel grid and still be snapped onto it
GRID_TOLERANCE = 1e-6


def _apply(transform: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``transform`` applied to arrays of points (affine's ``*`` on tuples is deprecated)."""
    a, b, c, d, e, f = transform[:6]
    return a * x + b * y + c, d * x + e * y + f


def _check_rectilinear(transform: Affine) -> None:
    if transform.b != 0 or transform.d != 0:
        raise ValueError(f"transform is rotated or sheared (b={transform.b}, d={transform.d})")
    if transform.a == 0 or transform.e == 0:
        raise ValueError(f"transform has a zero pixel size (a={transform.a}, e={transform.e})")


def window_bounds(window: Window, transform: Affine) -> tuple[float, float, float, float]:
    """World bounds ``(minx, miny, maxx, maxy)`` of a window.

    Works for north-up (``e < 0``), south-up (``e > 0``) and, via the envelope of the four corners,
    rotated transforms.
    """
    cols = np.array([window.col_off, window.col_off + window.width] * 2, dtype=np.float64)
    rows = np.array([window.row_off] * 2 + [window.row_off + window.height] * 2, dtype=np.float64)
    if transform.b == 0 and transform.d == 0:
        # same formula as bounds_window inverts, so the round trip is exact
        xs = transform.c + cols * transform.a
        ys = transform.f + rows * transform.e
    else:
        xs, ys = _apply(transform, cols, rows)
    return (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))


def _snap(value: float, what: str) -> int:
    nearest = round(value)
    if abs(value - nearest) > GRID_TOLERANCE:
        raise ValueError(
            f"bounds are off the pixel grid: {what} falls at pixel {value!r}, "
            f"more than {GRID_TOLERANCE} px from an edge"
        )
    return int(nearest)


def bounds_window(bounds: Sequence[float], transform: Affine) -> Window:
    """The window whose :func:`window_bounds` are ``bounds`` (the exact inverse).

    Bounds edges are snapped to the nearest pixel edge.

    Raises:
        ValueError: if an edge is more than ``GRID_TOLERANCE`` (1e-6) pixels from a pixel edge,
            if ``minx > maxx`` or ``miny > maxy``, or if the transform is rotated or degenerate.
    """
    _check_rectilinear(transform)
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    if minx > maxx or miny > maxy:
        raise ValueError(f"bounds must be (minx, miny, maxx, maxy) with min <= max, got {bounds}")
    # direct division instead of ~transform: fewer rounding steps, so exact windows come back exact
    c0, c1 = sorted(((minx - transform.c) / transform.a, (maxx - transform.c) / transform.a))
    r0, r1 = sorted(((miny - transform.f) / transform.e, (maxy - transform.f) / transform.e))
    col0, col1 = _snap(c0, "left/right edge"), _snap(c1, "left/right edge")
    row0, row1 = _snap(r0, "top/bottom edge"), _snap(r1, "top/bottom edge")
    return Window(col0, row0, col1 - col0, row1 - row0)


def xy_to_rowcol(
    transform: Affine, x: np.ndarray | float, y: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel ``(row, col)`` (int64 arrays) containing world points ``(x, y)``.

    A point on a pixel edge belongs to the pixel after it (half-open pixels); a 1e-9 px tolerance
    absorbs floating-point error so points computed from pixel edges land in the right pixel.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if transform.b == 0 and transform.d == 0:
        _check_rectilinear(transform)
        cols = (x - transform.c) / transform.a
        rows = (y - transform.f) / transform.e
    else:
        cols, rows = _apply(~transform, x, y)
    eps = 1e-9
    return (
        np.floor(rows + eps).astype(np.int64),
        np.floor(cols + eps).astype(np.int64),
    )


def rowcol_to_xy(
    transform: Affine,
    row: np.ndarray | float,
    col: np.ndarray | float,
    offset: Literal["center", "ul", "ur", "ll", "lr"] = "center",
) -> tuple[np.ndarray, np.ndarray]:
    """World ``(x, y)`` (float64 arrays) of a named point of pixels ``(row, col)``.

    Args:
        transform: Affine pixel-to-world transform.
        row: Pixel rows.
        col: Pixel columns.
        offset: Which point of the pixel: its centre or a corner (upper/lower, left/right in pixel
            space).
    """
    if offset not in _OFFSETS:
        raise ValueError(f"offset must be one of {sorted(_OFFSETS)}, got {offset!r}")
    dc, dr = _OFFSETS[offset]
    cols = np.asarray(col, dtype=np.float64) + dc
    rows = np.asarray(row, dtype=np.float64) + dr
    xs, ys = _apply(transform, cols, rows)
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
