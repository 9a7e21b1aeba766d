"""Sentinel-2-like surface reflectance for the synthetic land-cover map.

Each class has three endmember spectra (``variant`` 0, 0.5 and 1, linearly mixed in between),
close to typical Sentinel-2 L2A values: water dark with almost no NIR, forest with low red and
high NIR, cropland moving from a green canopy through senescence to bare ploughed soil, grassland
from lush to dry, bare soil rising into the SWIR, built-up bright and flat with high SWIR.
Some endmembers overlap on purpose (dry grass, ripe crops, bare parcels, bare soil, light roofs)
so that a pixel's spectrum alone does not always tell the class: shape and context have to.

The spectrum is scaled by an object brightness and a class-dependent texture, slightly blurred
(mixed pixels at edges, like a sensor's point spread), optionally covered by partly transparent
clouds with their shadows, and given per-pixel sensor noise.
"""

from __future__ import annotations

import numpy as np

from terralearn.datasets._noise import derive_key, fbm_grid, hash2
from terralearn.datasets.landscape import Patch

BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B8", "B11", "B12")

# class -> (variant 0, 0.5, 1) -> bands B2 B3 B4 B8 B11 B12, surface reflectance x 10000
ENDMEMBERS = np.array(
    [
        # water: clear, average, turbid
        [
            [450, 420, 260, 140, 70, 45],
            [600, 650, 450, 240, 120, 80],
            [820, 950, 850, 520, 210, 140],
        ],
        # forest: conifer, mixed, broadleaf
        [
            [200, 370, 200, 2300, 1100, 500],
            [250, 450, 260, 2900, 1350, 620],
            [300, 560, 300, 3700, 1650, 760],
        ],
        # cropland: green canopy, ripe, bare ploughed
        [
            [320, 680, 360, 4300, 2100, 1000],
            [720, 1000, 1200, 2800, 2900, 2000],
            [1000, 1300, 1600, 2200, 3000, 2600],
        ],
        # grassland: lush, average, dry
        [
            [320, 600, 380, 3500, 1800, 880],
            [500, 820, 720, 3000, 2400, 1400],
            [760, 1020, 1180, 2600, 2900, 2100],
        ],
        # bare soil: dark moist soil, average, bright sand or rock
        [
            [900, 1150, 1450, 2000, 2900, 2500],
            [1150, 1400, 1750, 2400, 3300, 2900],
            [1600, 1900, 2250, 2800, 3700, 3300],
        ],
        # built-up: asphalt, concrete / grey roofs, red tiles
        [
            [850, 900, 950, 1150, 1350, 1250],
            [1400, 1450, 1550, 1900, 2300, 2100],
            [1000, 1150, 1700, 2200, 2900, 2400],
        ],
    ],
    dtype=np.float32,
)
TEXTURE = np.array([0.03, 0.16, 0.05, 0.06, 0.09, 0.14], np.float32)  # relative amplitude per class
CLOUD = np.array([7200, 7000, 6900, 7100, 5200, 3900], np.float32)
_CLOUD_FIELD = ("cloud", 5000.0, 6)
_CLOUD_LEVEL, _CLOUD_GAIN, _CLOUD_MAX = 0.28, 2.5, 0.9
_SHADOW_SHIFT = (700.0, -900.0)  # metres south, east: sun from the north-west
_SHADOW_DEPTH = 0.55


def _lut(values: np.ndarray) -> np.ndarray:
    """A 256-entry lookup table (unused class ids map to 0)."""
    table = np.zeros(256, np.float32)
    table[: len(values)] = values
    return table


def reflectance(patch: Patch) -> np.ndarray:
    """Noise-free reflectance ``(band, y, x)`` float32 of a land-cover patch."""
    cls = patch.cls
    v2 = patch.variant * np.float32(2)
    t1 = np.minimum(v2, np.float32(1))
    t2 = np.maximum(v2 - np.float32(1), np.float32(0))
    mod = patch.bright * (np.float32(1) + np.take(_lut(TEXTURE), cls) * patch.texture)
    out = np.empty((len(BANDS), *cls.shape), np.float32)
    for b in range(len(BANDS)):
        lo, mid, hi = ENDMEMBERS[:, 0, b], ENDMEMBERS[:, 1, b], ENDMEMBERS[:, 2, b]
        spec = np.take(_lut(lo), cls)
        spec += np.take(_lut(mid - lo), cls) * t1
        spec += np.take(_lut(hi - mid), cls) * t2
        out[b] = spec * mod
    return out


def blur(image: np.ndarray) -> np.ndarray:
    """3 x 3 binomial blur of ``(band, y, x)``, dropping a one-pixel halo on every side."""
    rows = image[:, :-2] + image[:, 1:-1] * np.float32(2) + image[:, 2:]
    return (rows[:, :, :-2] + rows[:, :, 1:-1] * np.float32(2) + rows[:, :, 2:]) * np.float32(
        1 / 16
    )


def cloud_cover(seed: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Cloud opacity in [0, _CLOUD_MAX] on the grid (world coordinates in metres)."""
    name, scale, octaves = _CLOUD_FIELD
    field = fbm_grid(seed, name, ys, xs, scale, octaves)
    return np.clip((field - np.float32(_CLOUD_LEVEL)) * np.float32(_CLOUD_GAIN), 0, _CLOUD_MAX)


def add_clouds(image: np.ndarray, seed: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Darken cloud shadows and blend bright clouds over ``image`` (in place, returned)."""
    dy, dx = _SHADOW_SHIFT
    shadow = cloud_cover(seed, np.asarray(ys) - dy, np.asarray(xs) - dx)
    alpha = cloud_cover(seed, ys, xs)
    image *= np.float32(1) - np.float32(_SHADOW_DEPTH) * shadow
    keep = np.float32(1) - alpha
    for b in range(len(BANDS)):
        image[b] = image[b] * keep + alpha * CLOUD[b]
    return image


def sensor_noise(seed: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Per-pixel, per-band noise ``(band, y, x)`` with unit variance, from a counter hash.

    Each band's value is the sum of two hashed bytes (a triangular distribution), centred and
    scaled; it depends only on ``(seed, row, col, band)``.
    """
    r = np.asarray(rows, np.int64)[:, None]
    c = np.asarray(cols, np.int64)[None, :]
    h1 = hash2(derive_key(seed, "noise/1"), r, c).astype("<u8")
    h2 = hash2(derive_key(seed, "noise/2"), r, c).astype("<u8")
    b1 = h1.view(np.uint8).reshape(*h1.shape, 8)
    b2 = h2.view(np.uint8).reshape(*h2.shape, 8)
    out = np.empty((len(BANDS), *h1.shape), np.float32)
    scale = np.float32(1 / np.sqrt(2 * (256**2 - 1) / 12))
    for b in range(len(BANDS)):
        out[b] = (b1[..., b].astype(np.float32) + b2[..., b] - np.float32(255)) * scale
    return out


def add_noise(image: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Signal-dependent sensor noise: sigma = 12 + 1.5 % of the signal (in place, returned)."""
    image += noise * (np.float32(12) + np.float32(0.015) * image)
    return image


def to_uint16(image: np.ndarray) -> np.ndarray:
    """Round to uint16 in [1, 65535]; 0 stays reserved for nodata."""
    return np.clip(np.rint(image), 1, 65535).astype(np.uint16)
