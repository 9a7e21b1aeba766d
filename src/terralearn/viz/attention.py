"""Attention figure: where a ViT looks for one location, over the image.

Panels, three per row: the image with the query patch, the predicted classes, the attention
rollout over all blocks, then one panel per head of the last block. Attention is drawn as a heat
overlay on a dimmed grey version of the image: colour and opacity both grow with the weight, so
faint weights leave the landscape readable and strong ones stand out.

Weights are drawn relative to uniform attention (weight x number of tokens: 1 means the average
share, 3 three times it), since raw weights of a 32 x 32 grid are all near 0.001. Each map's
colour scale runs from its 2nd percentile to its largest value outside the query's own patch
(the residual path makes that patch dominate the rollout, which would wash everything else
out); the query patch is outlined.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle

from terralearn.viz._figure import DEFAULT_DPI, new_figure, save_figure
from terralearn.viz.colors import class_colormap, nodata_handle

COLUMNS = 3
PANEL_INCHES = 3.6
HEAT_CMAP = "inferno"
QUERY_COLOR = "#00e5ff"  # cyan: visible on the heat colours and on vegetation


def heat_overlay(
    rgb: np.ndarray, values: np.ndarray, vmin: float, vmax: float, cmap: str = HEAT_CMAP
) -> np.ndarray:
    """Blend a heat map over a dimmed grey image: ``(1 - a) grey + a cmap(t)``, ``a ~ sqrt(t)``.

    Args:
        rgb: ``(H, W, 3)`` image in [0, 1].
        values: ``(H, W)`` weights.
        vmin: weight drawn transparent (``t = 0``).
        vmax: weight drawn at full colour and opacity (``t = 1``).

    Returns:
        ``(H, W, 3)`` float array in [0, 1].
    """
    grey = rgb.mean(axis=-1, keepdims=True)
    base = 0.15 + 0.5 * grey  # dimmed, so the bright end of the colormap stands out
    t = np.clip((values - vmin) / max(vmax - vmin, 1e-12), 0.0, 1.0)
    colour = colormaps[cmap](t)[..., :3]
    alpha = 0.85 * np.sqrt(t)[..., None]
    return np.clip((1 - alpha) * base + alpha * colour, 0.0, 1.0)


def display_max(values: np.ndarray, query: tuple[int, int], patch: int) -> float:
    """Largest weight outside the query's patch (the whole maximum when nothing else is left)."""
    masked = values.astype(np.float64).copy()
    r0, c0 = query[0] // patch * patch, query[1] // patch * patch
    masked[r0 : r0 + patch, c0 : c0 + patch] = -np.inf
    top = float(masked.max()) if np.isfinite(masked).any() else -np.inf
    return top if top > 0 else float(values.max())


def _mark_query(ax, query: tuple[int, int], patch: int) -> None:
    r0, c0 = query[0] // patch * patch, query[1] // patch * patch
    ax.add_patch(
        Rectangle((c0 - 0.5, r0 - 0.5), patch, patch, fill=False, edgecolor=QUERY_COLOR,
                  linewidth=1.4)
    )  # fmt: skip
    ax.plot(query[1], query[0], marker="+", color=QUERY_COLOR, markersize=9, mew=1.4)


def _heat_panel(
    fig, ax, rgb: np.ndarray, values: np.ndarray, tokens: int, query: tuple[int, int],
    patch: int, title: str,
) -> None:  # fmt: skip
    relative = values * tokens  # 1 = uniform attention
    vmax = display_max(relative, query, patch)
    vmin = min(float(np.percentile(relative, 2)), vmax * 0.999)
    ax.imshow(heat_overlay(rgb, relative, vmin, vmax), interpolation="nearest")
    _mark_query(ax, query, patch)
    ax.set_title(title, fontsize=9)
    mappable = ScalarMappable(Normalize(vmin, vmax), colormaps[HEAT_CMAP])
    bar = fig.colorbar(mappable, ax=ax, shrink=0.8, pad=0.02)
    bar.ax.tick_params(labelsize=7)
    bar.set_label("attention / uniform share", fontsize=7)


def plot_attention_panels(
    out: str | os.PathLike,
    *,
    rgb: np.ndarray,
    prediction: np.ndarray,
    classes: dict[int, str],
    rollout: np.ndarray,
    heads: np.ndarray,
    query: tuple[int, int],
    patch_size: int,
    tokens: int,
    title: str,
    head_fusion: str = "mean",
    dpi: int = DEFAULT_DPI,
) -> Path:
    """Draw the attention of one query location (see the module docstring).

    Args:
        out: output image path (PNG unless the suffix says otherwise), written atomically.
        rgb: ``(H, W, 3)`` display composite in [0, 1].
        prediction: ``(H, W)`` predicted class ids, negative where nothing was predicted.
        classes: class id -> name, for the legend.
        rollout: ``(H, W)`` rollout weight of the token under each pixel.
        heads: ``(K, H, W)`` last-block attention of each head.
        query: ``(row, col)`` of the query pixel.
        patch_size: pixels per token side.
        tokens: number of tokens (weights are drawn relative to ``1 / tokens``).
        title: figure title.
        head_fusion: how the heads were fused for the rollout (for the panel title).
        dpi: resolution.

    Returns:
        ``out``.
    """
    rows = 1 + math.ceil(len(heads) / COLUMNS)
    h, w = rollout.shape
    aspect = float(np.clip(h / max(w, 1), 0.4, 1.6))
    fig = new_figure(COLUMNS * PANEL_INCHES + 0.6, rows * PANEL_INCHES * aspect + 0.7)
    axes = fig.subplots(rows, COLUMNS, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=10)

    ax = axes[0, 0]
    ax.imshow(rgb, interpolation="nearest")
    _mark_query(ax, query, patch_size)
    ax.set_title("image and query patch", fontsize=9)

    ax = axes[0, 1]
    cmap, norm, handles = class_colormap(classes)
    labels = np.ma.masked_less(prediction, 0)
    ax.imshow(labels, cmap=cmap, norm=norm, interpolation="nearest")
    _mark_query(ax, query, patch_size)
    ax.set_title("predicted classes", fontsize=9)
    if np.ma.getmaskarray(labels).any():
        handles = [*handles, nodata_handle()]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), fontsize=7,
              frameon=False, ncols=min(len(handles), 3), borderaxespad=0)  # fmt: skip

    _heat_panel(
        fig, axes[0, 2], rgb, rollout, tokens, query, patch_size,
        f"rollout over all blocks ({head_fusion} of heads)",
    )  # fmt: skip
    for i, values in enumerate(heads):
        ax = axes[1 + i // COLUMNS, i % COLUMNS]
        _heat_panel(fig, ax, rgb, values, tokens, query, patch_size, f"last block, head {i + 1}")
    return save_figure(fig, out, dpi)
