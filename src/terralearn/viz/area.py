"""Mapped vs error-adjusted area per class, with 95 % confidence intervals."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from terralearn.errors import ConfigError
from terralearn.viz._figure import DEFAULT_DPI, new_figure, save_figure
from terralearn.viz.colors import class_color, named_colors

MAPPED_COLOR = (0.75, 0.75, 0.75)


def plot_area_estimates(
    classes: dict[int, str],
    mapped: Sequence[float],
    adjusted: Sequence[float],
    ci95: Sequence[float],
    unit: str,
    out: str | os.PathLike,
    title: str = "mapped vs error-adjusted area (95 % CI)",
    dpi: int = DEFAULT_DPI,
    truth: Sequence[float] | None = None,
) -> Path:
    """Horizontal bars per class: the mapped area (grey) above the error-adjusted area (class
    colour) with its 95 % confidence interval; a log axis when areas span over 2 decades.

    Args:
        classes: class code -> name, in the order of the other arguments.
        mapped, adjusted, ci95: (k,) areas and CI half-widths in ``unit``.
        unit: area unit for the axis label (ha, pixels, ...).
        out: the image to write (PNG unless the suffix says otherwise).
        truth: (k,) true areas in ``unit`` (known on synthetic data), drawn as a black mark
            on each error-adjusted bar; None draws none.
    """
    codes = list(classes)
    mapped, adjusted, ci95 = (np.asarray(v, dtype=float) for v in (mapped, adjusted, ci95))
    if not codes or not (len(codes) == mapped.size == adjusted.size == ci95.size):
        raise ConfigError("plot_area_estimates: give one mapped, adjusted and CI value per class")
    if truth is not None:
        truth = np.asarray(truth, dtype=float)
        if truth.size != len(codes):
            raise ConfigError("plot_area_estimates: give one truth value per class")
    colors = named_colors(classes)
    k = len(codes)
    fig = new_figure(7.5, 1.2 + 0.55 * k)
    ax = fig.add_subplot()
    y = np.arange(k)[::-1].astype(float)
    height = 0.38
    ax.barh(y + height / 2, mapped, height, color=MAPPED_COLOR, edgecolor="0.4", linewidth=0.5,
            label="mapped")  # fmt: skip
    rgb = [tuple(c / 255 for c in class_color(code, colors)) for code in codes]
    low = np.minimum(ci95, adjusted)  # an interval below 0 is drawn to 0
    ax.barh(y - height / 2, adjusted, height, color=rgb, edgecolor="0.3", linewidth=0.5,
            xerr=np.vstack([low, ci95]), error_kw={"ecolor": "black", "capsize": 3, "lw": 1},
            label="error-adjusted ± 95 % CI")  # fmt: skip
    if truth is not None:
        ax.scatter(truth, y - height / 2, marker="D", s=28, color="white", edgecolor="black",
                   linewidth=1.2, zorder=3)  # fmt: skip
    known = [mapped, adjusted] + ([] if truth is None else [truth])
    positive = np.concatenate([v[v > 0] for v in known])
    if positive.size and positive.max() / positive.min() > 100:
        ax.set_xscale("log")
        top = np.maximum(mapped, adjusted + ci95)
        if truth is not None:
            top = np.maximum(top, truth)
        ax.set_xlim(positive.min() / 3, top.max() * 2)
    ax.set_yticks(y, [classes[c] for c in codes])
    ax.set_xlabel(f"area ({unit}{', log scale' if ax.get_xscale() == 'log' else ''})")
    ax.set_title(title, loc="left", fontsize=10)
    ax.grid(axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    for yi, value in zip(y, mapped, strict=True):
        if value == 0:  # a class found by the reference points only
            ax.annotate("not mapped", (0, yi + height / 2), xycoords=("axes fraction", "data"),
                        xytext=(4, 0), textcoords="offset points", va="center", fontsize=7,
                        color="0.4")  # fmt: skip
    handles = [
        Patch(facecolor=MAPPED_COLOR, edgecolor="0.4", linewidth=0.5, label="mapped"),
        Patch(facecolor="0.35", edgecolor="0.3", linewidth=0.5, label="error-adjusted ± 95 % CI"),
    ]
    if truth is not None:
        handles.append(
            Line2D([], [], marker="D", markersize=5, color="white", markeredgecolor="black",
                   markeredgewidth=1.2, linestyle="none", label="true area")
        )  # fmt: skip
    ax.legend(handles=handles, loc="lower right", fontsize=8, frameon=False)
    return save_figure(fig, out, dpi=dpi)
