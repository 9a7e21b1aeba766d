"""Training curves from a Lightning ``CSVLogger`` ``metrics.csv``.

Lightning writes one row per logging call, so each row fills only some columns (step rows carry
``train_loss_step``, epoch-end rows ``train_loss_epoch``, validation rows ``val_*``). The rows are
reduced to one value per epoch and column (the mean of the logged values) before drawing.
"""

from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from terralearn.errors import InputNotFoundError
from terralearn.viz._figure import DEFAULT_DPI, new_figure, save_figure

PANEL_SIZE = (5.0, 3.8)  # inches per panel
_TRAIN_LOSS = ("train_loss_epoch", "train_loss", "train_loss_step")
_VAL_LOSS = ("val_loss_epoch", "val_loss")
_SKIP = {"epoch", "step"}


def read_epoch_metrics(metrics_csv: str | os.PathLike) -> dict[str, dict[int, float]]:
    """Per-epoch means of every numeric column of a Lightning ``metrics.csv``.

    Returns:
        column -> {epoch: mean of the finite values logged in that epoch}. Columns never logged
        are left out. Without an ``epoch`` column each row counts as its own epoch.
    """
    path = Path(metrics_csv)
    if not path.is_file():
        raise InputNotFoundError(
            f"metrics file {str(path)!r} does not exist; train first or point to the run's "
            "logs/.../metrics.csv"
        )
    sums: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    has_epochs = any((row.get("epoch") or "").strip() for row in rows)
    last_epoch = -1
    for row_no, row in enumerate(rows):
        epoch = _epoch_of(row)
        if epoch is None:
            # rows without an epoch (the learning-rate monitor's, logged as an epoch starts)
            # belong to the epoch after the last one seen
            epoch = last_epoch + 1 if has_epochs else row_no
        else:
            last_epoch = max(last_epoch, epoch)
        for key, text in row.items():
            if key is None or key in _SKIP or text is None or not text.strip():
                continue
            try:
                value = float(text)
            except ValueError:
                continue
            if math.isfinite(value):
                sums[key][epoch].append(value)
    return {
        key: {e: float(np.mean(v)) for e, v in sorted(per_epoch.items())}
        for key, per_epoch in sums.items()
    }


def _epoch_of(row: dict[str, str]) -> int | None:
    text = (row.get("epoch") or "").strip()
    try:
        return int(float(text)) if text else None
    except ValueError:
        return None


def _first(series: dict[str, dict[int, float]], names: tuple[str, ...]) -> tuple[str, dict] | None:
    for name in names:
        if series.get(name):
            return name, series[name]
    return None


def _metric_columns(series: dict[str, dict[int, float]]) -> list[str]:
    """Validation metrics other than losses, e.g. val_miou, val_acc."""
    return sorted(k for k in series if k.startswith("val_") and "loss" not in k)


def _lr_columns(series: dict[str, dict[int, float]]) -> list[str]:
    return sorted(k for k in series if k.startswith("lr"))


def _line(ax, data: dict[int, float], **kw):
    x = list(data)
    y = list(data.values())
    return ax.plot(x, y, marker="o", markersize=3 if len(x) > 1 else 5, linewidth=1.6, **kw)[0]


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _pretty(name: str) -> str:
    return name.removeprefix("val_").replace("_", " ")


def plot_training_curves(
    metrics_csv: str | os.PathLike, out: str | os.PathLike, dpi: int = DEFAULT_DPI
) -> Path:
    """Loss and validation-metric curves per epoch, plus the learning rate when it was logged.

    Panels: (1) train and validation loss, best validation loss marked; (2) validation metrics
    (``val_*`` columns other than the loss), best value marked; (3) the learning rate on a log
    axis, only when an ``lr-*`` column exists. Missing columns leave a panel with a note instead
    of failing.

    Args:
        metrics_csv: the ``metrics.csv`` written by Lightning's ``CSVLogger``.
        out: output image path (PNG unless the suffix names another format).
        dpi: resolution; the image is ``dpi * (5 * panels) x dpi * 3.8`` pixels.

    Returns:
        ``out``.
    """
    series = read_epoch_metrics(metrics_csv)
    lr_cols = _lr_columns(series)
    n_panels = 3 if lr_cols else 2
    fig = new_figure(PANEL_SIZE[0] * n_panels, PANEL_SIZE[1])
    axes = fig.subplots(1, n_panels)
    fig.suptitle("Training curves", fontsize=12)
    empty: list = []

    ax = axes[0]
    train = _first(series, _TRAIN_LOSS)
    val = _first(series, _VAL_LOSS)
    if train is None and val is None:
        _no_data(ax, "no loss logged")
        empty.append(ax)
    else:
        if train is not None:
            _line(ax, train[1], label="train", color="tab:blue")
        if val is not None:
            _line(ax, val[1], label="validation", color="tab:orange")
            best = min(val[1], key=val[1].get)
            ax.plot(
                [best], [val[1][best]], marker="*", markersize=13, color="tab:orange",
                markeredgecolor="black", linestyle="none",
                label=f"best val {val[1][best]:.3g} (epoch {best})",
            )  # fmt: skip
        ax.set_ylabel("loss")
        ax.legend(fontsize=8, frameon=False)
    ax.set_title("Loss")

    ax = axes[1]
    metrics = _metric_columns(series)
    if not metrics:
        _no_data(ax, "no validation metrics logged")
        empty.append(ax)
    else:
        for i, name in enumerate(metrics):
            color = f"C{(i + 2) % 10}"
            data = series[name]
            best = max(data, key=data.get)
            _line(ax, data, label=f"{_pretty(name)} (best {data[best]:.3f}, epoch {best})",
                  color=color)  # fmt: skip
            ax.plot(
                [best], [data[best]], marker="*", markersize=12, color=color,
                markeredgecolor="black", linestyle="none",
            )  # fmt: skip
            train_name = "train_" + name.removeprefix("val_")
            if series.get(train_name):
                _line(ax, series[train_name], label=f"{_pretty(name)} (train)", color=color,
                      linestyle="--", alpha=0.6)  # fmt: skip
        values = [v for n in metrics for v in series[n].values()]
        if min(values) >= 0 and max(values) <= 1:  # fractions: keep the axis within 0-1
            ax.set_ylim(max(-0.02, min(values) - 0.05), min(1.02, max(values) + 0.05))
        ax.set_ylabel("score")
        ax.legend(fontsize=8, frameon=False)
    ax.set_title("Validation metrics")

    if lr_cols:
        ax = axes[2]
        for i, name in enumerate(lr_cols):
            _line(ax, series[name], label=name.removeprefix("lr-"), color=f"C{(i + 7) % 10}")
        if all(v > 0 for n in lr_cols for v in series[n].values()):
            ax.set_yscale("log")
        ax.set_ylabel("learning rate")
        ax.set_title("Learning rate")
        ax.legend(fontsize=8, frameon=False)

    for ax in axes:
        if ax in empty:
            continue
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return save_figure(fig, out, dpi)
