"""Counter-based random fields for the synthetic scene generator.

Every value here is a pure function of ``(key, integer coordinates)``: lattice values, Voronoi
sites and per-pixel noise come from a vectorised splitmix64 hash, never from a stateful random
generator. A pixel therefore gets the same value whichever block it is computed in, which is what
makes the generated scene independent of the block size.

Only IEEE-exact element-wise operations (``+ - * /``, ``sqrt``, ``floor``) touch per-pixel arrays,
so SIMD code paths cannot change a result by one ulp between block layouts.
"""

from __future__ import annotations

import zlib

import numpy as np

_U64 = np.uint64
_M32 = _U64(0xFFFFFFFF)
_GOLDEN = _U64(0x9E3779B97F4A7C15)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, element-wise on a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=_U64) + _GOLDEN
        z ^= z >> _U64(30)
        z *= _U64(0xBF58476D1CE4E5B9)
        z ^= z >> _U64(27)
        z *= _U64(0x94D049BB133111EB)
        z ^= z >> _U64(31)
    return z


def derive_key(seed: int, name: str) -> np.uint64:
    """A 64-bit key for one named random field of one seed."""
    raw = np.array([(seed & 0xFFFFFFFF) | (zlib.crc32(name.encode()) << 32)], dtype=_U64)
    high = np.array([(seed >> 32) & 0xFFFFFFFF], dtype=_U64)
    return splitmix64(splitmix64(raw) ^ high)[0]


