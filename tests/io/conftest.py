"""Fixtures for tests/io."""

from __future__ import annotations

from pathlib import Path

import pytest
from io_helpers import BANDS, scene, write_tif


@pytest.fixture
def tif(tmp_path: Path) -> Path:
    """The 3-band scene as a GeoTIFF with band descriptions."""
    return write_tif(tmp_path / "scene.tif", scene(), BANDS)
