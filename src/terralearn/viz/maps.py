"""Whole-scene maps: class maps (optionally beside the image) and scalar maps (uncertainty)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps

from terralearn.errors import ConfigError
from terralearn.pixels import NO_LABEL
from terralearn.viz._figure import DEFAULT_DPI, NODATA_RGBA, as_numpy, new_figure, save_figure
from terralearn.viz.colors import class_colormap, nodata_handle
from terralearn.viz.panels import mask_classes

MAP_WIDTH_INCHES = 6.0  # width of one map panel
LEGEND_WIDTH_INCHES = 2.0
COLORBAR_WIDTH_INCHES = 1.2


def overview(array, max_size: int = 1024, channels_last: bool = False):
    """Strided decimation so that neither spatial side exceeds ``max_size`` (cheap, lazy-safe).

    The last two axes are (rows, cols), or the two before the last with ``channels_last``
    (an (H, W, 3) RGB image). The same step is used on both axes, keeping the aspect ratio.
    Works on numpy, dask and xarray arrays; returns the same type (a view when possible).
    """
    if max_size < 1:
        raise ConfigError(f"overview: max_size is {max_size}; give a positive number of pixels")
    h, w = array.shape[-3:-1] if channels_last else array.shape[-2:]
    step = max(1, math.ceil(max(h, w) / max_size))
    if step == 1:
        return array
    if channels_last:
        return array[..., ::step, ::step, :]
    return array[..., ::step, ::step]


def _panel_height(h: int, w: int) -> float:
    return MAP_WIDTH_INCHES * float(np.clip(h / max(w, 1), 0.3, 1.6))


def map_figsize(h: int, w: int, panels: int, extra_width: float) -> tuple[float, float]:
    """Figure size in inches: ``panels`` map panels of aspect h/w plus a legend or colorbar."""
    return MAP_WIDTH_INCHES * panels + extra_width, _panel_height(h, w) + 0.8


def _extent(extent) -> list[float] | None:
    """Matplotlib extent (left, right, bottom, top); also accepts a rasterio BoundingBox."""
    if extent is None:
        return None
    if hasattr(extent, "left") and hasattr(extent, "top"):
        return [extent.left, extent.right, extent.bottom, extent.top]
    values = [float(v) for v in extent]
    if len(values) != 4:
        raise ConfigError(f"map extent {extent!r} needs 4 numbers (left, right, bottom, top)")
    return values


def _style(ax, extent) -> None:
    if extent is None:
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.set_xlabel("x (map units)")
        ax.set_ylabel("y (map units)")
        ax.tick_params(labelsize=7)
        ax.ticklabel_format(useOffset=False, style="plain")


def class_fractions(
    classes_arr: np.ndarray, classes: Mapping[int, str], nodata: int | None = NO_LABEL
) -> dict[int, float]:
    """Share of each class id among the non-nodata pixels (0 when absent)."""
    arr = np.asarray(classes_arr).ravel()
    if nodata is not None:
        arr = arr[arr != nodata]
    if arr.size == 0:
        return dict.fromkeys(classes, 0.0)
    return {int(i): float(np.count_nonzero(arr == i)) / arr.size for i in classes}


def plot_class_map(
    classes_arr: np.ndarray,
    classes: Mapping[int, str],
    out: str | os.PathLike,
    title: str = "",
    rgb: np.ndarray | None = None,
    nodata: int | None = NO_LABEL,
    extent=None,
    colors: Mapping[int, Sequence[int]] | None = None,
    max_size: int = 1024,
    dpi: int = DEFAULT_DPI,
) -> Path:
    """A class map with a legend giving each class's share of the valid pixels.

    Args:
        classes_arr: (H, W) class ids (any size: drawn from a strided overview).
        classes: class id -> name.
        out: output image path.
        title: figure title.
        rgb: optional (H', W', 3) image in [0, 1] (see ``rgb_composite``) drawn to the left.
        nodata: value drawn light grey; ids not in ``classes`` are drawn grey too.
        extent: optional map extent (left, right, bottom, top) or a rasterio BoundingBox; axes
            then show map coordinates, otherwise they are hidden.
        colors: optional class id -> (r, g, b) 0-255.
        max_size: longest side drawn, in pixels.
        dpi: resolution; the size in inches is :func:`map_figsize`.

    Returns:
        ``out``.
    """
    if classes_arr.ndim != 2:
        raise ConfigError(
            f"plot_class_map: class array has shape {classes_arr.shape}; expected (H, W)"
        )
    full = as_numpy(overview(classes_arr, max_size))
    # shares from the full array, not the overview, so the legend numbers are exact
    fractions = class_fractions(as_numpy(classes_arr), classes, nodata)
    ext = _extent(extent)
    cmap, norm, handles = class_colormap(classes, colors)
    for handle, cid in zip(handles, sorted(classes), strict=True):
        handle.set_label(f"{classes[cid]} ({100 * fractions[cid]:.1f}%)")
    ignore = full == nodata if nodata is not None else None
    data = mask_classes(full, classes, ignore)

    panels = 2 if rgb is not None else 1
    h, w = full.shape
    fig = new_figure(*map_figsize(h, w, panels, LEGEND_WIDTH_INCHES))
    axes = np.atleast_1d(fig.subplots(1, panels, sharex=True, sharey=True))
    if title:
        fig.suptitle(title, fontsize=12)
    if rgb is not None:
        rgb = as_numpy(overview(rgb, max_size, channels_last=True))
        if rgb.ndim != 3 or rgb.shape[-1] not in (3, 4):
            raise ConfigError(f"plot_class_map: rgb has shape {rgb.shape}; expected (H, W, 3)")
        # the image may have another resolution: give it the class map's extent
        axes[0].imshow(np.clip(rgb, 0, 1), extent=ext or [-0.5, w - 0.5, h - 0.5, -0.5])
        axes[0].set_title("image", fontsize=10)
        _style(axes[0], ext)
    ax = axes[-1]
    ax.imshow(data, cmap=cmap, norm=norm, interpolation="nearest", extent=ext)
    ax.set_title("classes", fontsize=10)
    _style(ax, ext)
    if np.ma.getmaskarray(data).any():
        handles = [*handles, nodata_handle("nodata")]
    fig.legend(handles=handles, loc="outside right upper", fontsize=9, frameon=False,
               title="class (share)", title_fontsize=9, alignment="left")  # fmt: skip
    return save_figure(fig, out, dpi)


def plot_scalar_map(
    values: np.ndarray,
    out: str | os.PathLike,
    title: str,
    cmap: str = "magma",
    label: str = "",
    vmin: float | None = None,
    vmax: float | None = None,
    extent=None,
    max_size: int = 1024,
    dpi: int = DEFAULT_DPI,
) -> Path:
    """A continuous map (e.g. prediction uncertainty) with a colorbar; NaN drawn light grey.

    Args:
        values: (H, W) floats; non-finite values are nodata.
        out: output image path.
        title: figure title.
        cmap: matplotlib colormap name.
        label: colorbar label (quantity and unit).
        vmin, vmax: colour limits; default the 1st and 99th percentiles of the finite values.
        extent: optional (left, right, bottom, top) or rasterio BoundingBox.
        max_size: longest side drawn, in pixels.
        dpi: resolution; the size in inches is :func:`map_figsize`.

    Returns:
        ``out``.
    """
    if values.ndim != 2:
        raise ConfigError(f"plot_scalar_map: values have shape {values.shape}; expected (H, W)")
    data = np.asarray(as_numpy(overview(values, max_size)), dtype=np.float64)
    finite = data[np.isfinite(data)]
    if finite.size and (vmin is None or vmax is None):
        lo, hi = np.percentile(finite, [1, 99])
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
        if vmax <= vmin:  # constant map: widen so the colour is mid-scale, not an error
            vmin, vmax = vmin - 0.5, vmax + 0.5
    ext = _extent(extent)
    h, w = data.shape
    fig = new_figure(*map_figsize(h, w, 1, COLORBAR_WIDTH_INCHES))
    ax = fig.subplots()
    if cmap not in colormaps:
        raise ConfigError(f"unknown colormap {cmap!r}; use a matplotlib name such as 'magma'")
    colormap = colormaps[cmap].with_extremes(bad=NODATA_RGBA)
    im = ax.imshow(np.ma.masked_invalid(data), cmap=colormap, vmin=vmin, vmax=vmax,
                   interpolation="nearest", extent=ext)  # fmt: skip
    if title:
        ax.set_title(title, fontsize=12)
    _style(ax, ext)
    cbar = fig.colorbar(im, ax=ax, shrink=0.85, pad=0.02)
    if label:
        cbar.set_label(label)
    if not finite.size:
        ax.text(0.5, 0.5, "no valid values", ha="center", va="center", transform=ax.transAxes)
    return save_figure(fig, out, dpi)
