"""GeoTIFF / COG reading through rasterio and rioxarray.

A quick ``rasterio.open`` inspects the file first (is it a raster, has it a CRS, a plain north-up
transform, an internal mask band?) so that problems surface as one-line terralearn errors before
rioxarray builds the lazy array.

Images without georeferencing (JPEG/PNG tiles, and TIFFs when asked with ``pixel_grid``) are read
on their pixel grid: rasterio's identity transform, so pixel centres sit at ``x = column + 0.5``,
``y = row + 0.5`` (y grows downwards), and no CRS.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import rasterio
import rioxarray
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from terralearn.errors import ConfigError, MissingCRSError, NotARasterError


@dataclass(frozen=True)
class RasterMeta:
    """What :func:`inspect_raster` learns from a file header."""

    path: str
    crs: CRS
    transform: Affine
    shape: tuple[int, int]  # (height, width)
    count: int
    descriptions: tuple[str | None, ...]
    nodata: float | None
    masked: bool  # an internal mask band and no nodata value
    tags: dict[str, str]
    driver: str = ""
    colorinterp: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    block_shape: tuple[int, int] = (0, 0)  # (rows, columns) of the first band's blocks

    @property
    def pixel_grid(self) -> bool:
        """True when the file has no CRS (read on its pixel grid, if allowed)."""
        return self.crs is None


# Formats of plain pictures: without a CRS they are read on their pixel grid without asking
PICTURE_DRIVERS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
PIXEL_GRID_FLAG = "--pixel-grid"


def is_remote(src: str) -> bool:
    """True for URLs and GDAL virtual paths that ``Path.exists`` cannot check."""
    return src.startswith(("/vsi", "http://", "https://", "s3://", "gs://", "az://"))


def check_transform(transform: Affine, source: str) -> None:
    """Raise :class:`ConfigError` for a rotated or sheared transform."""
    if transform.b != 0 or transform.d != 0:
        raise ConfigError(
            f"{source}: the affine transform is rotated or sheared ({tuple(transform)[:6]}); "
            "terralearn needs a north-up grid, warp it first, e.g. `gdalwarp -t_srs EPSG:XXXX in.tif out.tif`"
        )


def missing_crs_message(source: str) -> str:
    return (
        f"{source} has no CRS; set one with `rio edit-info --crs EPSG:XXXX {source}` "
        "(or `da.rio.write_crs('EPSG:XXXX')` for an in-memory array)"
    )


def pixel_grid_crs_message(source: str) -> str:
    """The error for a raster (e.g. a TIFF) without a CRS that may be read on its pixel grid."""
    return (
        f"{source} has no CRS; set one with `rio edit-info --crs EPSG:XXXX {source}`, or pass "
        f"{PIXEL_GRID_FLAG} (pixel_grid=True) to read it on its pixel grid"
    )


def open_quietly(path: str):
    """``rasterio.open`` without the warning about a missing geotransform (pixel-grid files)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path)


def inspect_raster(
    path: str, require_crs: bool = True, pixel_grid: bool | None = False
) -> RasterMeta:
    """Read the header of a raster file and check what terralearn needs.

    Args:
        path: the raster file.
        require_crs: refuse a file without a CRS.
        pixel_grid: with ``require_crs``, accept a file without a CRS on its pixel grid: True for
            any format, False for plain pictures (JPEG, PNG, ...) only, None never.

    Raises:
        NotARasterError: GDAL cannot read the file as a raster.
        MissingCRSError: the file has no CRS (when ``require_crs`` and not allowed by
            ``pixel_grid``).
        ConfigError: the transform is rotated or sheared.
    """
    try:
        with open_quietly(path) as ds:
            flags = ds.mask_flag_enums
            meta = RasterMeta(
                path=path,
                crs=ds.crs,
                transform=ds.transform,
                shape=(ds.height, ds.width),
                count=ds.count,
                descriptions=tuple(ds.descriptions),
                nodata=ds.nodata,
                masked=ds.nodata is None
                and any(MaskFlags.per_dataset in f and MaskFlags.all_valid not in f for f in flags),
                tags=ds.tags(),
                driver=ds.driver,
                colorinterp=tuple(c.name for c in ds.colorinterp),
                dtypes=tuple(ds.dtypes),
                block_shape=tuple(ds.block_shapes[0]) if ds.count else (0, 0),
            )
    except RasterioIOError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NotARasterError(
            f"{path} is not a readable raster ({reason}); give a GeoTIFF/COG, a .zarr store or a .nc file"
        ) from None
    if require_crs and meta.crs is None:
        if pixel_grid is None:
            raise MissingCRSError(missing_crs_message(path))
        if not (pixel_grid or meta.driver in PICTURE_DRIVERS):
            raise MissingCRSError(pixel_grid_crs_message(path))
    if meta.crs is None:  # a world file without a CRS says nothing terralearn can use
        return _replace_transform(meta, Affine.identity())
    check_transform(meta.transform, path)
    return meta


def _replace_transform(meta: RasterMeta, transform: Affine) -> RasterMeta:
    return replace(meta, transform=transform)


