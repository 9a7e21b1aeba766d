"""Shared helpers for the figure tests."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pytest


def png_shape(path) -> tuple[int, int]:
    """(height, width) of a PNG read back with matplotlib."""
    return mpimg.imread(path).shape[:2]


def expected_pixels(size_inches: tuple[float, float], dpi: int) -> tuple[int, int]:
    return round(size_inches[1] * dpi), round(size_inches[0] * dpi)


@pytest.fixture
def classes() -> dict[int, str]:
    return {0: "water", 1: "tree", 3: "crop"}


@pytest.fixture
def chips() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two 3-band 16 x 16 chips with labels (one ignored corner) and predictions."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 3000, (2, 3, 16, 16)).astype(np.float32)
    labels = rng.choice([0, 1, 3], (2, 16, 16)).astype(np.uint8)
    labels[:, :4, :4] = 255
    preds = labels.copy()
    preds[:, :4, :4] = 1
    preds[0, 8:, :] = 0
    return images, labels, preds
