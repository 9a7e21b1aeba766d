"""Sample panels: one row per chip, image | label | prediction, with one shared legend."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from terralearn.errors import ConfigError
from terralearn.pixels import NO_LABEL
from terralearn.viz._figure import DEFAULT_DPI, as_numpy, new_figure, save_figure
from terralearn.viz.colors import (
    class_colormap,
    nodata_handle,
    percentile_limits,
    rgb_band_indices,
    rgb_composite,
)

CELL_INCHES = 2.8  # width of one image cell
LEGEND_INCHES = 0.7  # room below the rows for the legend and above for the column titles


def mask_classes(
    arr: np.ndarray, classes: Mapping[int, str], ignore: np.ndarray | None = None
) -> np.ma.MaskedArray:
    """Class ids masked where ``ignore`` is true or the value is not a known class id."""
    arr = np.asarray(arr)
    unknown = ~np.isin(arr, np.fromiter(classes, dtype=np.int64))
    if ignore is not None:
        unknown |= ignore
    return np.ma.masked_array(arr, mask=unknown)


def panels_figsize(n_samples: int, n_cols: int, height: int, width: int) -> tuple[float, float]:
    """Figure size in inches of :func:`plot_sample_panels`."""
    cell_h = CELL_INCHES * float(np.clip(height / max(width, 1), 0.25, 4.0))
    return CELL_INCHES * n_cols + 0.4, cell_h * n_samples + LEGEND_INCHES + 0.3


def _check(name: str, arr: np.ndarray, shape: tuple[int, ...]) -> None:
    if arr.shape != shape:
        raise ConfigError(f"plot_sample_panels: {name} has shape {arr.shape}; expected {shape}")


def plot_sample_panels(
    images: np.ndarray,
    labels: np.ndarray | None,
    predictions: np.ndarray,
    bands: Sequence[str],
    classes: Mapping[int, str],
    out: str | os.PathLike,
    ignore_index: int | None = NO_LABEL,
    stats_low: Sequence[float] | None = None,
    stats_high: Sequence[float] | None = None,
    valid: np.ndarray | None = None,
    colors: Mapping[int, Sequence[int]] | None = None,
    dpi: int = DEFAULT_DPI,
) -> Path:
    """One row per sample: RGB composite | label | prediction, with one class legend.

    Label pixels equal to ``ignore_index``, values that are not class ids, and pixels outside
    ``valid`` are drawn light grey ("ignored / nodata"). The prediction column title gives the
    pixel accuracy over labelled pixels when labels are given.

    Args:
        images: (N, C, H, W) chips in any units (numpy or torch).
        labels: (N, H, W) class ids, or None to leave out the label column.
        predictions: (N, H, W) predicted class ids.
        bands: the C band names (red/green/blue picked by name, see ``rgb_composite``).
        classes: class id -> name.
        out: output image path.
        ignore_index: label value meaning "not labelled".
        stats_low, stats_high: per-band stretch limits (e.g. the chip store's p2/p98); when
            omitted, the 2-98 percentiles over all samples' valid pixels are used, so all rows
            share one stretch and stay comparable.
        valid: optional (N, H, W) boolean mask of valid image pixels.
        colors: optional class id -> (r, g, b) 0-255.
        dpi: resolution; the size in inches is :func:`panels_figsize`.

    Returns:
        ``out``.
    """
    images = as_numpy(images)
    if images.ndim != 4:
        raise ConfigError(
            f"plot_sample_panels: images have shape {images.shape}; expected (N, bands, H, W)"
        )
    n, c, h, w = images.shape
    predictions = as_numpy(predictions)
    _check("predictions", predictions, (n, h, w))
    if labels is not None:
        labels = as_numpy(labels)
        _check("labels", labels, (n, h, w))
    if valid is not None:
        valid = as_numpy(valid).astype(bool)
        _check("valid", valid, (n, h, w))
    if len(bands) != c:
        raise ConfigError(
            f"plot_sample_panels: {len(bands)} band names for images with {c} bands; "
            "give one name per band"
        )

    if stats_low is None or stats_high is None:
        # one stretch for all rows: percentiles of the displayed bands over all valid pixels
        picked = rgb_band_indices(bands)
        stack = np.moveaxis(images[:, picked], 1, 0).reshape(len(picked), n * h, w)
        own_lo, own_hi = percentile_limits(
            stack, None if valid is None else valid.reshape(n * h, w)
        )
        stats_low = own_lo if stats_low is None else stats_low
        stats_high = own_hi if stats_high is None else stats_high

    cmap, norm, handles = class_colormap(classes, colors)
    columns = ["image"] + (["label"] if labels is not None else []) + ["prediction"]
    fig = new_figure(*panels_figsize(n, len(columns), h, w))
    axes = np.atleast_2d(fig.subplots(n, len(columns), squeeze=False))
    any_masked = False
    for i in range(n):
        ok = None if valid is None else valid[i]
        rgb = rgb_composite(images[i], bands, stats_low, stats_high, ok)
        row = [rgb]
        ignore = np.zeros((h, w), bool) if ok is None else ~ok
        if labels is not None:
            lab_ignore = ignore | (labels[i] == ignore_index if ignore_index is not None else False)
            row.append(mask_classes(labels[i], classes, lab_ignore))
        row.append(mask_classes(predictions[i], classes, ignore))
        for j, (ax, data) in enumerate(zip(axes[i], row, strict=True)):
            if j == 0:
                ax.imshow(data, interpolation="antialiased")
            else:
                any_masked |= bool(np.ma.getmaskarray(data).any())
                ax.imshow(data, cmap=cmap, norm=norm, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        title = "prediction"
        if labels is not None:
            scored = ~np.ma.getmaskarray(row[1])
            if scored.any():
                acc = float((predictions[i][scored] == labels[i][scored]).mean())
                title = f"prediction (acc {100 * acc:.0f}%)"
        axes[i][-1].set_title(title, fontsize=9)
        if i == 0:
            for ax, name in zip(axes[0][:-1], columns[:-1], strict=True):
                ax.set_title(name, fontsize=9)
        axes[i][0].set_ylabel(f"sample {i}", fontsize=9)
    if any_masked:
        handles = [*handles, nodata_handle("ignored / nodata")]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5),
               fontsize=8, frameon=False)  # fmt: skip
    return save_figure(fig, out, dpi)
