"""Suite-wide test settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Small models on tiny inputs run fastest single-threaded; more threads only add overhead.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# No wall-clock limits in tests: a busy CI machine must not turn a slow example into a failure.
settings.register_profile("terralearn", deadline=None)
settings.load_profile("terralearn")


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)


# The real NC Landsat scene (GPL: read in place, never copied into the repo); CI has ../shared.
NC_REAL_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" / "nc"


@pytest.fixture
def nc_real_dir() -> Path:
    """``../shared/data/real/nc`` beside the checkout; the test is skipped when it is absent."""
    if not (NC_REAL_DIR / "landsat_multiband.tif").exists():
        pytest.skip(f"real NC data not found at {NC_REAL_DIR.resolve()}")
    return NC_REAL_DIR
