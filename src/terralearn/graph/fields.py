"""Seeded test data with known truth: Gaussian random fields and points sampled from them.

The field is drawn by the spectral method: white noise filtered in Fourier space by the square
root of a Gaussian covariance's spectrum, so it is smooth with correlation length
``length_scale`` (in pixels) and is periodic over the grid.
"""

from __future__ import annotations

import numpy as np

from terralearn.graph.points import PointSet


def gaussian_random_field(size: int = 512, length_scale: float = 32.0, seed: int = 0) -> np.ndarray:
    """A ``(size, size)`` zero-mean, unit-variance Gaussian random field.

    Covariance ``C(r) = exp(-r^2 / (2 l^2))`` with ``l = length_scale`` pixels.
    """
    rng = np.random.default_rng(seed)
    k = np.fft.fftfreq(size)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    spectrum = np.exp(-2 * (np.pi * length_scale) ** 2 * k2)
    noise = np.fft.fft2(rng.standard_normal((size, size)))
    field = np.fft.ifft2(noise * np.sqrt(spectrum)).real
    return (field - field.mean()) / field.std()


def sample_field(
    field: np.ndarray,
    n: int,
    seed: int = 0,
    noise: float = 0.0,
    pixel_size: float = 1.0,
) -> tuple[PointSet, np.ndarray]:
    """``n`` points at distinct random pixel centres of ``field``, with optional noise.

    Returns:
        The points (x east, y north, in units of ``pixel_size``; target = field + noise) and
        the noise-free truth at them.
    """
    rng = np.random.default_rng(seed)
    rows, cols = field.shape
    if n > rows * cols:
        raise ValueError(f"cannot draw {n} distinct pixels from a {rows} x {cols} field")
    flat = rng.choice(rows * cols, size=n, replace=False)
    r, c = np.divmod(flat, cols)
    xy = np.column_stack([(c + 0.5) * pixel_size, (rows - r - 0.5) * pixel_size])
    truth = field[r, c].astype(np.float64)
    target = truth + noise * rng.standard_normal(n)
    points = PointSet(xy=xy, target=target, target_name="value", source="<random field>")
    return points, truth