def band_names(meta: RasterMeta, single_band_name: str | None = None) -> list[str]:
    """Band names from the band descriptions, else ``B1, B2, ...``.

    ``single_band_name`` names a one-band file without description (used for stacks: file stem).
    Duplicate descriptions fall back to ``B1, B2, ...`` because names must select bands uniquely.
    """
    if meta.count == 1 and not meta.descriptions[0] and single_band_name:
        return [single_band_name]
    if meta.pixel_grid and not any(meta.descriptions) and _is_colour(meta.colorinterp):
        return [c.lower() for c in meta.colorinterp]  # red, green, blue (alpha) of a picture
    names = [d if d else f"B{i}" for i, d in enumerate(meta.descriptions, start=1)]
    if len(set(names)) != len(names):
        names = [f"B{i}" for i in range(1, meta.count + 1)]
    return names


def _is_colour(colorinterp: tuple[str, ...]) -> bool:
    return colorinterp[:3] == ("red", "green", "blue") and len(set(colorinterp)) == len(colorinterp)


def _open(meta: RasterMeta, chunks: int | None, masked: bool) -> xr.DataArray:
    # lock=False lets dask's threads decode different chunks of one file in parallel
    kw = {"chunks": {"band": -1, "y": chunks, "x": chunks}, "lock": False} if chunks else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        da = rioxarray.open_rasterio(meta.path, masked=masked, **kw)
    if not isinstance(da, xr.DataArray):  # subdatasets (HDF4/NetCDF through GDAL) give a list
        raise NotARasterError(
            f"{meta.path} holds several subdatasets; open one of them, e.g. 'NETCDF:{meta.path}:var'"
        )
    return da


def open_geotiff(
    path: str, chunks: int | None, pixel_grid: bool = False
) -> tuple[xr.DataArray, RasterMeta, list[str]]:
    """Open one raster file as ``(band, y, x)`` with its metadata and band names.

    A file with an internal mask band and no nodata value is opened with ``masked=True``, so masked
    pixels become NaN (and the array becomes float). A file without a CRS is opened on its pixel
    grid if it is a plain picture (JPEG, PNG, ...) or ``pixel_grid`` is True (``meta.crs`` None).
    """
    meta = inspect_raster(path, pixel_grid=pixel_grid)
    da = _open(meta, chunks, masked=meta.masked)
    return da, meta, band_names(meta)


def open_geotiff_stack(
    paths: Sequence[str | os.PathLike], chunks: int | None, pixel_grid: bool = False
) -> tuple[xr.DataArray, RasterMeta, list[str]]:
    """Stack raster files as bands, in the given order.

    All files must share CRS, transform and shape. A one-band file is named by its band description,
    else its file stem; a multi-band file's bands keep their descriptions or become ``<stem>_B<i>``.

    Raises:
        ConfigError: files on different grids or with different nodata values.
    """
    metas = [inspect_raster(str(p), pixel_grid=pixel_grid) for p in paths]
    first = metas[0]
    for m in metas[1:]:
        what = grid_differences(m, first)
        if what:
            raise ConfigError(
                f"{m.path} is not on the grid of {first.path} ({'; '.join(what)}); "
                "resample the files to one grid first, e.g. with `gdalwarp -tap`"
            )
    masked = any(m.masked for m in metas)
    if not masked:
        for m in metas[1:]:
            if not _same_nodata(m.nodata, first.nodata):
                raise ConfigError(
                    f"{m.path} has nodata {m.nodata} but {first.path} has {first.nodata}; "
                    "stacked files need one nodata value: write a VRT that maps each file's nodata "
                    "to one value with `terralearn stack FILES --out scene.vrt`, or set it with "
                    "`rio edit-info --nodata`"
                )
    arrays, names = [], []
    for m in metas:
        stem = Path(m.path).stem
        own = band_names(m, single_band_name=stem)
        if m.count > 1:
            own = [d if d else f"{stem}_B{i}" for i, d in enumerate(m.descriptions, start=1)]
        names.extend(own)
        arrays.append(_open(m, chunks, masked=masked).assign_coords(band=own))
    if len(set(names)) != len(names):
        raise ConfigError(
            f"the stacked files give duplicate band names {names}; rename the files or set band descriptions"
        )
    da = xr.concat(arrays, dim="band", join="override", combine_attrs="drop_conflicts")
    nodata = np.nan if masked else first.nodata
    meta = RasterMeta(
        path=first.path,
        crs=first.crs,
        transform=first.transform,
        shape=first.shape,
        count=len(names),
        descriptions=tuple(names),
        nodata=nodata,
        masked=masked,
        tags=first.tags,
    )
    return da, meta, names


