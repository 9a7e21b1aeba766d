"""Counter-based random fields: hash values, noise consistency, Voronoi nearest sites."""

from __future__ import annotations

import numpy as np

from terralearn.datasets import _noise


def test_splitmix64_matches_the_reference_sequence():
    # splitmix64 with state 0: first outputs are mix(1 * golden), mix(2 * golden)
    golden = np.uint64(0x9E3779B97F4A7C15)
    out = _noise.splitmix64(np.array([0, golden], dtype=np.uint64))
    assert [hex(v) for v in out] == ["0xe220a8397b1dcdaf", "0x6e789e6aa1b965f4"]


def test_derived_keys_differ_by_seed_and_name():
    keys = {_noise.derive_key(s, n) for s in (0, 1, 2**40) for n in ("a", "b")}
    assert len(keys) == 6


def test_grid_noise_is_the_same_field_as_point_noise_and_block_independent():
    key = _noise.derive_key(0, "t")
    ys, xs = np.arange(-50, 70) * 7.3, np.arange(30, 140) * 5.1
    grid = _noise.noise_grid(key, ys, xs, 100.0)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    np.testing.assert_array_equal(grid, _noise.noise_points(key, yy, xx, 100.0))
    np.testing.assert_array_equal(grid[40:, 17:], _noise.noise_grid(key, ys[40:], xs[17:], 100.0))
    assert grid.min() >= -1.0 and grid.max() <= 1.0 and grid.std() > 0.1


def test_noise_gradient_matches_finite_differences():
    ys, xs = np.arange(0, 400, 1.0), np.arange(0, 300, 1.0)
    value, grad = _noise.fbm_grid_deriv(3, "r", ys, xs, 200.0, 3)
    gy, gx = np.gradient(value.astype(np.float64))
    fd = np.hypot(gy, gx)[1:-1, 1:-1]
    np.testing.assert_allclose(grad[1:-1, 1:-1], fd, atol=2e-4)


def test_voronoi_finds_the_nearest_site():
    key = _noise.derive_key(1, "v")
    rng = np.random.default_rng(0)
    p = rng.uniform(-20, 20, (50, 40)).astype(np.float32)
    q = rng.uniform(5, 45, (50, 40)).astype(np.float32)
    index, site_q, site_p, _ = _noise.voronoi_cells(key, p, q, jitter=0.4)
    d_best = (site_p[index] - p) ** 2 + (site_q[index] - q) ** 2
    d_all = (site_p[None, None, :] - p[..., None]) ** 2 + (
        site_q[None, None, :] - q[..., None]
    ) ** 2
    np.testing.assert_allclose(d_best, d_all.min(axis=-1), rtol=1e-6)
