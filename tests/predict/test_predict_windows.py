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
    crop_axis,
    default_batch_size,
    default_blend,
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


@pytest.mark.parametrize(
    ("length", "tile", "overlap", "starts", "ends", "cores"),
    [
        # cores of 960 px; tiles start 32 px before their core, the last one ends at the edge
        (2000, 1024, 64, [0, 928, 1888], [1024, 1952, 2000], [(0, 960), (960, 1920), (1920, 2000)]),
        (1920, 1024, 64, [0, 928], [1024, 1920], [(0, 960), (960, 1920)]),
        (1024, 1024, 64, [0], [1024], [(0, 1024)]),  # no longer than a tile: one tile
        (500, 1024, 64, [0], [500], [(0, 500)]),
        (300, 96, 16, [0, 72, 152, 232], [96, 168, 248, 300], [(0, 80), (80, 160), (160, 240), (240, 300)]),
    ],
)  # fmt: skip
def test_crop_tiles_start_a_margin_before_their_core(length, tile, overlap, starts, ends, cores):
    assert crop_axis(length, tile, overlap) == (starts, ends, cores)
    layout = TileLayout(length, length, tile, overlap, "crop")
    assert layout.row_starts == layout.col_starts == starts
    assert layout.row_ends == layout.col_ends == ends
    assert layout.row_cores == layout.col_cores == cores
    assert layout.chunks == (cores[0][1], cores[0][1])
    assert layout.num_tiles == len(cores) ** 2


@given(
    length=st.integers(1, 3000), tile=st.integers(2, 600), overlap=st.integers(0, 300)
)  # fmt: skip
def test_crop_cores_partition_the_axis_inside_their_tiles(length, tile, overlap):
    if overlap >= tile:
        return
    starts, ends, cores = crop_axis(length, tile, overlap)
    assert cores[0][0] == 0 and cores[-1][1] == length
    assert all(b == a2 for (_, b), (a2, _) in pairwise(cores))  # no gap, no overlap
    for start, end, (a, b) in zip(starts, ends, cores, strict=True):
        assert 0 <= start <= a < b <= end <= length and end - start <= tile
        # the margin before a core: overlap // 2, or the raster's edge
        assert a - start == min(overlap // 2, a)


def test_crop_is_the_default_but_for_global_attention():
    assert default_blend(global_context=False) == "crop"
    assert default_blend(global_context=True) == "smooth"
    assert default_tile_size(64, "crop") == default_tile_size(None, "crop") == 768
    assert default_overlap(236, 768, 16, "crop") == 64  # 32 px margins, on the 16 px grid
    assert default_overlap(116, 768, 8, "crop") == 64
    assert default_overlap(None, 96, 8, "crop") == 16  # a quarter of the tile, on the grid
    assert default_batch_size(1024, 1024) == 1
    assert default_batch_size(256, 256) == 16 and default_batch_size(2048, 2048) == 1


def test_crop_tiles_are_as_large_as_the_activation_budget_allows():
    from terralearn.predict.windows import crop_tile_size

    assert crop_tile_size(None) == 768  # memory unknown
    assert crop_tile_size(272.0) == 1792  # unet_small with the inference rewrites
    assert crop_tile_size(488.0) == 1280  # unet
    assert crop_tile_size(4.0) == 2048  # capped
    assert crop_tile_size(1e6) == 512  # floored
    assert default_tile_size(16, "crop", 272.0) == 1792
    assert default_tile_size(16, "smooth", 128.0) == 256  # ViTs: 4x the chip size
