"""The land-cover map of the synthetic scene, computed window by window.

The landscape is a pure function of the seed and of world coordinates (metres east and south of
the scene origin), built from layers in this order, each overriding the previous one:

1. zones from large-scale fBm noise: grassland by default, bare soil where a "dryness" field is
   high or the "elevation" field is very high, forest where a "land use" field is high;
2. agricultural zones: Voronoi cells of a rotated, jittered grid (field parcels) whose site lies
   where the land-use field is low; 80 % of the parcels are cropland, the rest meadows (grassland);
3. towns: blobs around hashed centres (one candidate per 5 km cell) with grid streets and a few
   parks (grassland), all other town pixels built-up;
4. rivers: a band around the zero iso-line of a smooth fBm field (constant width thanks to the
   analytic gradient);
5. straight roads between towns of neighbouring cells (built-up);
6. lakes: basins where the elevation field is low (water).

Besides the class, every pixel carries an object-level ``variant`` in [0, 1] (crop phase, forest
type, roof type, turbidity ...) and ``bright`` factor, so that each parcel, forest stand, town
block or lake has its own spectrum; :mod:`terralearn.datasets.spectra` turns them into
reflectance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from terralearn.datasets._noise import (
    derive_key,
    fbm_grid,
    fbm_grid_deriv,
    fbm_points,
    hash2,
    splitmix64,
    unit,
    voronoi_cells,
)
from terralearn.pixels import NO_LABEL  # noqa: F401 (public here: the label of unlabelled pixels)

CLASS_NAMES: tuple[str, ...] = ("water", "forest", "cropland", "grassland", "bare soil", "built-up")
WATER, FOREST, CROP, GRASS, BARE, BUILT = range(6)

# Field levels, tuned so that no class falls below ~3 % on a 20 km scene (see tests).
_ELEV = ("elev", 7000.0, 5)
_USE = ("use", 4000.0, 5)
_DRY = ("dry", 3000.0, 4)
_BASIN = ("basin", 2500.0, 4)
_LAKE_LEVEL = -0.42
_ROCK_LEVEL = 0.36
_DRY_LEVEL = 0.14
_FOREST_LEVEL = 0.15
_AGRI_LEVEL = -0.05
_CROP_SHARE = 0.8
_PARCEL = (320.0, 190.0)  # parcel spacing along / across the field direction, metres
_STAND = 450.0  # forest stand / natural patch spacing, metres
_TOWN_CELL = 5000.0
_TOWN_RADIUS = (500.0, 1400.0)
_ROAD_HALF_WIDTH = 6.0
_RIVER_HALF_WIDTH = (16.0, 30.0)


@dataclass(frozen=True)
class Towns:
    """Town centres (metres), radii, street layout and the roads linking them."""

    cy: np.ndarray
    cx: np.ndarray
    radius: np.ndarray
    angle: np.ndarray
    spacing: np.ndarray
    key: np.ndarray  # uint64 per town, seeds its blocks
    roads: np.ndarray  # (n, 4): y0, x0, y1, x1


def make_towns(seed: int, extent_y: float, extent_x: float) -> Towns:
    """All towns (and roads) whose area can touch the scene ``[0, extent_y] x [0, extent_x]``."""
    cs = _TOWN_CELL
    j = np.arange(-1, int(np.ceil(extent_y / cs)) + 1)
    i = np.arange(-1, int(np.ceil(extent_x / cs)) + 1)
    jj, ii = np.meshgrid(j, i, indexing="ij")
    h = hash2(derive_key(seed, "towns"), jj, ii)
    h2 = splitmix64(h)
    cy = (jj + 0.2 + 0.6 * unit(h, 0)) * cs
    cx = (ii + 0.2 + 0.6 * unit(h, 1)) * cs
    lo, hi = _TOWN_RADIUS
    radius = lo + (hi - lo) * unit(h, 2) ** 2
    basin = fbm_points(seed, _BASIN[0], cy, cx, _BASIN[1], _BASIN[2])
    exists = (unit(h, 3) < 0.95) & (basin > _LAKE_LEVEL + 0.15)
    roads = []
    for dj, di in ((0, 1), (1, 0), (1, 1)):
        a = exists[: len(j) - dj, : len(i) - di]
        b = exists[dj:, di:]
        keep = a & b & (unit(h2[: len(j) - dj, : len(i) - di], dj + di) < 0.8)
        if dj and di:  # few diagonal roads
            keep &= unit(h2[:-1, :-1], 3) < 0.3
        roads.append(
            np.stack(
                [
                    cy[: len(j) - dj, : len(i) - di][keep],
                    cx[: len(j) - dj, : len(i) - di][keep],
                    cy[dj:, di:][keep],
                    cx[dj:, di:][keep],
                ],
                axis=1,
            )
        )
    return Towns(
        cy=cy[exists].astype(np.float64),
        cx=cx[exists].astype(np.float64),
        radius=radius[exists].astype(np.float64),
        angle=(unit(h2, 0)[exists] * (np.pi / 2)).astype(np.float64),
        spacing=(90.0 + 60.0 * unit(h2, 1)[exists]).astype(np.float64),
        key=h2[exists],
        roads=np.concatenate(roads).astype(np.float64),
    )


@dataclass
class Patch:
    """Land cover of one window: class, object variant, object brightness, texture."""

    cls: np.ndarray  # uint8 class id
    variant: np.ndarray  # float32 in [0, 1]
    bright: np.ndarray  # float32 around 1
    texture: np.ndarray  # float32 in about [-1, 1], spatially correlated


def landscape(
    seed: int, towns: Towns, rows: np.ndarray, cols: np.ndarray, resolution: float
) -> Patch:
    """Compute the land cover on the grid of global pixel ``rows`` x ``cols``."""
    ys = (np.asarray(rows, np.float64) + 0.5) * resolution
    xs = (np.asarray(cols, np.float64) + 0.5) * resolution
    shape = (len(ys), len(xs))
    elev = fbm_grid(seed, _ELEV[0], ys, xs, _ELEV[1], _ELEV[2])
    use = fbm_grid(seed, _USE[0], ys, xs, _USE[1], _USE[2])
    dry = fbm_grid(seed, _DRY[0], ys, xs, _DRY[1], _DRY[2])
    wobble = fbm_grid(seed, "wobble", ys, xs, 400.0, 2)
    texture = fbm_grid(seed, "texture", ys, xs, 80.0, 3)

    # 1. natural zones, split into stands (patches with their own spectrum)
    cls = np.full(shape, GRASS, np.uint8)
    cls[(dry > _DRY_LEVEL) | (elev > _ROCK_LEVEL)] = BARE
    cls[use > _FOREST_LEVEL] = FOREST
    wob = wobble * np.float32(0.35)
    sp = np.float32(xs / _STAND)[None, :] + wob
    sq = np.float32(ys / _STAND)[:, None] - wob
    idx, _, _, hs = voronoi_cells(derive_key(seed, "stands"), sp, sq, jitter=0.45)
    hs = splitmix64(hs)
    variant = unit(hs, 0)[idx]
    bright = (0.9 + 0.2 * unit(hs, 1))[idx]

    # 2. field parcels in agricultural zones (decided per parcel, at its site)
    theta = float(unit(hash2(derive_key(seed, "fields"), 0, 0), 0)) * np.pi
    c, s = np.cos(theta), np.sin(theta)
    pa, pb = _PARCEL
    pp = np.float32(xs * (c / pa))[None, :] + np.float32(ys * (s / pa))[:, None]
    pq = np.float32(xs * (-s / pb))[None, :] + np.float32(ys * (c / pb))[:, None]
    idx, site_q, site_p, hp = voronoi_cells(derive_key(seed, "parcels"), pp, pq, jitter=0.3)
    sx = site_p * np.float32(pa * c) - site_q * np.float32(pb * s)
    sy = site_p * np.float32(pa * s) + site_q * np.float32(pb * c)
    agri = (fbm_points(seed, _USE[0], sy, sx, _USE[1], _USE[2]) < _AGRI_LEVEL)[idx]
    hp = splitmix64(hp)
    crop = unit(hp, 2)[idx] < _CROP_SHARE
    cls[agri] = np.where(crop[agri], CROP, GRASS).astype(np.uint8)
    variant[agri] = (unit(hp, 0) ** 1.5)[idx][agri]  # more green parcels than bare ones
    bright[agri] = (0.9 + 0.2 * unit(hp, 1))[idx][agri]

    # 3. towns, 4. rivers, 5. roads, 6. lakes
    _draw_towns(towns, ys, xs, wobble, cls, variant, bright)
    river, grad = fbm_grid_deriv(seed, "river", ys, xs, 16000.0, 4)
    lo, hi = _RIVER_HALF_WIDTH
    half = np.float32(lo) + np.float32((hi - lo) / 2) * (wobble + np.float32(1))
    water = np.abs(river) < half * grad
    turbid = fbm_grid(seed, "turbid", ys, xs, 2500.0, 2)
    cls[water] = WATER
    variant[water] = np.float32(0.75) + np.float32(0.2) * turbid[water]
    _draw_roads(towns.roads, ys, xs, cls, variant)
    lake = fbm_grid(seed, _BASIN[0], ys, xs, _BASIN[1], _BASIN[2]) < _LAKE_LEVEL
    cls[lake] = WATER
    variant[lake] = np.float32(0.35) + np.float32(0.3) * turbid[lake]
    bright[cls == WATER] = 1.0
    return Patch(cls=cls, variant=variant, bright=bright, texture=texture)


def _window(ys: np.ndarray, xs: np.ndarray, y0: float, y1: float, x0: float, x1: float):
    """Row and column slices of the grid inside the box, or None."""
    r = np.searchsorted(ys, [y0, y1])
    k = np.searchsorted(xs, [x0, x1])
    if r[0] >= r[1] or k[0] >= k[1]:
        return None
    return slice(int(r[0]), int(r[1])), slice(int(k[0]), int(k[1]))


def _draw_towns(
    towns: Towns,
    ys: np.ndarray,
    xs: np.ndarray,
    wobble: np.ndarray,
    cls: np.ndarray,
    variant: np.ndarray,
    bright: np.ndarray,
) -> None:
    for t in range(len(towns.cy)):
        cy, cx, r = towns.cy[t], towns.cx[t], towns.radius[t]
        win = _window(ys, xs, cy - 1.6 * r, cy + 1.6 * r, cx - 1.6 * r, cx + 1.6 * r)
        if win is None:
            continue
        dy = np.float32(ys[win[0]] - cy)[:, None]
        dx = np.float32(xs[win[1]] - cx)[None, :]
        dist = np.sqrt(dx * dx + dy * dy) * np.float32(1 / r) + np.float32(0.45) * wobble[win]
        inside = dist < 1.0
        if not inside.any():
            continue
        ca, sa, spacing = np.cos(towns.angle[t]), np.sin(towns.angle[t]), towns.spacing[t]
        a = (dx * np.float32(ca / spacing) + dy * np.float32(sa / spacing)).astype(np.float32)
        b = (dy * np.float32(ca / spacing) - dx * np.float32(sa / spacing)).astype(np.float32)
        ia, ib = np.floor(a), np.floor(b)
        width = np.float32(14.0 / spacing)
        street = ((a - ia) < width) | ((b - ib) < width)
        hb = hash2(towns.key[t], ib, ia)
        park = (unit(hb, 0) < 0.07) & ~street
        sub_cls = cls[win]
        sub_cls[inside] = np.where(park, GRASS, BUILT)[inside]
        v = np.where(street, np.float32(0.05), np.float32(0.3) + np.float32(0.7) * unit(hb, 1))
        v = np.where(park, np.float32(0.1), v)
        variant[win][inside] = v[inside]
        bright[win][inside] = (np.float32(0.88) + np.float32(0.24) * unit(hb, 2))[inside]


def _draw_roads(
    roads: np.ndarray, ys: np.ndarray, xs: np.ndarray, cls: np.ndarray, variant: np.ndarray
) -> None:
    w = _ROAD_HALF_WIDTH
    for y0, x0, y1, x1 in roads:
        win = _window(ys, xs, min(y0, y1) - w, max(y0, y1) + w, min(x0, x1) - w, max(x0, x1) + w)
        if win is None:
            continue
        py = np.float32(ys[win[0]] - y0)[:, None]
        px = np.float32(xs[win[1]] - x0)[None, :]
        dy, dx = np.float32(y1 - y0), np.float32(x1 - x0)
        t = np.clip((py * dy + px * dx) * np.float32(1 / (dy * dy + dx * dx)), 0, 1)
        ey, ex = py - t * dy, px - t * dx
        road = ey * ey + ex * ex < np.float32(w * w)
        cls[win][road] = BUILT
        variant[win][road] = 0.02
