"""Pure geometry: pixel windows, pixel <-> world conversions, chip tiling; the GDAL cache policy.

The window type is rasterio's ``Window(col_off, row_off, width, height)`` (re-exported here).
"""

from rasterio.windows import Window

from terralearn.geo.gdal import PREPARE_CACHE, READ_CACHE, gdal_env
from terralearn.geo.grid import axis_offsets, chip_offsets, chip_windows
from terralearn.geo.window import bounds_window, rowcol_to_xy, window_bounds, xy_to_rowcol

__all__ = [
    "PREPARE_CACHE",
    "READ_CACHE",
    "Window",
    "axis_offsets",
    "bounds_window",
    "chip_offsets",
    "chip_windows",
    "gdal_env",
    "rowcol_to_xy",
    "window_bounds",
    "xy_to_rowcol",
]
