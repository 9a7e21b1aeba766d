"""Suite-wide test settings."""

from __future__ import annotations

import os

# Small models on tiny inputs run fastest single-threaded; more threads only add overhead.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)
