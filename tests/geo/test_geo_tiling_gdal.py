"""terralearn.geo: the one tiling rule (axis_offsets) and the GDAL cache policy (gdal_env)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from rasterio.env import get_gdal_config

from terralearn.geo import PREPARE_CACHE, READ_CACHE, axis_offsets, gdal_env
from terralearn.io.ee_fetch import tiles
from terralearn.predict.windows import axis_starts


def test_axis_offsets_snaps_the_last_window_to_the_edge():
    np.testing.assert_array_equal(axis_offsets(10, 4), [0, 4, 6])
    np.testing.assert_array_equal(axis_offsets(10, 4, 3), [0, 3, 6])
    np.testing.assert_array_equal(axis_offsets(4, 4), [0])


def test_axis_offsets_without_snap_starts_at_multiples_of_the_stride():
    np.testing.assert_array_equal(axis_offsets(10, 4, snap=False), [0, 4, 8])
    assert [(r.start, r.stop) for _, _, r, _ in tiles(10, 3, 4)] == [(0, 4), (4, 8), (8, 10)]


@pytest.mark.parametrize(("length", "tile", "stride"), [(100, 32, 24), (33, 32, 16), (20, 32, 24)])
def test_prediction_tiles_follow_the_same_rule(length, tile, stride):
    assert (
        axis_starts(length, tile, stride)
        == axis_offsets(length, min(tile, length), stride).tolist()
    )


@pytest.mark.parametrize("cache", [READ_CACHE, PREPARE_CACHE])
def test_gdal_env_caps_the_cache_and_keeps_a_smaller_one(cache):
    with rasterio.Env(GDAL_CACHEMAX=4 * cache):
        with gdal_env(cache, GDAL_PAM_ENABLED="NO"):
            assert get_gdal_config("GDAL_CACHEMAX") == cache
            assert get_gdal_config("GDAL_PAM_ENABLED") == "NO"
        assert get_gdal_config("GDAL_CACHEMAX") == 4 * cache
    with rasterio.Env(GDAL_CACHEMAX=cache // 4), gdal_env(cache):
        assert get_gdal_config("GDAL_CACHEMAX") == cache // 4


def test_importing_terralearn_leaves_the_environment_alone():
    env = {k: v for k, v in os.environ.items() if k != "GDAL_CACHEMAX"}
    code = "import os, terralearn.io, terralearn.predict; print(os.environ.get('GDAL_CACHEMAX'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None"