def grid_differences(meta: RasterMeta, reference: RasterMeta) -> list[str]:
    """How the grid of ``meta`` differs from that of ``reference`` (empty: the same grid)."""
    what = []
    if meta.crs != reference.crs:
        what.append(f"CRS {_crs_name(meta.crs)} != {_crs_name(reference.crs)}")
    if not meta.transform.almost_equals(reference.transform):
        what.append(f"transform {tuple(meta.transform)[:6]} != {tuple(reference.transform)[:6]}")
    if meta.shape != reference.shape:
        (h, w), (rh, rw) = meta.shape, reference.shape
        what.append(f"size {w} x {h} != {rw} x {rh}")
    return what


def _crs_name(crs: CRS | None) -> str:
    return "none (pixel grid)" if crs is None else crs.to_string()


def _same_nodata(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (np.isnan(a) and np.isnan(b))


__all__ = [
    "PIXEL_GRID_FLAG",
    "RasterMeta",
    "inspect_raster",
    "is_remote",
    "open_geotiff",
    "open_geotiff_stack",
    "open_quietly",
]


SOURCE_ENCODING = "rasterio_path"
"""``DataArray.encoding`` key that :func:`terralearn.io.open_image` sets to the file a raster was
read from lazily and as it is (one GeoTIFF/COG/VRT; not a stack): :class:`RowBandReader` reads it
again directly."""
MAX_CARRIED_BLOCK = 1024
"""Rows: a file whose blocks are taller (e.g. one strip for the whole file) is read as asked."""


class RowBandReader:
    """Windows of the file behind a canonical image, read so that each block of the file is
    decoded once when the windows come in overlapping tile rows (prediction's margins).

    GDAL decodes whole blocks. A window that ends inside a row of blocks decodes that row, and
    the next tile row, which starts a margin above the window's end, needs the same blocks;
    GDAL's block cache (:data:`terralearn.geo.gdal.READ_CACHE`) keeps only the blocks read last,
    so they were decoded twice (16384 px, 1536 px tiles on 512 px blocks: a quarter more
    decoding). Here a window is read down to the end of its last row of blocks, and the rows
    from the next tile row's start on are kept for the window below: at most a block row and
    the margin, across the raster's width. Pixels come straight from GDAL into the window's
    array (no copy through xarray).

    Use :meth:`of` and the reader as a context manager (it holds the open file).
    """

    def __init__(self, path: str, indexes: list[int], dtype: np.dtype, block_height: int) -> None:
        self.path, self.indexes, self.dtype = path, indexes, dtype
        self.block_height = block_height
        self._dataset = None
        self._kept: dict[tuple[int, int], tuple[int, np.ndarray]] = {}

    @classmethod
    def of(cls, image: xr.DataArray) -> RowBandReader | None:
        """A reader of ``image``'s file, or None when ``image`` is not that file read lazily and
        as it is (in memory, computed, cropped, flipped, masked, or from another source)."""
        path = image.encoding.get(SOURCE_ENCODING)
        if not isinstance(path, str) or image.chunks is not None or image.variable._in_memory:
            return None
        if image.dims != ("band", "y", "x"):
            return None
        try:
            meta = inspect_raster(path, require_crs=False)
        except (NotARasterError, ConfigError):
            return None
        names = band_names(meta)
        wanted = [str(b) for b in image["band"].values]
        if (
            meta.masked
            or set(meta.dtypes) != {np.dtype(image.dtype).name}
            or meta.shape != (image.sizes["y"], image.sizes["x"])
            or not set(wanted) <= set(names)
            or not image.rio.transform().almost_equals(meta.transform)
        ):
            return None
        indexes = [names.index(b) + 1 for b in wanted]
        return cls(path, indexes, np.dtype(image.dtype), meta.block_shape[0])

    def __enter__(self) -> RowBandReader:
        self._dataset = open_quietly(self.path)
        return self

    def __exit__(self, *exc) -> None:
        self._kept.clear()
        if self._dataset is not None:
            self._dataset.close()
            self._dataset = None

    def read(self, y0: int, y1: int, x0: int, x1: int, next_y0: int | None) -> np.ndarray:
        """Rows ``[y0, y1)`` by columns ``[x0, x1)``, ``(band, rows, columns)``; ``next_y0``:
        the first row the next window of these columns will ask for (None: no such window)."""
        ds = self._dataset
        bottom = y1
        if next_y0 is not None and self.block_height <= MAX_CARRIED_BLOCK:
            bottom = min(-(-y1 // self.block_height) * self.block_height, ds.height)
        out = np.empty((len(self.indexes), bottom - y0, x1 - x0), self.dtype)
        start = y0
        kept = self._kept.pop((x0, x1), None)
        if kept is not None and kept[0] <= y0 < kept[0] + kept[1].shape[1]:
            top, rows = kept
            n = min(top + rows.shape[1], bottom) - y0
            out[:, :n] = rows[:, y0 - top : y0 - top + n]
            start = y0 + n
        if start < bottom:
            window = Window(x0, start, x1 - x0, bottom - start)
            ds.read(indexes=self.indexes, out=out[:, start - y0 :], window=window)
        if next_y0 is not None and y0 <= next_y0 < bottom:
            self._kept[(x0, x1)] = (next_y0, out[:, next_y0 - y0 :].copy())
        return out[:, : y1 - y0]
