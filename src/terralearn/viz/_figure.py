"""Figure creation and atomic saving without pyplot.

Figures are plain :class:`matplotlib.figure.Figure` objects drawn by an explicit Agg canvas, so no
global pyplot state is created or leaked, whatever backend the user has configured. The pixel size
of a saved PNG is exactly ``figsize * dpi`` (no ``bbox_inches="tight"``), which keeps layouts
predictable; the constrained layout engine fits titles, labels and legends inside that size.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from terralearn._fs import atomic_output

DEFAULT_DPI = 150
NODATA_RGBA = (0.82, 0.82, 0.82, 1.0)  # light grey for ignored / nodata pixels


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure of ``width`` x ``height`` inches, attached to an Agg canvas."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out: str | os.PathLike, dpi: int = DEFAULT_DPI) -> Path:
    """Write ``fig`` to ``out`` atomically (format from the suffix, PNG when none) and return it."""
    out = Path(out)
    fmt = out.suffix.lstrip(".").lower() or "png"
    # Agg truncates width * dpi to an int; snap so the PNG is round(size * dpi) pixels exactly
    fig.set_size_inches((np.round(fig.get_size_inches() * dpi) + 1e-3) / dpi)
    with atomic_output(out, overwrite=True) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, facecolor="white")
    return out


def pixel_size(fig: Figure, dpi: int = DEFAULT_DPI) -> tuple[int, int]:
    """(height, width) in pixels of ``fig`` saved at ``dpi``, as the Agg renderer rounds them."""
    w, h = fig.get_size_inches() * dpi
    return round(h), round(w)


def format_count(n: float) -> str:
    """Compact count label: 950, 12.3k, 4.5M."""
    n = float(n)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            value = n / div
            return f"{value:.0f}{suffix}" if value >= 100 else f"{value:.1f}{suffix}"
    return f"{n:.0f}"


def as_numpy(array) -> np.ndarray:
    """Materialise numpy, dask, xarray or torch arrays as numpy."""
    if hasattr(array, "detach"):  # torch tensor
        array = array.detach().cpu().numpy()
    if hasattr(array, "compute"):  # dask or xarray backed by dask
        array = array.compute()
    return np.asarray(array)
