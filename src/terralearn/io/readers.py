"""``open_image``: every imagery source as one canonical ``xarray.DataArray``.

The canonical form: dims exactly ``("band", "y", "x")``, a ``band`` coordinate of str names, CRS and
affine transform through rioxarray (``da.rio.crs``, ``da.rio.transform()``), the nodata value in
``da.rio.nodata`` (or None), ``da.name`` set and ``attrs["source"]`` = the path(s). Files are opened
lazily with dask chunks ``(all bands, chunks, chunks)``; in-memory objects keep their backing array.

Pixel-grid images (no georeferencing: JPEG/PNG pictures, or any raster without a CRS opened with
``pixel_grid=True``) have no CRS, rasterio's identity transform (pixel centres at
``x = column + 0.5``, ``y = row + 0.5``, y growing downwards, pixel size 1) and
``attrs["pixel_grid"] = True``. The bands of an RGB picture are named ``red, green, blue``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

from terralearn.errors import BandNotFoundError, ConfigError, InputNotFoundError
from terralearn.io import rasterio_, xarray_
from terralearn.io.rasterio_ import check_transform
from terralearn.pixels import valid_pixels

ImageSource = str | os.PathLike | Sequence[str | os.PathLike] | xr.DataArray | xr.Dataset

MEMORY_SOURCE = "<in-memory>"
PIXEL_GRID_ATTR = "pixel_grid"
"""``image.attrs[PIXEL_GRID_ATTR]`` is True for images on their pixel grid (no CRS)."""
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")


def _is_zarr(path: Path) -> bool:
    markers = ("zarr.json", ".zgroup", ".zarray", ".zmetadata")
    return path.suffix == ".zarr" or (path.is_dir() and any((path / m).exists() for m in markers))


def _check_exists(src: str | os.PathLike) -> str:
    text = os.fspath(src)
    if not rasterio_.is_remote(text) and not Path(text).exists():
        raise InputNotFoundError(f"image {text!r} does not exist; check the path")
    return text


def is_pixel_grid(image: xr.DataArray) -> bool:
    """True for an image on its pixel grid (no CRS; see the module docstring)."""
    return bool(image.attrs.get(PIXEL_GRID_ATTR, False))


def crs_text(image: xr.DataArray) -> str:
    """The image CRS as a string; ``""`` for a pixel-grid image."""
    return "" if image.rio.crs is None else image.rio.crs.to_string()


def check_same_grid_kind(images: Sequence[xr.DataArray], paths: Sequence[Any]) -> None:
    """Refuse a mix of georeferenced and pixel-grid images (their coordinates cannot meet).

    Raises:
        ConfigError: names one image of each kind.
    """
    kinds = [is_pixel_grid(image) for image in images]
    if len(set(kinds)) > 1:
        pixel = os.fspath(paths[kinds.index(True)])
        geo = os.fspath(paths[kinds.index(False)])
        raise ConfigError(
            f"image {pixel!r} has no CRS (pixel grid) but {geo!r} is georeferenced; "
            "give only georeferenced images or only pictures without a CRS in one call"
        )


def open_image(
    src: ImageSource,
    bands: Sequence[str] | None = None,
    chunks: int | None = 1024,
    pixel_grid: bool = False,
) -> xr.DataArray:
    """Open imagery from any supported source in the canonical ``(band, y, x)`` form.

    Args:
        src: a GeoTIFF/COG/VRT path (or URL; ``terralearn stack`` writes a VRT of band files with
            mixed types and nodata values), a list of single-band GeoTIFFs to stack as bands, a Zarr
            store (``*.zarr`` folder), a NetCDF file (``*.nc``), or an in-memory ``xr.DataArray`` /
            ``xr.Dataset`` (e.g. from xee: one variable per band, dims like ``(time, X, Y)``).
        bands: band names to keep, in this order (None keeps all).
        chunks: dask chunk size in pixels for files; None reads without dask.
        pixel_grid: read a raster file without a CRS (e.g. a TIFF) on its pixel grid. Plain
            pictures (JPEG, PNG, WebP, GIF, BMP) without a CRS are always read so.

    Returns:
        The image. Band names come from GeoTIFF band descriptions (else ``B1, B2, ...``), file stems
        for stacked single-band files, or variable names for Datasets (in Dataset order; for Zarr,
        which keeps no variable order, in natural sort order B2 < B11; pass ``bands`` to choose).
        A GeoTIFF with an internal mask band and no nodata value is read with ``masked=True``:
        masked pixels become NaN, the array float, and ``rio.nodata`` NaN. A picture without a
        CRS comes on its pixel grid: no CRS, identity transform, ``attrs["pixel_grid"] = True``.

    Raises:
        InputNotFoundError: the path does not exist.
        NotARasterError: the file is not a raster.
        MissingCRSError: the source has no CRS (for a raster file: and is no picture, and
            ``pixel_grid`` is False; the message names ``--pixel-grid``).
        BandNotFoundError: a requested band does not exist.
        ConfigError: rotated/sheared transform, stacked files on different grids, several time steps.
    """
    if isinstance(src, xr.DataArray) and is_pixel_grid(src):
        # already canonical (from open_image); normalise would flip its downward y axis
        return select_bands(src, bands) if bands is not None else src
    one_file = None  # the path of a single raster file read through rasterio
    if isinstance(src, xr.DataArray | xr.Dataset):
        stored = _stored_transform(src, MEMORY_SOURCE)
        da, names, crs, nodata = xarray_.normalise(src, MEMORY_SOURCE)
        name = str(src.name) if isinstance(src, xr.DataArray) and src.name is not None else "image"
        transform = _xarray_transform(da, MEMORY_SOURCE, stored)
        source: str | list[str] = MEMORY_SOURCE
        rechunk = False  # in-memory objects keep their backing array
    elif isinstance(src, list | tuple):
        if not src:
            raise ConfigError("open_image got an empty list of files; give at least one path")
        paths = [_check_exists(p) for p in src]
        da, meta, names = rasterio_.open_geotiff_stack(paths, chunks, pixel_grid)
        crs, transform, nodata = meta.crs, meta.transform, meta.nodata
        name, source, rechunk = Path(paths[0]).stem, paths, True
    else:
        path = _check_exists(src)
        suffix = Path(path).suffix.lower()
        if not rasterio_.is_remote(path) and (_is_zarr(Path(path)) or suffix in NETCDF_SUFFIXES):
            opener = xarray_.open_zarr if _is_zarr(Path(path)) else xarray_.open_netcdf
            ds = opener(Path(path), chunks)
            is_zarr = opener is xarray_.open_zarr
            stored = _stored_transform(ds, path)
            da, names, crs, nodata = xarray_.normalise(ds, path, sort_variables=is_zarr)
            transform = _xarray_transform(da, path, stored)
            rechunk = True
        else:
            da, meta, names = rasterio_.open_geotiff(path, chunks, pixel_grid)
            crs, transform, nodata = meta.crs, meta.transform, meta.nodata
            if meta.masked:
                nodata = np.nan
            rechunk = False  # rioxarray already chunked it
            one_file = path
        name, source = Path(path).stem, path
    da = _canonical(da, names, crs, transform, nodata, name, source)
    if one_file is not None:  # read again straight from the file (rasterio_.RowBandReader)
        da.encoding[rasterio_.SOURCE_ENCODING] = one_file
    if bands is not None:
        da = select_bands(da, bands)
    if chunks and rechunk:
        da = da.chunk({"band": -1, "y": chunks, "x": chunks})
    return da


def _stored_transform(obj: xr.DataArray | xr.Dataset, source: str) -> Affine | None:
    """The GeoTransform stored on the CF grid mapping (rioxarray convention), checked for rotation."""
    try:
        text = obj.coords[obj.rio.grid_mapping].attrs["GeoTransform"]
        stored = Affine.from_gdal(*(float(v) for v in str(text).split()))
    except (KeyError, TypeError, ValueError):
        return None
    check_transform(stored, source)
    return stored


def _xarray_transform(da: xr.DataArray, source: str, stored: Affine | None) -> Affine:
    """The affine transform of a normalised array, from its x/y coordinates."""
    if da.sizes["x"] < 2 or da.sizes["y"] < 2:
        if stored is None:
            raise ConfigError(
                f"{source}: a one-pixel-wide image needs a stored GeoTransform to locate it"
            )
        return stored
    return da.rio.transform(recalc=True)


def _canonical(
    da: xr.DataArray,
    names: list[str],
    crs: CRS | None,
    transform: Affine,
    nodata: float | None,
    name: str,
    source: str | list[str],
) -> xr.DataArray:
    extra = [c for c in da.coords if c not in ("band", "y", "x")]
    da = da.drop_vars(extra).assign_coords(band=np.array(names, dtype=str))
    attrs = {"source": source, "long_name": tuple(names)}
    for key, neutral in (("scale_factor", 1.0), ("add_offset", 0.0)):
        if key in da.attrs and da.attrs[key] != neutral:
            attrs[key] = da.attrs[key]
    da.attrs = attrs
    da.encoding = {}
    da.name = name
    if crs is None:  # only raster files on their pixel grid get here (xarray_ refuses no CRS)
        da.attrs[PIXEL_GRID_ATTR] = True
    else:
        da = da.rio.write_crs(crs)
    da = da.rio.write_transform(transform)
    if nodata is not None:
        da = da.rio.write_nodata(nodata, encoded=False)
    return da


def select_bands(image: xr.DataArray, bands: Sequence[str]) -> xr.DataArray:
    """Select and order bands by name.

    Raises:
        BandNotFoundError: a name is not a band of the image (the message lists the available ones).
    """
    if isinstance(bands, str):
        bands = [bands]
    available = [str(b) for b in image["band"].values]
    missing = [b for b in bands if b not in available]
    if missing:
        raise BandNotFoundError(
            f"band(s) {missing} not in {_source_text(image)}; available bands: {available}"
        )
    if len(set(bands)) != len(bands):
        raise ConfigError(f"bands {list(bands)} names a band twice; list each band once")
    out = image.sel(band=list(bands))
    out.attrs = {**image.attrs, "long_name": tuple(bands)}
    return out


def _source_text(image: xr.DataArray) -> str:
    source = image.attrs.get("source", MEMORY_SOURCE)
    return ", ".join(source) if isinstance(source, list) else str(source)


def valid_mask(image: xr.DataArray) -> xr.DataArray:
    """Pixels where every band is valid as a ``(y, x)`` DataArray.

    The rule is :func:`terralearn.pixels.valid_pixels` (no band equals nodata, none is NaN).

    Args:
        image: a canonical ``(band, y, x)`` image (see :func:`open_image`).

    Returns:
        A ``(y, x)`` bool DataArray on the image grid; lazy (dask) when the image is.
    """
    mask = xr.apply_ufunc(
        valid_pixels,
        image,
        kwargs={"nodata": image.rio.nodata, "axis": -1},
        input_core_dims=[["band"]],
        dask="parallelized",
        output_dtypes=[bool],
        dask_gufunc_kwargs={"allow_rechunk": True},
        keep_attrs=False,
    )
    mask = mask.drop_vars("band", errors="ignore")
    mask.name = "valid"
    mask.attrs = {}
    return mask


def describe_image(image: xr.DataArray) -> dict[str, Any]:
    """A summary of an image for ``terralearn info`` (plain JSON-able values)."""
    crs = image.rio.crs
    xres, yres = image.rio.resolution()
    nodata = image.rio.nodata
    if nodata is not None:
        nodata = float(nodata)
    units = "pixel" if crs is None else (crs.linear_units if crs.is_projected else "degree")
    return {
        "path": image.attrs.get("source", MEMORY_SOURCE),
        "name": image.name,
        "size": (int(image.sizes["y"]), int(image.sizes["x"])),
        "bands": [str(b) for b in image["band"].values],
        "dtype": str(image.dtype),
        "crs": crs.to_string() if crs is not None else None,
        "resolution": (abs(float(xres)), abs(float(yres))),
        "units": units,
        "bounds": tuple(float(v) for v in image.rio.bounds()),
        "nodata": nodata,
        "chunked": image.chunks is not None,
        "chunks": tuple(c[0] for c in image.chunks) if image.chunks is not None else None,
    }
