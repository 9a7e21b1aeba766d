"""Suite-wide test settings."""

from __future__ import annotations

import os

from hypothesis import settings

# Small models on tiny inputs run fastest single-threaded; more threads only add overhead.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# No wall-clock limits in tests: a busy CI machine must not turn a slow example into a failure.
settings.register_profile("terralearn", deadline=None)
settings.load_profile("terralearn")


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)
