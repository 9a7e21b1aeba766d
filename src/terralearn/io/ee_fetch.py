"""Reading an Earth Engine image through xee, tile by tile, with retries and a Zarr cache.

xee (``xarray.open_dataset(obj, engine="ee", crs=..., crs_transform=..., shape_2d=...)``) maps
every read of a lazy variable to ``ee.data.computePixels`` requests of at most ``io_chunks``
pixels. This module drives those reads in tiles of ``tile`` x ``tile`` pixels:

* each tile is one request per band, far below Earth Engine's 48 MB per-request limit
  (a float32 band of 512 x 512 px is 1.3 MB; xee counts 4 + 1 mask bytes per pixel);
* a tile refused for quota (HTTP 429 / "Too Many Requests" / "quota") is retried after
  ``backoff * 2**attempt`` seconds, ``retries`` times; other Earth Engine errors are not retried;
* finished tiles are written to a Zarr cache (``CACHE/KEY.zarr``, progress in ``CACHE/KEY.json``),
  so an interrupted download resumes and a second run makes no Earth Engine call at all.

xee's own retry loop (``getitem_kwargs``) is switched off so that quota errors are told apart.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dask.array as dsa
import numpy as np
import xarray as xr

from terralearn._extras import require
from terralearn._fs import atomic_write_bytes, remove
from terralearn._progress import progress_bar
from terralearn.errors import ConfigError, EarthEngineError
from terralearn.geo import axis_offsets
from terralearn.io.readers import open_image

log = logging.getLogger(__name__)

REQUEST_BYTE_LIMIT = 48 * 2**20  # Earth Engine's computePixels limit
CACHE_VERSION = 1
QUOTA_PATTERN = re.compile(r"429|too many requests|quota|rate limit", re.IGNORECASE)


def import_ee() -> Any:
    """The ``ee`` module (earthengine-api) and xee, or one line saying how to install them."""
    ee = require("ee", "ee")
    require("xee", "ee")  # registers the engine="ee" xarray backend
    return ee


def explain(exc: Exception, what: str) -> EarthEngineError:
    """One clear line for an Earth Engine exception."""
    text = " ".join(str(exc).split())
    if QUOTA_PATTERN.search(text):
        return EarthEngineError(
            f"Earth Engine quota exceeded while {what} (HTTP 429: {text[:120]}); wait a minute "
            "and run again: finished tiles are cached"
        )
    if "not found" in text and ("asset" in text.lower() or "load" in text):
        asset = re.search(r"asset '([^']+)'", text)
        name = asset.group(1) if asset else "?"
        return EarthEngineError(
            f"Earth Engine has no image or collection {name!r} (or you have no access to it); "
            "check the id in the Earth Engine data catalog"
        )
    if "request size" in text.lower() or "must be less than or equal to" in text:
        return EarthEngineError(
            f"an Earth Engine request while {what} is over the 48 MB limit ({text[:100]}); "
            "use a smaller --tile"
        )
    return EarthEngineError(f"Earth Engine failed while {what}: {text[:200]}")


def with_retries(
    call: Callable[[], Any],
    what: str,
    retries: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """Run ``call``; on a quota error wait ``backoff * 2**attempt`` s and try again."""
    ee = import_ee()
    for attempt in range(retries + 1):
        try:
            return call()
        except ee.EEException as exc:
            if not QUOTA_PATTERN.search(str(exc)) or attempt == retries:
                raise explain(exc, what) from None
            delay = backoff * 2**attempt
            log.info("Earth Engine quota hit while %s; retrying in %.1f s", what, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def tiles(height: int, width: int, tile: int) -> Iterator[tuple[int, int, slice, slice]]:
    """Tiles of a ``height x width`` grid, row-major: ``(row, col, rows, cols)``.

    Tiles start at the multiples of ``tile`` (:func:`terralearn.geo.axis_offsets` without
    snapping, so they match the cache's chunks); the last row and column are cut at the edge.
    """
    for i, r0 in enumerate(axis_offsets(height, tile, snap=False).tolist()):
        for j, c0 in enumerate(axis_offsets(width, tile, snap=False).tolist()):
            yield i, j, slice(r0, min(r0 + tile, height)), slice(c0, min(c0 + tile, width))


def cache_key(description: Any) -> str:
    """A stable short key for a request description (JSON-able)."""
    text = json.dumps({"v": CACHE_VERSION, "request": description}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def open_ee(
    obj: Any,
    grid: dict[str, Any],
    *,
    bands: list[str] | None = None,
    tile: int = 512,
    retries: int = 5,
    backoff: float = 2.0,
    cache: str | Path | None = None,
    key: str | None = None,
    max_pixels: int = 10**8,
    progress: bool = True,
    what: str = "reading pixels",
    sleep: Callable[[float], None] = time.sleep,
) -> xr.DataArray:
    """Read an Earth Engine image (or one-image collection) as the canonical DataArray.

    Args:
        obj: an ``ee.Image`` or ``ee.ImageCollection`` of one image.
        grid: xee pixel grid, ``{"crs", "crs_transform", "shape_2d": (width, height)}`` (e.g. from
            ``xee.fit_geometry``).
        bands: bands to keep, in order (None keeps all).
        tile: tile side in pixels (one request per band and tile).
        retries: quota retries per tile.
        backoff: first quota wait in seconds (doubles on each retry).
        cache: folder of the Zarr cache (None: keep tiles in memory only).
        key: cache key; default: from ``obj.serialize()``, the grid and the bands.
        max_pixels: refuse grids with more pixels than this (a region too large).
        progress: show a progress bar over tiles.
        what: what is being read, for messages.
        sleep: the wait function (tests pass a recorder).

    Returns:
        ``(band, y, x)`` float32 DataArray with NaN where Earth Engine had no data (masked), CRS
        and transform of ``grid``.

    Raises:
        EarthEngineError: quota after retries, unknown asset, request too large.
        ConfigError: the grid is too large or the image has several time steps.
    """
    width, height = (int(v) for v in grid["shape_2d"])
    if width * height > max_pixels:
        raise ConfigError(
            f"the region is {width} x {height} px at this scale, more than max_pixels "
            f"{max_pixels:,}; use a coarser scale, a smaller region, or raise max_pixels"
        )
    if tile < 16 or tile * tile * 5 > REQUEST_BYTE_LIMIT:
        raise ConfigError(f"--tile {tile} must lie between 16 and 3000 pixels")
    store = None
    if cache is not None:
        key = key or cache_key([obj.serialize(), _plain_grid(grid), bands])
        store = _Cache(Path(cache), key)
        if store.complete:
            log.info("reading %s from the cache %s", what, store.zarr)
            return open_image(str(store.zarr), bands=store.bands, chunks=None)

    ds = with_retries(lambda: _open_dataset(obj, grid, tile), what, retries, backoff, sleep)
    names = [str(v) for v in ds.data_vars]
    if bands is not None:
        missing = [b for b in bands if b not in names]
        if missing:
            raise EarthEngineError(
                f"bands {missing} are not in the Earth Engine image; it has {names}"
            )
        names = list(bands)
    if ds.sizes.get("time", 1) != 1:
        raise ConfigError(
            f"the Earth Engine collection has {ds.sizes['time']} images; reduce it to one "
            "(e.g. .median()) before reading"
        )
    ds = ds[names].isel(time=0, drop=True) if "time" in ds.dims else ds[names]
    x = ds["x"].values.astype("float64")
    y = ds["y"].values.astype("float64")
    crs = str(grid["crs"])
    if store is not None:
        store.create(names, y, x, crs, tile)
        target = None
    else:
        target = np.full((len(names), height, width), np.nan, dtype=np.float32)
    todo = [
        t for t in tiles(height, width, tile) if store is None or (t[0], t[1]) not in store.done
    ]
    with progress_bar(len(todo), f"Earth Engine: {what}", enabled=progress) as bar:
        for i, j, rows, cols in todo:
            part = ds.isel(y=rows, x=cols)
            block = with_retries(
                lambda part=part: np.stack([np.asarray(part[n].values, np.float32) for n in names]),
                f"{what} (tile {i},{j})",
                retries,
                backoff,
                sleep,
            )
            if store is not None:
                store.write(names, block, rows, cols, (i, j))
            else:
                target[:, rows, cols] = block
            bar.advance()
    if store is not None:
        store.finish()
        return open_image(str(store.zarr), bands=names, chunks=None)
    da = xr.DataArray(
        target,
        dims=("band", "y", "x"),
        coords={"band": names, "y": y, "x": x},
        attrs={"crs": crs},
    )
    return open_image(da.rio.write_crs(crs).rio.write_nodata(np.nan))


def _plain_grid(grid: dict[str, Any]) -> dict[str, Any]:
    return {
        "crs": str(grid["crs"]),
        "crs_transform": [float(v) for v in tuple(grid["crs_transform"])[:6]],
        "shape_2d": [int(v) for v in grid["shape_2d"]],
    }


def _open_dataset(obj: Any, grid: dict[str, Any], tile: int) -> xr.Dataset:
    with warnings.catch_warnings():
        # a composite has no system:time_start; xee warns and numbers the single image instead
        warnings.filterwarnings("ignore", message="Unable to retrieve")
        return xr.open_dataset(
            obj,
            engine="ee",
            crs=str(grid["crs"]),
            crs_transform=tuple(float(v) for v in tuple(grid["crs_transform"])[:6]),
            shape_2d=tuple(int(v) for v in grid["shape_2d"]),
            io_chunks={"index": 1, "width": tile, "height": tile},
            getitem_kwargs={"max_retries": 0, "initial_delay": 1},
        )


class _Cache:
    """``ROOT/KEY.zarr`` (one float32 variable per band) and ``ROOT/KEY.json`` (tiles done)."""

    def __init__(self, root: Path, key: str):
        if root.exists() and not root.is_dir():
            raise ConfigError(
                f"cache {str(root)!r} is a file; give a folder for the Earth Engine cache"
            )
        root.mkdir(parents=True, exist_ok=True)
        self.zarr = root / f"{key}.zarr"
        self.record = root / f"{key}.json"
        state = json.loads(self.record.read_text()) if self.record.exists() else {}
        if state and not self.zarr.exists():
            state = {}
        self.complete = bool(state.get("complete"))
        self.bands: list[str] | None = state.get("bands")
        self.done = {tuple(t) for t in state.get("done", [])}

    def create(self, names: list[str], y: np.ndarray, x: np.ndarray, crs: str, tile: int) -> None:
        if self.done and self.bands == names:
            return  # resume
        remove(self.zarr)
        self.done, self.bands = set(), list(names)
        empty = dsa.full((len(y), len(x)), np.nan, dtype=np.float32, chunks=tile)
        ds = xr.Dataset(
            {n: (("y", "x"), empty) for n in names}, coords={"y": y, "x": x}
        ).rio.write_crs(crs)
        for n in names:
            ds[n].encoding = {"chunks": (tile, tile)}
        ds.to_zarr(self.zarr, mode="w", compute=False, consolidated=False)
        self._save(False)

    def write(self, names: list[str], block: np.ndarray, rows: slice, cols: slice, done) -> None:
        part = xr.Dataset({n: (("y", "x"), block[k]) for k, n in enumerate(names)})
        part.to_zarr(self.zarr, region={"y": rows, "x": cols}, consolidated=False)
        self.done.add(done)
        self._save(False)

    def finish(self) -> None:
        self.complete = True
        self._save(True)

    def _save(self, complete: bool) -> None:
        state = {"complete": complete, "bands": self.bands, "done": sorted(self.done)}
        atomic_write_bytes(self.record, json.dumps(state).encode())


def tile_count(grid: dict[str, Any], tile: int) -> int:
    """How many tiles ``open_ee`` reads for ``grid``."""
    width, height = (int(v) for v in grid["shape_2d"])
    return len(axis_offsets(width, tile, snap=False)) * len(axis_offsets(height, tile, snap=False))
