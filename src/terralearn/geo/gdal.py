"""The GDAL block-cache policy: one context manager every raster reader and writer enters.

GDAL's block cache defaults to 5 % of the machine's memory (1.2 GB on 24 GB). terralearn streams
rasters in bands of rows and reads each block about once, so a large cache only holds blocks
already used and peak memory grows with the raster. :func:`gdal_env` caps the cache while a
read or write runs; nothing is changed at import time, and a smaller cache the user set
(``GDAL_CACHEMAX`` or an enclosing ``rasterio.Env``) is kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import rasterio
from rasterio.env import get_gdal_config

READ_CACHE = 128 * 2**20
"""Bytes of block cache while reading or predicting. 128 MB keeps a strip of blocks for the next
tile row (on a 16384 px wide scene 64 MB cost 25 % more reading CPU, 256 MB saved none)."""
PREPARE_CACHE = 4 * 2**20
"""Bytes of block cache while preparing a chip store: rows are read in whole aligned blocks,
each once, so a larger cache would only hold blocks that are never read again."""


def gdal_cache_bytes() -> int | None:
    """GDAL's current block-cache limit in bytes, or None when it cannot be read as a size."""
    current = get_gdal_config("GDAL_CACHEMAX")
    try:
        value = int(current)
    except (TypeError, ValueError):  # e.g. "5%"
        return None
    return value * 2**20 if value < 100_000 else value  # GDAL: small numbers are megabytes


@contextlib.contextmanager
def gdal_env(cache: int = READ_CACHE, **options: Any) -> Iterator[None]:
    """A ``rasterio.Env`` with GDAL's block cache capped at ``cache`` bytes (never raised).

    Args:
        cache: the most bytes of block cache while the block runs; a smaller limit already in
            force is kept.
        **options: further GDAL configuration options for the block (e.g. ``GDAL_PAM_ENABLED``).
    """
    current = gdal_cache_bytes()
    if current is None or not 0 < current <= cache:
        options["GDAL_CACHEMAX"] = cache
    with rasterio.Env(**options):
        yield
