"""Confusion-matrix figure: row-normalised (recall per true class) next to the raw counts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm, Normalize

from terralearn.errors import ConfigError
from terralearn.viz._figure import DEFAULT_DPI, as_numpy, format_count, new_figure, save_figure

MAX_CLASSES_FOR_COUNTS_PANEL = 12  # beyond this the side-by-side counts panel gets unreadable
MAX_CLASSES_ANNOTATED = 25  # beyond this cells are too small for text


def normalize_confusion(confmat: np.ndarray) -> np.ndarray:
    """Row-normalise a (K, K) count matrix (rows = true class): each row sums to 1.

    Rows without any sample are NaN (drawn grey, annotated "–").
    """
    confmat = np.asarray(confmat, dtype=np.float64)
    totals = confmat.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, confmat / np.where(totals > 0, totals, 1), np.nan)


def confusion_figsize(n_classes: int, panels: int) -> tuple[float, float]:
    """Figure size in inches for ``panels`` square matrix panels of ``n_classes``."""
    side = float(np.clip(0.55 * n_classes + 2.2, 4.5, 14.0))
    # tick labels take width, so a panel a bit wider than tall keeps the cells square
    return side * panels + 0.4 * (panels - 1), side - 0.5


def _validate(confmat: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    confmat = as_numpy(confmat)
    if confmat.ndim != 2 or confmat.shape[0] != confmat.shape[1]:
        raise ConfigError(
            f"confusion matrix has shape {confmat.shape}; expected a square (K, K) array "
            "with rows = true class, columns = predicted class"
        )
    if len(class_names) != confmat.shape[0]:
        raise ConfigError(
            f"confusion matrix is {confmat.shape[0]} x {confmat.shape[0]} but "
            f"{len(class_names)} class names were given; give one name per row"
        )
    if (confmat < 0).any() or not np.isfinite(confmat).all():
        raise ConfigError("confusion matrix has negative or non-finite counts; pass raw counts")
    return confmat


def _text_color(fraction: float) -> str:
    return "white" if np.isfinite(fraction) and fraction > 0.55 else "black"


def _draw(fig, ax, values, norm, cmap, names, annotations, shade, title, cbar_label, row_names):
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, interpolation="nearest")
    k = len(names)
    ax.set_xticks(range(k), names, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center",
                  rotation_mode="anchor")  # fmt: skip
    ax.set_yticks(range(k), row_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (pixels)" if row_names is not names else "true class")
    ax.set_title(title, fontsize=11)
    ax.tick_params(length=0)
    ax.set_xticks(np.arange(k + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(k + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="minor", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if annotations is not None:
        size = 9 if k <= 8 else 7 if k <= 15 else 6
        for i in range(k):
            for j in range(k):
                ax.text(j, i, annotations[i][j], ha="center", va="center", fontsize=size,
                        color=_text_color(shade[i, j]))  # fmt: skip
    cbar = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02, aspect=25)
    cbar.set_label(cbar_label)


def plot_confusion_matrix(
    confmat: np.ndarray,
    class_names: Sequence[str],
    out: str | os.PathLike,
    normalize: bool = True,
    title: str = "",
    dpi: int = DEFAULT_DPI,
) -> Path:
    """Draw a confusion matrix (rows = true class, columns = predicted class).

    With ``normalize`` (default) the main panel shows each row divided by its total (the recall
    of each true class on the diagonal), and a second panel with the raw counts (log colour
    scale) is placed beside it when there are at most ``MAX_CLASSES_FOR_COUNTS_PANEL`` classes;
    with more classes the counts are annotated under the fractions instead. Without
    ``normalize`` only the counts panel is drawn. Values drawn are those of
    :func:`normalize_confusion`.

    Args:
        confmat: (K, K) counts.
        class_names: K names, in row order.
        out: output image path.
        normalize: draw the row-normalised panel.
        title: figure title; a default names the overall accuracy and sample count.
        dpi: resolution; the size in inches is :func:`confusion_figsize`.

    Returns:
        ``out``.
    """
    confmat = _validate(confmat, class_names)
    names = [str(n) for n in class_names]
    k = len(names)
    total = confmat.sum()
    accuracy = np.trace(confmat) / total if total > 0 else float("nan")
    fractions = normalize_confusion(confmat)
    annotate = k <= MAX_CLASSES_ANNOTATED
    counts_panel = (not normalize) or k <= MAX_CLASSES_FOR_COUNTS_PANEL
    panels = 1 + int(normalize and counts_panel)

    fig = new_figure(*confusion_figsize(k, panels))
    fig.get_layout_engine().set(wspace=0.05)  # keep the colorbar label clear of the next panel
    axes = np.atleast_1d(fig.subplots(1, panels))
    acc_text = f"{100 * accuracy:.1f}%" if np.isfinite(accuracy) else "n/a"
    fig.suptitle(
        title or f"Confusion matrix — overall accuracy {acc_text}, {format_count(total)} pixels",
        fontsize=12,
    )

    col = 0
    if normalize:
        labels = None
        if annotate:
            labels = [
                [
                    ("–" if not np.isfinite(f) else f"{f:.2f}")
                    + ("" if counts_panel or not np.isfinite(f) else f"\n{format_count(c)}")
                    for f, c in zip(frow, crow, strict=True)
                ]
                for frow, crow in zip(fractions, confmat, strict=True)
            ]
        support = [
            f"{name} ({format_count(n)})" for name, n in zip(names, confmat.sum(1), strict=True)
        ]
        _draw(fig, axes[0], fractions, Normalize(0, 1), "Blues", names, labels, fractions,
              "Normalised by true class (row)", "fraction of true class", support)  # fmt: skip
        col = 1
    if counts_panel:
        positive = confmat[confmat > 0]
        vmax = max(float(positive.max()) if positive.size else 1.0, 1.0)
        vmin = float(positive.min()) if positive.size else 1.0
        norm = LogNorm(vmin, vmax) if vmax / max(vmin, 1) >= 100 else Normalize(0, vmax)
        with np.errstate(divide="ignore", invalid="ignore"):
            shade = np.where(confmat > 0, norm(np.where(confmat > 0, confmat, vmin)), 0.0)
        labels = [[format_count(c) for c in row] for row in confmat] if annotate else None
        _draw(fig, axes[col], np.where(confmat > 0, confmat, np.nan), norm, "Greens", names,
              labels, np.asarray(shade), "Counts", "pixels", names)  # fmt: skip
    return save_figure(fig, out, dpi)
