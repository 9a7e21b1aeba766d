"""Figures of a pretraining run: the loss curve and MAE reconstructions."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from terralearn.viz._figure import DEFAULT_DPI, new_figure, save_figure
from terralearn.viz.colors import percentile_limits, rgb_composite


def read_losses(
    metrics_csv: str | os.PathLike,
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """``(step, loss)`` of the logged steps and of the epoch means, from Lightning's CSV."""
    steps: list[tuple[int, float]] = []
    epochs: list[tuple[int, float]] = []
    with open(metrics_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("train_loss_step"):
                steps.append((int(row["step"]), float(row["train_loss_step"])))
            if row.get("train_loss_epoch"):
                epochs.append((int(row["step"]), float(row["train_loss_epoch"])))
    return steps, epochs


def plot_loss_curve(
    metrics_csv: str | os.PathLike, out: str | os.PathLike, title: str = "Pretraining loss",
    dpi: int = DEFAULT_DPI,
) -> Path:  # fmt: skip
    """Training loss per logged step (thin) and per epoch (markers) against the step."""
    steps, epochs = read_losses(metrics_csv)
    fig = new_figure(6.0, 3.8)
    ax = fig.subplots()
    if steps:
        ax.plot(*zip(*steps, strict=True), color="tab:blue", alpha=0.5, lw=1, label="step")
    if epochs:
        ax.plot(*zip(*epochs, strict=True), "o-", color="tab:orange", label="epoch mean")
    if not steps and not epochs:
        ax.text(0.5, 0.5, "no loss logged", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if steps or epochs:
        ax.legend(fontsize=8, frameon=False)
    return save_figure(fig, out, dpi)


def plot_reconstructions(
    images: torch.Tensor | np.ndarray,
    masked: torch.Tensor | np.ndarray,
    reconstructed: torch.Tensor | np.ndarray,
    bands: Sequence[str],
    out: str | os.PathLike,
    low: Sequence[float] | None = None,
    high: Sequence[float] | None = None,
    dpi: int = DEFAULT_DPI,
) -> Path:
    """Rows of (input | masked input | reconstruction) as RGB (or grey) composites.

    Args:
        images, masked, reconstructed: ``(N, C, H, W)`` in the same (raw) units.
        bands: the C band names (red/green/blue picked by name).
        out: output PNG.
        low, high: per-band display limits (default: each input's 2-98 % percentiles,
            shared by its three panels so colours compare).
    """
    images, masked, reconstructed = (np.asarray(a, dtype=np.float32) for a in
                                     (images, masked, reconstructed))  # fmt: skip
    n = images.shape[0]
    fig = new_figure(7.5, 2.5 * max(n, 1))
    axes = np.atleast_2d(fig.subplots(max(n, 1), 3, squeeze=False))
    titles = ("input", "masked (visible patches)", "reconstruction")
    for i in range(n):
        lo, hi = (low, high) if low is not None else percentile_limits(images[i])
        for j, (panel, title) in enumerate(zip((images, masked, reconstructed), titles,
                                               strict=True)):  # fmt: skip
            ax = axes[i, j]
            ax.imshow(rgb_composite(panel[i], bands, lo, hi), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=10)
    return save_figure(fig, out, dpi)
