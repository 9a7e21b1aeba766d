"""Pure geometry: pixel windows, pixel <-> world conversions and chip tiling (no I/O)."""

from terralearn.geo.grid import chip_offsets, chip_windows
from terralearn.geo.window import (
    Window,
    bounds_window,
    rowcol_to_xy,
    window_bounds,
    xy_to_rowcol,
)

__all__ = [
    "Window",
    "bounds_window",
    "chip_offsets",
    "chip_windows",
    "rowcol_to_xy",
    "window_bounds",
    "xy_to_rowcol",
]
