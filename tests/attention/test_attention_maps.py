"""attention_maps: location, window, maps on the pixel grid, GeoTIFF, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from attention_helpers import (
    ORIGIN,
    RES,
    UNIQUE,
    make_run,
    unique_patch_image,
    unique_patch_vit,
    write_image,
)

from terralearn.attention import attention_maps, write_attention_geotiff
from terralearn.errors import ConfigError, IncompatibleError, OutputExistsError


@pytest.fixture
def unique_image(tmp_path):
    return write_image(tmp_path / "unique.tif", unique_patch_image())


def test_maps_of_the_hand_set_model_point_at_the_unique_patch(unique_image) -> None:
    # pixel (row 60, col 4), given in map coordinates (a pixel's centre)
    x, y = ORIGIN[0] + 4.5 * RES, ORIGIN[1] - 60.5 * RES
    maps = attention_maps(unique_patch_vit(), unique_image, (x, y))
    assert maps.point == (60, 4) and maps.query == (60, 4)
    assert maps.window == (0, 0, 64, 64) and maps.grid == (8, 8)
    assert maps.query_token == 7 * 8 + 0
    assert maps.rollout.shape == (64, 64) and maps.heads.shape == (2, 64, 64)
    r, c = UNIQUE
    bright = np.zeros((64, 64), bool)
    bright[r : r + 8, c : c + 8] = True
    own = np.zeros((64, 64), bool)
    own[56:64, 0:8] = True
    # each head puts all its weight on the bright patch's pixels
    assert np.allclose(maps.heads[:, bright], 1.0, atol=1e-3)
    assert np.allclose(maps.heads[:, ~bright], 0.0, atol=1e-3)
    # rollout of one block: half on the bright patch, half on the query's own patch
    assert np.allclose(maps.rollout[bright], 0.5, atol=1e-3)
    assert np.allclose(maps.rollout[own], 0.5, atol=1e-3)
    assert np.allclose(maps.rollout[~(bright | own)], 0.0, atol=1e-3)
    # per token the maps sum to 1 (each weight covers 8 x 8 pixels)
    assert maps.rollout.sum() / 64 == pytest.approx(1.0, abs=1e-4)
    assert maps.rgb.shape == (64, 64, 3) and maps.prediction.shape == (64, 64)
    assert maps.map_xy(60, 4) == (x, y)


def test_pixel_coordinates_and_a_window_clamped_inside_the_image(tmp_path) -> None:
    data = np.random.default_rng(0).normal(size=(3, 100, 150)).astype(np.float32)
    image = write_image(tmp_path / "image.tif", data)
    run = make_run(tmp_path / "run")
    maps = attention_maps(run, image, (140.7, 3.2), pixel=True, window=48)
    assert maps.point == (3, 140)
    assert maps.window == (0, 102, 48, 48)  # centred on the point, pushed back inside
    assert maps.query == (3, 38) and maps.grid == (6, 6)
    assert maps.query_token == 0 * 6 + 38 // 8
    assert maps.heads.shape == (3, 48, 48)  # vit_tiny: 3 heads
    assert maps.model == "vit_tiny" and maps.classes == {0: "water", 1: "forest", 2: "urban"}
    for values in (maps.rollout, *maps.heads):  # token weights sum to 1
        assert values.sum() / 64 == pytest.approx(1.0, abs=1e-4)
    assert maps.transform.c == ORIGIN[0] + 102 * RES and maps.transform.f == ORIGIN[1]
    # a window off the patch grid: the last tokens are partly padding, cropped from the maps
    maps = attention_maps(run, image, (10, 10), pixel=True, window=60)
    assert maps.rollout.shape == (60, 60) and maps.grid == (8, 8)


def test_geotiff_of_the_maps(tmp_path, unique_image) -> None:
    maps = attention_maps(unique_patch_vit(), unique_image, (4, 60), pixel=True)
    out = write_attention_geotiff(maps, tmp_path / "maps.tif")
    with rasterio.open(out) as src:
        assert src.count == 3 and src.dtypes[0] == "float32"
        assert src.descriptions == ("rollout", "head_1", "head_2")
        assert src.crs.to_epsg() == 32633
        assert src.transform == maps.transform
        assert np.array_equal(src.read(1), maps.rollout)
        assert np.array_equal(src.read(3), maps.heads[1])
        assert src.tags()["query_row"] == "60" and src.tags()["window"] == "0,0,64,64"
    with pytest.raises(OutputExistsError, match="already exists; pass --overwrite"):
        write_attention_geotiff(maps, out)


def test_a_point_outside_the_image(unique_image) -> None:
    model = unique_patch_vit()
    with pytest.raises(
        ConfigError,
        match=r"--at 499990 5000010 is outside image '.*unique.tif' \(x 500000 to 500640, "
        r"y 4999360 to 5000000 in EPSG:32633\); give map coordinates",
    ):
        attention_maps(model, unique_image, (499_990.0, 5_000_010.0))
    with pytest.raises(
        ConfigError,
        match=r"--at 64 0 --pixel is outside image .* \(64 x 64 px: columns 0 to 63, rows 0 to 63\)",
    ):
        attention_maps(model, unique_image, (64, 0), pixel=True)


def test_a_model_without_attention(tmp_path) -> None:
    run = make_run(tmp_path / "unet_run", model="unet_small")
    image = write_image(tmp_path / "image.tif", np.zeros((3, 32, 32), np.float32))
    with pytest.raises(
        IncompatibleError,
        match=r"run '.*unet_run' uses model 'unet_small', which has no attention maps; they need "
        r"a transformer \(vit_tiny, vit_small, vit_hybrid_tiny\)",
    ):
        attention_maps(run, image, (1, 1), pixel=True)


def test_window_limits(unique_image, tmp_path) -> None:
    model = unique_patch_vit()
    with pytest.raises(
        ConfigError, match=r"--window must be an integer of at least the patch size \(8 px\), got 4"
    ):
        attention_maps(model, unique_image, (1, 1), pixel=True, window=4)
    big = write_image(tmp_path / "big.tif", np.zeros((1, 600, 600), np.float32))
    with pytest.raises(
        ConfigError, match="--window 584 makes 5329 tokens of 8 px; .* use --window 512 or less"
    ):
        attention_maps(model, big, (1, 1), pixel=True, window=584)
