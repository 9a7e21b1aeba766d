"""xarray sources: in-memory DataArray/Dataset (incl. Earth Engine through xee), Zarr, NetCDF.

Everything is brought to dims ``(band, y, x)`` with y descending and x ascending (north-up), so
that the rest of terralearn sees one layout whatever the source:

* spatial dims may be called ``x/y``, ``lon/lat``, ``longitude/latitude`` or ``X/Y``, in any order
  (xee returns ``(time, X, Y)``, x before y);
* a ``time`` dim of length 1 is squeezed; a longer one must be reduced by the user first;
* a Dataset gives one band per variable (each 2D), or its single variable carries a band dim;
* the CRS comes from the CF grid mapping / ``spatial_ref`` (rioxarray conventions) or from a
  ``crs`` / ``crs_wkt`` attribute (xee writes ``attrs["crs"]``).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from rasterio.crs import CRS
from rasterio.errors import CRSError

from terralearn.errors import ConfigError, MissingCRSError, NotARasterError
from terralearn.io.rasterio_ import missing_crs_message

X_NAMES = ("x", "lon", "longitude", "X")
Y_NAMES = ("y", "lat", "latitude", "Y")
TIME_NAMES = ("time", "t", "date")


def _find_dim(dims: tuple, candidates: tuple[str, ...], source: str, axis: str) -> str:
    found = [d for d in candidates if d in dims]
    if len(found) != 1:
        raise ConfigError(
            f"{source}: cannot tell the {axis} dimension among dims {list(dims)}; "
            f"name it one of {list(candidates)} (e.g. ds.rename({{'col': 'x'}}))"
        )
    return found[0]


def crs_of(obj: xr.DataArray | xr.Dataset, source: str) -> CRS | None:
    """The CRS from rioxarray (grid mapping / spatial_ref) or a ``crs`` / ``crs_wkt`` attribute."""
    candidates: list[Any] = []
    try:
        if obj.rio.crs is not None:
            return CRS.from_user_input(obj.rio.crs)
    except Exception:  # rioxarray needs x/y dims for some look-ups; attrs below still work
        pass
    items = [obj] + (list(obj.data_vars.values()) if isinstance(obj, xr.Dataset) else [])
    for item in items:
        candidates += [item.attrs.get(k) for k in ("crs", "crs_wkt", "spatial_ref")]
    for value in candidates:
        if value is None or value == "":
            continue
        try:
            return CRS.from_user_input(value)
        except (CRSError, TypeError, ValueError):
            raise ConfigError(
                f"{source}: the crs attribute {str(value)[:60]!r} is not a valid CRS; "
                "set one with da.rio.write_crs('EPSG:XXXX')"
            ) from None
    return None


def _nodata_of(da: xr.DataArray) -> float | None:
    try:
        value = da.rio.nodata
    except Exception:
        value = da.attrs.get("_FillValue", da.attrs.get("nodata"))
    return None if value is None else value.item() if hasattr(value, "item") else value


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (np.isnan(a) and np.isnan(b))


def natural_key(name: Any) -> list:
    """Sort key putting B2 before B11."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(name))]


def _dataset_to_array(
    ds: xr.Dataset, source: str, sort: bool = False
) -> tuple[xr.DataArray, float | None]:
    """One variable per band (2D each) or a single variable with a band dim.

    ``sort`` orders band variables by natural sort of their names (Zarr keeps no variable order).
    """
    spatial = [
        v for v in ds.data_vars if set(ds[v].dims) & set(X_NAMES) and set(ds[v].dims) & set(Y_NAMES)
    ]
    if sort:
        spatial.sort(key=natural_key)
    if not spatial:
        raise NotARasterError(
            f"{source} has no variable with x/y (or lon/lat) dimensions; variables: {list(ds.data_vars)}"
        )
    if len(spatial) == 1:
        da = ds[spatial[0]]
        nodata = _nodata_of(da)
        if not set(da.dims) - set(X_NAMES) - set(Y_NAMES) - set(TIME_NAMES):
            da = da.expand_dims(band=[str(spatial[0])])
        return da, nodata
    nodatas = [_nodata_of(ds[v]) for v in spatial]
    for v, nd in zip(spatial[1:], nodatas[1:], strict=True):
        if not _same(nd, nodatas[0]):
            raise ConfigError(
                f"{source}: variable {v!r} has nodata {nd} but {spatial[0]!r} has {nodatas[0]}; "
                "give all band variables one _FillValue"
            )
    for v in spatial:
        extra = set(ds[v].dims) - set(X_NAMES) - set(Y_NAMES) - set(TIME_NAMES)
        if extra:
            raise ConfigError(
                f"{source}: variable {v!r} has extra dims {sorted(extra)}; with several variables "
                "each must be one 2D band (select or stack the extra dims first)"
            )
    arrays = [ds[v].drop_attrs() if hasattr(ds[v], "drop_attrs") else ds[v] for v in spatial]
    da = xr.concat(arrays, dim=xr.Variable("band", [str(v) for v in spatial]), coords="minimal")
    return da, nodatas[0]


