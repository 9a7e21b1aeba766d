"""Attention figure: overlay colours, colour scale, panel layout and the written PNG."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from matplotlib import colormaps

from conftest import png_shape
from terralearn.attention.maps import AttentionMaps, plot_attention
from terralearn.viz.attention import HEAT_CMAP, display_max, heat_overlay


def make_maps(heads: int = 3, size: int = 32, patch: int = 8) -> AttentionMaps:
    rng = np.random.default_rng(0)
    tokens = (size // patch) ** 2
    weights = rng.dirichlet(np.ones(tokens), size=heads + 1).astype(np.float32)
    grid = weights.reshape(heads + 1, size // patch, size // patch)
    pixels = grid.repeat(patch, axis=1).repeat(patch, axis=2)
    prediction = rng.integers(0, 3, (size, size)).astype(np.int16)
    prediction[:4, :4] = -1
    return AttentionMaps(
        rollout=pixels[0], heads=pixels[1:], rgb=rng.uniform(0, 1, (size, size, 3)),
        prediction=prediction, valid=prediction >= 0, classes={0: "water", 1: "tree", 2: "crop"},
        query=(20, 5), point=(120, 305), window=(100, 300, size, size),
        grid=(size // patch, size // patch), query_token=(20 // patch) * (size // patch),
        patch_size=patch, transform=Affine(10, 0, 1000, 0, -10, 5000), crs=None, model="vit_tiny",
    )  # fmt: skip


def test_heat_overlay_blends_colour_and_opacity_with_the_weight() -> None:
    rgb = np.full((1, 3, 3), 0.6)
    out = heat_overlay(rgb, np.array([[1.0, 1.75, 5.0]]), vmin=1.0, vmax=4.0)
    base = 0.15 + 0.5 * 0.6
    assert np.allclose(out[0, 0], base)  # no weight: the dimmed grey image
    colour = np.array(colormaps[HEAT_CMAP](1.0)[:3])
    assert np.allclose(out[0, 2], 0.15 * base + 0.85 * colour)  # clipped at vmax
    alpha = 0.85 * np.sqrt(0.25)
    mid = np.array(colormaps[HEAT_CMAP](0.25)[:3])
    assert np.allclose(out[0, 1], (1 - alpha) * base + alpha * mid)


def test_display_max_leaves_out_the_query_patch() -> None:
    values = np.zeros((16, 16))
    values[8:16, 0:8] = 0.9  # the query's patch
    values[0, 12] = 0.3
    assert display_max(values, (9, 3), 8) == 0.3
    assert display_max(np.where(values == 0.3, 0, values), (9, 3), 8) == 0.9  # nothing else


@pytest.mark.parametrize(("heads", "rows"), [(3, 2), (6, 3)])
def test_figure_has_a_panel_per_head(tmp_path, heads: int, rows: int) -> None:
    maps = make_maps(heads)
    out = plot_attention(maps, tmp_path / "attention.png", dpi=50)
    assert out == tmp_path / "attention.png"
    height, width = png_shape(out)
    assert width == round((3 * 3.6 + 0.6) * 50)
    assert height == round((rows * 3.6 + 0.7) * 50)
