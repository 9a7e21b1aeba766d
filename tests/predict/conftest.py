"""Fixtures of the prediction tests: a run directory and small GeoTIFFs in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from predict_helpers import make_run, smooth_scene, write_image


@pytest.fixture
def run_dir(tmp_path) -> Path:
    return make_run(tmp_path / "run")


@pytest.fixture
def image_path(tmp_path) -> Path:
    data = smooth_scene(300, 340)
    data[:, :20, :30] = -9999.0  # a nodata corner
    return write_image(tmp_path / "image.tif", data, nodata=-9999.0)
