"""Maps of point predictions: residuals of several methods side by side."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from terralearn.errors import ConfigError
from terralearn.viz._figure import DEFAULT_DPI, new_figure, save_figure

PANEL_INCHES = 4.0


def plot_residual_map(
    xy: np.ndarray,
    residuals: Mapping[str, np.ndarray],
    out: str | os.PathLike,
    title: str = "residuals (prediction - observation)",
    dpi: int = DEFAULT_DPI,
) -> Path:
    """One scatter panel per method, points coloured by residual on a shared symmetric scale.

    Points without a residual (NaN: never in a test fold) are drawn small and grey.

    Args:
        xy: ``(N, 2)`` point coordinates.
        residuals: method name -> ``(N,)`` residuals.
        out: output image (PNG unless the suffix says otherwise).
    """
    if not residuals:
        raise ConfigError("no residuals to plot; give at least one method")
    xy = np.asarray(xy, dtype=np.float64)
    values = np.concatenate([np.asarray(r, np.float64) for r in residuals.values()])
    finite = values[np.isfinite(values)]
    limit = float(np.percentile(np.abs(finite), 98)) if len(finite) else 1.0
    limit = limit or 1.0
    n = len(residuals)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = new_figure(PANEL_INCHES * cols + 1.0, PANEL_INCHES * rows + 0.4)
    axes = fig.subplots(rows, cols, squeeze=False)
    size = float(np.clip(4000 / max(len(xy), 1), 0.5, 30))
    mappable = None
    for ax, (name, res) in zip(axes.ravel(), residuals.items(), strict=False):
        res = np.asarray(res, np.float64)
        ok = np.isfinite(res)
        ax.scatter(xy[~ok, 0], xy[~ok, 1], s=size / 4, c="0.8", linewidths=0)
        mappable = ax.scatter(
            xy[ok, 0], xy[ok, 1], c=res[ok], s=size, cmap="RdBu_r", vmin=-limit, vmax=limit,
            linewidths=0,
        )  # fmt: skip
        rmse = float(np.sqrt(np.mean(res[ok] ** 2))) if ok.any() else float("nan")
        ax.set_title(f"{name}  (RMSE {rmse:.3g})", fontsize=10)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    fig.colorbar(mappable, ax=axes, shrink=0.8, label="residual")
    fig.suptitle(title, fontsize=11)
    return save_figure(fig, out, dpi=dpi)