def hash2(key: np.uint64, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """Hash integer coordinate pairs (broadcast) to uint64 values."""
    iy = np.asarray(iy).astype(np.int64).astype(_U64) & _M32
    ix = np.asarray(ix).astype(np.int64).astype(_U64) & _M32
    return splitmix64(((iy << _U64(32)) | ix) ^ key)


def unit(h: np.ndarray, part: int = 0) -> np.ndarray:
    """The ``part``-th (0-3) 16-bit slice of a hash as float32 in [0, 1)."""
    return ((h >> _U64(16 * part)) & _U64(0xFFFF)).astype(np.float32) * np.float32(1 / 65536)


def _lattice(key: np.uint64, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """Lattice values in [-1, 1) as float32."""
    h = hash2(key, iy, ix) >> _U64(40)
    return h.astype(np.float32) * np.float32(2.0 / (1 << 24)) - np.float32(1.0)


def _smooth(t: np.ndarray) -> np.ndarray:
    """Quintic fade curve (C2 continuous value noise)."""
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def _dsmooth(t: np.ndarray) -> np.ndarray:
    return 30.0 * t * t * (t * (t - 2.0) + 1.0)


def noise_grid(
    key: np.uint64, ys: np.ndarray, xs: np.ndarray, scale: float, deriv: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value noise on the grid ``ys x xs`` (1-D world coordinates), float32 in about [-1, 1].

    The interpolation is separable: lattice rows are first interpolated along x, then the
    rows along y, so the cost per pixel is a handful of array passes whatever ``scale`` is.

    Args:
        key: field key.
        ys, xs: coordinates of the rows and columns (same unit as ``scale``).
        scale: lattice spacing.
        deriv: also return the partial derivatives ``d/dy`` and ``d/dx`` (per unit).

    Returns:
        ``(len(ys), len(xs))`` array, or ``(value, d_dy, d_dx)`` with ``deriv``.
    """
    gy, gx = np.asarray(ys, np.float64) / scale, np.asarray(xs, np.float64) / scale
    iy, ix = np.floor(gy).astype(np.int64), np.floor(gx).astype(np.int64)
    fy, fx = gy - iy, gx - ix
    y0, x0 = int(iy.min()), int(ix.min())
    lat = _lattice(
        key,
        np.arange(y0, int(iy.max()) + 2)[:, None],
        np.arange(x0, int(ix.max()) + 2)[None, :],
    )
    jx, jy = ix - x0, iy - y0
    a = lat[:, jx]
    d = lat[:, jx + 1] - a
    wx = _smooth(fx).astype(np.float32)
    wy = _smooth(fy).astype(np.float32)[:, None]
    row = a + d * wx
    c = row[jy]
    e = row[jy + 1] - c
    out = c + e * wy
    if not deriv:
        return out
    drow = d * (_dsmooth(fx) / scale).astype(np.float32)
    dc = drow[jy]
    d_dx = dc + (drow[jy + 1] - dc) * wy
    d_dy = e * (_dsmooth(fy) / scale).astype(np.float32)[:, None]
    return out, d_dy, d_dx


def noise_points(key: np.uint64, y: np.ndarray, x: np.ndarray, scale: float) -> np.ndarray:
    """Value noise at scattered points; same field and arithmetic as :func:`noise_grid`."""
    gy, gx = np.asarray(y, np.float64) / scale, np.asarray(x, np.float64) / scale
    iy, ix = np.floor(gy).astype(np.int64), np.floor(gx).astype(np.int64)
    wx = _smooth(gx - ix).astype(np.float32)
    wy = _smooth(gy - iy).astype(np.float32)
    v00, v01 = _lattice(key, iy, ix), _lattice(key, iy, ix + 1)
    v10, v11 = _lattice(key, iy + 1, ix), _lattice(key, iy + 1, ix + 1)
    top = v00 + (v01 - v00) * wx
    bottom = v10 + (v11 - v10) * wx
    return top + (bottom - top) * wy


def _octaves(seed: int, name: str, scale: float, octaves: int):
    amp, total = 1.0, 0.0
    for k in range(octaves):
        yield derive_key(seed, f"{name}/{k}"), scale / 2.0**k, np.float32(amp)
        total += amp
        amp *= 0.5


def _norm(octaves: int) -> np.float32:
    return np.float32(1.0 / sum(0.5**k for k in range(octaves)))


def fbm_grid(
    seed: int, name: str, ys: np.ndarray, xs: np.ndarray, scale: float, octaves: int
) -> np.ndarray:
    """Fractal (fBm) value noise on a grid, normalised by the amplitude sum."""
    out = np.zeros((len(ys), len(xs)), np.float32)
    for key, s, amp in _octaves(seed, name, scale, octaves):
        out += noise_grid(key, ys, xs, s) * amp
    return out * _norm(octaves)


def fbm_grid_deriv(
    seed: int, name: str, ys: np.ndarray, xs: np.ndarray, scale: float, octaves: int
) -> tuple[np.ndarray, np.ndarray]:
    """fBm on a grid and the magnitude of its gradient (per unit)."""
    out = np.zeros((len(ys), len(xs)), np.float32)
    gy, gx = np.zeros_like(out), np.zeros_like(out)
    for key, s, amp in _octaves(seed, name, scale, octaves):
        v, dy, dx = noise_grid(key, ys, xs, s, deriv=True)
        out += v * amp
        gy += dy * amp
        gx += dx * amp
    n = _norm(octaves)
    return out * n, np.sqrt(gy * gy + gx * gx) * n


def fbm_points(
    seed: int, name: str, y: np.ndarray, x: np.ndarray, scale: float, octaves: int
) -> np.ndarray:
    """The field of :func:`fbm_grid` evaluated at scattered points."""
    out = np.zeros(np.broadcast_shapes(np.shape(y), np.shape(x)), np.float32)
    for key, s, amp in _octaves(seed, name, scale, octaves):
        out += noise_points(key, y, x, s) * amp
    return out * _norm(octaves)


def voronoi_cells(
    key: np.uint64, p: np.ndarray, q: np.ndarray, jitter: float = 0.4
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nearest site of a jittered unit grid, for points ``(p, q)`` in cell units.

    Site of cell ``(j, i)`` is ``(i + 0.5 + jitter * U, j + 0.5 + jitter * V)`` with ``U, V`` in
    [-1, 1) hashed from ``(key, j, i)``; the 3 x 3 neighbouring cells are searched.

    Returns:
        ``(index, site_q, site_p, cell_hash)``: per point the flat index into the three tables
        (site coordinates and a uint64 hash per cell) that cover the points' cells.
    """
    ip = np.floor(p).astype(np.int64)
    iq = np.floor(q).astype(np.int64)
    p0, q0 = int(ip.min()) - 1, int(iq.min()) - 1
    n_p = int(ip.max()) + 2 - p0
    n_q = int(iq.max()) + 2 - q0
    cj = np.arange(q0, q0 + n_q)[:, None]
    ci = np.arange(p0, p0 + n_p)[None, :]
    h = hash2(key, cj, ci)
    site_p = (ci + 0.5 + jitter * (2.0 * unit(h, 0) - 1.0)).astype(np.float32).ravel()
    site_q = (cj + 0.5 + jitter * (2.0 * unit(h, 1) - 1.0)).astype(np.float32).ravel()
    base = (iq - q0) * n_p + (ip - p0)
    best = np.zeros(p.shape, np.float32) + np.float32(np.inf)
    index = base.copy()
    for dj in (-1, 0, 1):
        for di in (-1, 0, 1):
            idx = base + (dj * n_p + di)
            dp = site_p[idx] - p
            dq = site_q[idx] - q
            dist = dp * dp + dq * dq
            closer = dist < best
            best = np.where(closer, dist, best)
            index = np.where(closer, idx, index)
    return index, site_q, site_p, h.ravel()