def normalise(
    obj: xr.DataArray | xr.Dataset, source: str, sort_variables: bool = False
) -> tuple[xr.DataArray, list[str], CRS, float | None]:
    """Bring an xarray object to ``(band, y, x)``, north-up, x/y named ``x``/``y``.

    Args:
        obj: the xarray object.
        source: how to name it in messages.
        sort_variables: order one-variable-per-band Datasets by natural sort of the variable
            names (for Zarr, whose stores keep no variable order); else keep the Dataset's order.

    Returns:
        The array, its band names, its CRS and its nodata value (or None).

    Raises:
        MissingCRSError: no CRS found.
        ConfigError: unknown spatial dims, several time steps, extra dims, irregular coordinates.
    """
    crs = crs_of(obj, source)
    if isinstance(obj, xr.Dataset):
        da, nodata = _dataset_to_array(obj, source, sort_variables)
    else:
        da, nodata = obj, _nodata_of(obj)
    xdim = _find_dim(da.dims, X_NAMES, source, "x")
    ydim = _find_dim(da.dims, Y_NAMES, source, "y")
    da = da.rename({xdim: "x", ydim: "y"}) if (xdim, ydim) != ("x", "y") else da
    for tdim in [d for d in da.dims if d in TIME_NAMES]:
        if da.sizes[tdim] != 1:
            raise ConfigError(
                f"{source} has {da.sizes[tdim]} steps along {tdim!r}; reduce them to one image "
                f"first, e.g. ds.median({tdim!r}) (or select one with ds.isel({tdim}=0))"
            )
        da = da.isel({tdim: 0}, drop=True)
    other = [d for d in da.dims if d not in ("x", "y")]
    if len(other) > 1:
        raise ConfigError(
            f"{source} has dims {list(da.dims)}; expected one band dim besides y/x, select or stack the others"
        )
    if not other:
        da = da.expand_dims(band=[str(da.name) if da.name is not None else "B1"])
    elif other[0] != "band":
        da = da.rename({other[0]: "band"})
    names = _band_names(da)
    da = da.transpose("band", "y", "x")
    for dim in ("x", "y"):
        if dim not in da.coords or da[dim].ndim != 1:
            raise ConfigError(
                f"{source}: the {dim} dimension has no 1D coordinate; attach map coordinates first"
            )
        step = np.diff(da[dim].values.astype("float64"))
        if step.size and not np.allclose(step, step[0], rtol=1e-6, atol=0):
            raise ConfigError(
                f"{source}: the {dim} coordinates are not regularly spaced; regrid to a regular grid first"
            )
        # north-up: y descending, x ascending
        if step.size and ((dim == "y" and step[0] > 0) or (dim == "x" and step[0] < 0)):
            da = da.isel({dim: slice(None, None, -1)})
    if crs is None:
        raise MissingCRSError(missing_crs_message(source))
    return da, names, crs, nodata


def _band_names(da: xr.DataArray) -> list[str]:
    n = da.sizes["band"]
    long_name = da.attrs.get("long_name")
    long_name = (
        list(long_name) if isinstance(long_name, (list, tuple)) and len(long_name) == n else None
    )
    if "band" not in da.coords:
        values: list[Any] = list(range(1, n + 1))
    else:
        values = list(da["band"].values)
    names = []
    for i, v in enumerate(values):
        if isinstance(v, str | np.str_):
            names.append(str(v))
        elif long_name and long_name[i]:
            names.append(str(long_name[i]))
        else:
            names.append(f"B{v}" if isinstance(v, int | np.integer) else str(v))
    if len(set(names)) != n:
        names = [f"B{i}" for i in range(1, n + 1)]
    return names


def _decode(ds: xr.Dataset) -> xr.Dataset:
    """Decode packed variables and netCDF3 ``_Unsigned``; keep plain integers and their _FillValue.

    Files are opened with ``mask_and_scale=False`` so a uint16 band with nodata 0 stays uint16 (as
    from a GeoTIFF) instead of becoming float with NaN; only truly packed data is decoded.
    """
    packed = [v for v in ds.data_vars if {"scale_factor", "add_offset"} & set(ds[v].attrs)]
    if packed:
        decoded = xr.decode_cf(
            ds[packed], mask_and_scale=True, decode_times=False, decode_coords=False
        )
        ds = ds.assign({v: decoded[v] for v in packed})
    for v in ds.data_vars:
        var = ds[v]
        if str(var.attrs.get("_Unsigned", "")).lower() == "true" and var.dtype.kind == "i":
            unsigned = np.dtype(f"u{var.dtype.itemsize}")
            attrs = {k: a for k, a in var.attrs.items() if k != "_Unsigned"}
            if "_FillValue" in attrs:
                attrs["_FillValue"] = np.array(attrs["_FillValue"], var.dtype).astype(unsigned)
            ds[v] = var.astype(unsigned).assign_attrs(attrs)
    return ds


def open_zarr(path: Path, chunks: int | None) -> xr.Dataset:
    """Open a Zarr store (v2 or v3) lazily."""
    try:
        with warnings.catch_warnings():  # unconsolidated stores are fine, just slower to open
            warnings.filterwarnings(
                "ignore", message=".*consolidated metadata", category=RuntimeWarning
            )
            ds = xr.open_zarr(
                path, chunks={} if chunks else None, decode_coords="all", mask_and_scale=False
            )
    except Exception as exc:
        raise NotARasterError(
            f"{path} is not a readable Zarr store ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    return _decode(ds)


def open_netcdf(path: Path, chunks: int | None) -> xr.Dataset:
    """Open a NetCDF file: netCDF4/HDF5 with h5netcdf, netCDF3 with scipy."""
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"CDF"):
        engine = "scipy"
    elif magic.startswith(b"\x89HDF"):
        engine = "h5netcdf"
        try:
            import h5netcdf  # noqa: F401
            import h5py  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"{path} is netCDF4/HDF5, which needs h5netcdf; install it with "
                "`pip install 'terralearn[netcdf]'` (or `pip install h5netcdf h5py`)"
            ) from None
    else:
        raise NotARasterError(f"{path} is not a NetCDF file (unknown header {magic[:4]!r})")
    try:
        ds = xr.open_dataset(
            path,
            engine=engine,
            chunks={} if chunks else None,
            decode_coords="all",
            mask_and_scale=False,
        )
    except Exception as exc:
        raise NotARasterError(
            f"{path} is not a readable NetCDF file ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    return _decode(ds)
