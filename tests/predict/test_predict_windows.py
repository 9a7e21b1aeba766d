"""Tile layout and blending weights (pure geometry)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from terralearn.errors import ConfigError
from terralearn.predict.windows import (
    TileLayout,
    axis_starts,
    axis_weights,
    default_overlap,
    default_tile_size,
)


@pytest.mark.parametrize(
    ("length", "tile", "stride", "expected"),
    [
        (100, 128, 96, [0]),  # smaller than a tile: one tile
        (128, 128, 96, [0]),
        (129, 128, 96, [0, 1]),
        (400, 256, 128, [0, 128, 144]),  # last start clamped to length - tile
        (384, 128, 128, [0, 128, 256]),
    ],
)
def test_axis_starts(length, tile, stride, expected):
    assert axis_starts(length, tile, stride) == expected


@given(
    length=st.integers(1, 2000),
    tile=st.integers(1, 300),
    data=st.data(),
    blend=st.sampled_from(["smooth", "constant"]),
)
def test_weights_cover_every_pixel_and_sum_to_one(length, tile, data, blend):
    # where at most two tiles share a pixel the weights are a partition of unity; with an
    # overlap above half a tile (or a clamped last tile) three can, and the engine divides by
    # the weight sum, which stays positive
    overlap = data.draw(st.integers(0, tile - 1))
    starts = axis_starts(length, tile, tile - overlap)
    size = min(tile, length)
    assert starts[-1] + size == length and all(b > a for a, b in pairwise(starts))
    total = np.zeros(length)
    count = np.zeros(length)
    tiles = np.zeros(length)
    for s, w in zip(starts, axis_weights(starts, size, blend), strict=True):
        assert w.shape == (size,) and (w >= 0).all()
        total[s : s + size] += w
        count[s : s + size] += w > 0
        tiles[s : s + size] += 1
    assert total.min() > 0
    np.testing.assert_allclose(total[tiles <= 2], 1.0, atol=1e-6)
    if blend == "constant":
        assert (count == 1).all()  # a partition: each pixel from one tile


def test_constant_blend_cuts_in_the_middle_of_the_shared_span():
    starts = [0, 96]  # tile 128: shared pixels 96..127
    first, second = axis_weights(starts, 128, "constant")
    assert first[:112].min() == 1 and first[112:].max() == 0
    assert second[:16].max() == 0 and second[16:].min() == 1


def test_smooth_blend_cross_fades_and_keeps_raster_edges_at_one():
    first, second = axis_weights([0, 96], 128, "smooth")
    assert first[0] == 1 and second[-1] == 1  # raster borders: no neighbour
    assert (first[:96] == 1).all() and (np.diff(first[96:]) < 0).all()
    assert (np.diff(second[:32]) > 0).all() and second[:32].min() > 0
    np.testing.assert_allclose(first[96:] + second[:32], 1.0, atol=1e-6)


def test_layout_rows_complete_in_order():
    layout = TileLayout(400, 300, 256, 128)
    assert layout.row_starts == [0, 128, 144] and layout.col_starts == [0, 44]
    assert [layout.complete_rows(i) for i in range(3)] == [(0, 128), (128, 144), (144, 400)]
    assert layout.num_tiles == 6 and (layout.tile_h, layout.tile_w) == (256, 256)
    small = TileLayout(50, 70, 256, 64)
    assert (small.tile_h, small.tile_w, small.num_tiles) == (50, 70, 1)


@pytest.mark.parametrize(("tile", "overlap"), [(256, 256), (128, 300)])
def test_overlap_must_be_smaller_than_the_tile(tile, overlap):
    with pytest.raises(
        ConfigError, match=f"--overlap {overlap} must be smaller than --tile-size {tile}"
    ):
        TileLayout(100, 100, tile, overlap)


def test_bad_blend_and_negative_overlap():
    with pytest.raises(
        ConfigError, match="--blend must be one of crop, smooth, constant, got 'gaussian'"
    ):
        TileLayout(100, 100, 64, 8, "gaussian")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--overlap must be an integer >= 0"):
        TileLayout(100, 100, 64, -1)


def test_defaults():
    assert default_tile_size(None) == 512
    assert default_tile_size(128) == 512 and default_tile_size(32) == 256
    assert default_tile_size(512) == 1024
    assert default_overlap(110, 512, 8) == 128  # rounded up to 32
    assert default_overlap(230, 512, 16) == 128  # capped at a quarter of the tile
    assert default_overlap(None, 256) == 64
