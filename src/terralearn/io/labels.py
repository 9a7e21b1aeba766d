"""Labels on the image grid: vector polygons rasterized, label rasters reprojected.

The result is always a ``(y, x)`` uint8 array on the exact grid of the image, with class ids
``0..254`` and :data:`IGNORE_INDEX` (255) where a pixel has no label. Sparse hand-drawn polygons
are a first-class case: everything outside them is ``IGNORE_INDEX``, which losses and metrics skip.
:func:`open_label_rows` reads a label raster already on the image grid by bands of rows, with the
same encoding and classes, so that large rasters need not be held whole.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rioxarray
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import rasterize
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from terralearn.errors import (
    ConfigError,
    InputNotFoundError,
    MissingCRSError,
    NoOverlapError,
    NotAVectorError,
    TerralearnError,
    UnknownColumnError,
)
from terralearn.io.pairs import colour_mask_message, is_colour_mask
from terralearn.io.rasterio_ import RasterMeta, inspect_raster, open_quietly
from terralearn.io.readers import is_pixel_grid

logger = logging.getLogger(__name__)

IGNORE_INDEX = 255
"""Label value of unlabelled / nodata pixels (labels are uint8, class ids 0..254)."""

VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".parquet", ".geoparquet", ".fgb")
MEMORY_SOURCE = "<in-memory labels>"


@dataclass
class Labels:
    """Labels aligned to an image.

    Attributes:
        data: ``(y, x)`` uint8 on the image grid, :data:`IGNORE_INDEX` where unlabelled.
        classes: class id -> class name.
    """

    data: xr.DataArray
    classes: dict[int, str]

    @property
    def num_classes(self) -> int:
        """Number of classes (highest id + 1, so ids can index a logits axis)."""
        return max(self.classes) + 1 if self.classes else 0


def open_labels(
    src: str | os.PathLike | xr.DataArray,
    like: xr.DataArray,
    class_column: str | None = None,
    classes: Sequence[str] | None = None,
) -> Labels:
    """Read labels and put them on the grid of ``like``.

    Args:
        src: a vector file (.gpkg .geojson .json .shp .parquet .geoparquet .fgb), a GeoDataFrame,
            a label raster (GeoTIFF etc.) or a 2D ``xr.DataArray`` with a CRS.
        like: the image (from :func:`terralearn.io.open_image`) whose grid the labels take.
        class_column: vector attribute holding the class; None picks the only string column.
        classes: class names in id order. For string classes this fixes the ids (default: sorted
            names -> 0..K-1); for numeric classes and rasters it names ids 0..len-1.

    Vector features are reprojected to the image CRS and rasterized with pixel-centre sampling
    (``all_touched=False``); where polygons overlap the later feature wins. Raster labels on another
    grid are reprojected with nearest neighbour. Raster class names come from a ``class_names``
    GeoTIFF tag (JSON ``{"0": "water", ...}``) when present, else ``class_<v>``.

    Raises:
        InputNotFoundError, NotAVectorError, NotARasterError, MissingCRSError, NoOverlapError,
        UnknownColumnError, ConfigError.
    """
    import geopandas as gpd

    if isinstance(src, gpd.GeoDataFrame):
        return _from_vector(src, like, MEMORY_SOURCE, class_column, classes)
    if isinstance(src, xr.DataArray):
        return _from_raster(src, like, MEMORY_SOURCE, classes)
    path = Path(src)
    if not path.exists():
        raise InputNotFoundError(f"labels {str(path)!r} do not exist; check the path")
    if path.suffix.lower() in VECTOR_SUFFIXES:
        try:
            if path.suffix.lower() in (".parquet", ".geoparquet"):
                gdf = gpd.read_parquet(path)
            else:
                gdf = gpd.read_file(path)
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise NotAVectorError(
                f"{path} is not a readable vector file ({reason}); give GeoPackage, GeoJSON, "
                "Shapefile or GeoParquet polygons"
            ) from None
        return _from_vector(gdf, like, str(path), class_column, classes)
    meta = inspect_raster(str(path), require_crs=False)
    if is_colour_mask(meta):
        raise ConfigError(colour_mask_message(path))
    if meta.crs is None and not is_pixel_grid(like):
        raise MissingCRSError(
            f"labels {path} have no CRS; set one with `rio edit-info --crs EPSG:XXXX {path}`"
        )
    if meta.count != 1:
        raise ConfigError(
            f"labels {path} have {meta.count} bands; a label raster needs one band of class ids"
        )
    # read once into one array (a dask read would concatenate chunks into a second copy)
    with warnings.catch_warnings():  # no warning about the identity transform of a pixel-grid mask
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        da = rioxarray.open_rasterio(path, cache=False).isel(band=0, drop=True).load()
    if meta.crs is not None:
        da = da.rio.write_crs(meta.crs)
    da = da.rio.write_transform(meta.transform)
    if meta.nodata is not None:
        da = da.rio.write_nodata(meta.nodata, encoded=False)
    elif _is_picture_mask(meta):
        da = da.rio.write_nodata(IGNORE_INDEX, encoded=False)
    da.attrs["class_names"] = meta.tags.get("class_names")
    return _from_raster(da, like, str(path), classes)


# --- helpers shared by both paths -------------------------------------------------------------


def _image_source(like: xr.DataArray) -> str:
    source = like.attrs.get("source", "the image")
    return ", ".join(source) if isinstance(source, list) else str(source)


def _fmt(bounds: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in bounds) + ")"


def _check_overlap(bounds: Sequence[float], like: xr.DataArray, source: str) -> None:
    """``bounds`` (left, bottom, right, top) are in the image CRS."""
    ib = like.rio.bounds()
    if bounds[0] >= ib[2] or bounds[2] <= ib[0] or bounds[1] >= ib[3] or bounds[3] <= ib[1]:
        raise NoOverlapError(
            f"labels {source} (bounds {_fmt(bounds)} in {like.rio.crs.to_string()}) do not overlap "
            f"image {_image_source(like)} (bounds {_fmt(ib)}); check both cover the same area"
        )


def _on_grid(data: np.ndarray, like: xr.DataArray, source: str) -> xr.DataArray:
    out = xr.DataArray(
        data, dims=("y", "x"), coords={"y": like["y"].values, "x": like["x"].values}, name="labels"
    )
    out.attrs = {"source": source}
    # inplace: rioxarray's writers otherwise deep-copy the (possibly huge) label array each time
    if like.rio.crs is not None:  # None: a pixel-grid image
        out.rio.write_crs(like.rio.crs, inplace=True)
    out.rio.write_transform(like.rio.transform(), inplace=True)
    out.rio.write_nodata(IGNORE_INDEX, encoded=False, inplace=True)
    return out


def _names_from_list(ids: Sequence[int], classes: Sequence[str], source: str) -> dict[int, str]:
    too_big = sorted(i for i in ids if i >= len(classes))
    if too_big:
        raise ConfigError(
            f"labels {source} contain class ids {too_big} but classes names only ids 0..{len(classes) - 1}; "
            "give a name for every class id"
        )
    return dict(enumerate(str(c) for c in classes))


# --- vector labels ---------------------------------------------------------------------------


def _pick_column(gdf, source: str, class_column: str | None) -> str:
    columns = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    if class_column is not None:
        if class_column not in gdf.columns or class_column == gdf.geometry.name:
            raise UnknownColumnError(
                f"column {class_column!r} is not in {source}; available columns: {columns}"
            )
        return class_column
    strings = [c for c in columns if pd.api.types.is_string_dtype(gdf[c]) or gdf[c].dtype == object]
    if len(strings) != 1:
        raise ConfigError(
            f"{source}: cannot guess the class column (string columns: {strings}, all columns: "
            f"{columns}); pass class_column (--class-column)"
        )
    return strings[0]


def _from_vector(gdf, like, source: str, class_column, classes) -> Labels:
    if is_pixel_grid(like):
        raise ConfigError(
            f"polygon labels {source} need a georeferenced image, but {_image_source(like)} has "
            "no CRS (pixel grid); give a label raster (mask) of the image's size instead"
        )
    if gdf.crs is None:
        raise MissingCRSError(
            f"labels {source} have no CRS; set one with `ogr2ogr -a_srs EPSG:XXXX out.gpkg {source}` "
            "(or gdf.set_crs('EPSG:XXXX'))"
        )
    column = _pick_column(gdf, source, class_column)
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty & gdf[column].notna()]
    if gdf.empty:
        raise ConfigError(f"labels {source} have no feature with a geometry and a {column!r} value")
    gdf = gdf.to_crs(like.rio.crs)
    _check_overlap(gdf.total_bounds, like, source)
    values = gdf[column]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        arr = values.to_numpy(dtype="float64")
        bad = sorted(set(arr[(arr != np.round(arr)) | (arr < 0) | (arr >= IGNORE_INDEX)].tolist()))
        if bad:
            raise ConfigError(
                f"column {column!r} of {source} has values {bad[:5]}; numeric classes must be "
                f"integers 0..{IGNORE_INDEX - 1}"
            )
        ids = arr.astype(np.int64)
        present = sorted(set(ids.tolist()))
        names = (
            _names_from_list(present, classes, source)
            if classes is not None
            else {i: str(i) for i in present}
        )
    else:
        text = values.astype(str)
        present_names = sorted(set(text))
        order = [str(c) for c in classes] if classes is not None else present_names
        unknown = sorted(set(present_names) - set(order))
        if unknown:
            raise ConfigError(
                f"column {column!r} of {source} has classes {unknown} missing from classes {order}; add them"
            )
        if len(order) > IGNORE_INDEX:
            raise ConfigError(
                f"{source} has {len(order)} classes; at most {IGNORE_INDEX} fit in uint8 labels"
            )
        lookup = {name: i for i, name in enumerate(order)}
        ids = text.map(lookup).to_numpy(dtype=np.int64)
        names = dict(enumerate(order))
    h, w = like.sizes["y"], like.sizes["x"]
    data = rasterize(
        zip(gdf.geometry.values, ids.tolist(), strict=True),
        out_shape=(h, w),
        transform=like.rio.transform(),
        fill=IGNORE_INDEX,
        dtype="uint8",
        all_touched=False,
    )
    return Labels(data=_on_grid(data, like, source), classes=names)


# --- raster labels ---------------------------------------------------------------------------


def _grid_text(crs: CRS, transform: Affine) -> str:
    unit = (
        "deg"
        if crs.is_geographic
        else ("m" if crs.linear_units in ("metre", "meter") else crs.linear_units)
    )
    xres, yres = abs(transform.a), abs(transform.e)
    res = f"{xres:g}" if np.isclose(xres, yres) else f"{xres:g} x {yres:g}"
    return f"{crs.to_string()} {res} {unit}"


def _from_raster(da: xr.DataArray, like: xr.DataArray, source: str, classes) -> Labels:
    da = da.squeeze(drop=True) if da.ndim == 3 and da.shape[0] == 1 else da
    if da.ndim != 2:
        raise ConfigError(f"labels {source} must be 2D (y, x); got dims {list(da.dims)}")
    crs = da.rio.crs
    if is_pixel_grid(like):
        _check_pixel_grid_labels(da, like, source)
    elif crs is None:
        raise MissingCRSError(
            f"labels {source} have no CRS; set one with da.rio.write_crs('EPSG:XXXX')"
        )
    transform = da.rio.transform()
    if crs is not None:
        _check_overlap(transform_bounds(crs, like.rio.crs, *da.rio.bounds()), like, source)
    nodata = da.rio.nodata
    values = np.asarray(da.data if not hasattr(da.data, "compute") else da.data.compute())
    invalid = _invalid(values, nodata)
    present = _present_values(values, invalid)
    _check_values(present, source)
    data = _encode(values, invalid, nodata)
    ids = [int(v) for v in present]
    names = _raster_names(da.attrs.get("class_names"), ids, classes, source)
    same_grid = is_pixel_grid(like) or (
        crs == like.rio.crs
        and transform.almost_equals(like.rio.transform())
        and da.shape == (like.sizes["y"], like.sizes["x"])
    )
    if not same_grid:
        logger.info(
            "labels: reprojecting %s -> %s grid of the image (nearest neighbour)",
            _grid_text(crs, transform),
            _grid_text(like.rio.crs, like.rio.transform()),
        )
        src = xr.DataArray(data, dims=("y", "x"), coords={"y": da["y"].values, "x": da["x"].values})
        src = src.rio.write_crs(crs).rio.write_transform(transform).rio.write_nodata(IGNORE_INDEX)
        data = src.rio.reproject_match(like, resampling=Resampling.nearest).values
    return Labels(data=_on_grid(data, like, source), classes=names)


def _check_pixel_grid_labels(da: xr.DataArray, like: xr.DataArray, source: str) -> None:
    """Labels of a pixel-grid image: no CRS either, and exactly its size (nothing aligns them)."""
    if da.rio.crs is not None:
        raise ConfigError(
            f"labels {source} are georeferenced ({da.rio.crs.to_string()}) but image "
            f"{_image_source(like)} has no CRS (pixel grid); give a mask without a CRS of the "
            "image's size, or a georeferenced image"
        )
    height, width = like.sizes["y"], like.sizes["x"]
    if da.shape != (height, width):
        raise ConfigError(
            f"image {_image_source(like)!r} is {width} x {height} px but its mask {source!r} is "
            f"{da.shape[1]} x {da.shape[0]} px; a mask without a CRS must have the size of its image"
        )


def _invalid(values: np.ndarray, nodata: float | None) -> np.ndarray:
    """Pixels without a label: NaN or the raster's nodata value."""
    invalid = np.zeros(values.shape, bool)
    if values.dtype.kind == "f":
        invalid |= np.isnan(values)
    if nodata is not None and not np.isnan(nodata):
        if values.dtype.kind in "ui" and float(nodata).is_integer():
            # compare in the raster's own type: a float nodata would upcast a float64 copy
            info = np.iinfo(values.dtype)
            if info.min <= nodata <= info.max:
                invalid |= values == values.dtype.type(nodata)
        else:
            invalid |= values == nodata
    return invalid


def _check_values(present: np.ndarray, source: str) -> None:
    bad = present[(present != np.round(present)) | (present < 0) | (present >= IGNORE_INDEX)]
    if bad.size:
        raise ConfigError(
            f"labels {source} contain values {bad[:5].tolist()}; class ids must be integers "
            f"0..{IGNORE_INDEX - 1}: remap them, or if {bad[0]:g} means unlabelled declare it with "
            f"`rio edit-info --nodata {bad[0]:g} {source}`"
        )


def _encode(values: np.ndarray, invalid: np.ndarray, nodata: float | None) -> np.ndarray:
    """Raster values as uint8 class ids, :data:`IGNORE_INDEX` where ``invalid``."""
    if values.dtype == np.uint8 and (nodata is None or nodata == IGNORE_INDEX):
        return values  # already in the label encoding: no copy
    return np.where(invalid, IGNORE_INDEX, values).astype(np.uint8)


def _present_values(values: np.ndarray, invalid: np.ndarray, rows: int = 256) -> np.ndarray:
    """Distinct valid values, a band of rows at a time (no full-size temporary copies)."""
    found: set = set()
    for start in range(0, values.shape[0], rows):
        block = values[start : start + rows][~invalid[start : start + rows]]
        found.update(np.unique(block).tolist())
    return np.array(sorted(found), dtype=values.dtype)


def _raster_names(tag, ids: list[int], classes, source: str) -> dict[int, str]:
    if classes is not None:
        return _names_from_list(ids, classes, source)
    names: dict[int, str] = {}
    if tag:
        try:
            names = {int(k): str(v) for k, v in json.loads(tag).items()}
        except (ValueError, TypeError, AttributeError):
            raise ConfigError(
                f"labels {source}: the class_names tag is not a JSON object like "
                '{"0": "water", "1": "crop"}; fix it with `rio edit-info --tag class_names=...`'
            ) from None
    for i in ids:
        names.setdefault(i, f"class_{i}")
    return dict(sorted(names.items()))


# --- label rasters on the image grid, read a band of rows at a time --------------------------


class LabelRows:
    """A one-band label raster on the exact grid of an image, read a band of rows at a time.

    :meth:`read` encodes rows exactly as :func:`open_labels` does (uint8, :data:`IGNORE_INDEX`
    where the raster holds its nodata value or NaN) and, with ``record=True``, notes the values it
    met. Once every row has been read with ``record=True``, :attr:`classes` equals
    ``open_labels(...).classes`` (and raises its error for values that are not class ids). Use it as
    a context manager (it holds the file open).
    """

    def __init__(
        self, meta: RasterMeta, nodata, source: str, classes: Sequence[str] | None = None
    ) -> None:
        self.source = source
        self.width = meta.shape[1]
        self._meta = meta
        self._nodata = nodata
        self._names = classes
        self._found: set = set()
        self._dataset = open_quietly(meta.path)
        self._identity = self._dataset.dtypes[0] == "uint8" and (
            nodata is None or nodata == IGNORE_INDEX
        )

    def read(
        self, start: int, stop: int, out: np.ndarray | None = None, record: bool = True
    ) -> np.ndarray:
        """Rows ``start:stop`` as ``(stop - start, width)`` uint8 class ids (into ``out``)."""
        window = Window(0, start, self.width, stop - start)
        if out is None:
            out = np.empty((stop - start, self.width), np.uint8)
        if self._identity:  # the file holds the encoding: read in place
            values = self._dataset.read(1, window=window, out=out)
            if not record:
                return out
        else:
            values = self._dataset.read(1, window=window)
        for s in range(0, len(values), 256):  # small temporaries
            piece = values[s : s + 256]
            invalid = _invalid(piece, self._nodata)
            if record:
                self._found.update(_present_values(piece, invalid).tolist())
            if not self._identity:
                out[s : s + 256] = _encode(piece, invalid, self._nodata)
        return out

    @property
    def classes(self) -> dict[int, str]:
        """Class id -> name of the values read so far (raises ConfigError for bad values)."""
        present = np.array(sorted(self._found), dtype=self._dataset.dtypes[0])
        _check_values(present, self.source)
        ids = [int(v) for v in present]
        return _raster_names(self._meta.tags.get("class_names"), ids, self._names, self.source)

    def close(self) -> None:
        self._dataset.close()

    def __enter__(self) -> LabelRows:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_label_rows(
    src, like: xr.DataArray, classes: Sequence[str] | None = None
) -> LabelRows | None:
    """A :class:`LabelRows` reader if ``src`` is a one-band label raster on the grid of ``like``.

    Returns None for anything else (vector files, in-memory objects, rasters on another grid,
    unreadable or missing files): :func:`open_labels` handles those and raises their errors.
    """
    if not isinstance(src, str | os.PathLike):
        return None
    path = Path(src)
    if path.suffix.lower() in VECTOR_SUFFIXES or not path.is_file():
        return None
    try:
        meta = inspect_raster(str(path), require_crs=False)
    except TerralearnError:
        return None
    same_grid = (
        (meta.crs is not None or is_pixel_grid(like))
        and meta.count == 1
        and meta.crs == like.rio.crs
        and meta.transform.almost_equals(like.rio.transform())
        and meta.shape == (like.sizes["y"], like.sizes["x"])
    )
    nodata = _typed_nodata(meta)
    if not same_grid or nodata is False:
        return None
    return LabelRows(meta, nodata, str(path), classes)


def _is_picture_mask(meta: RasterMeta) -> bool:
    """An 8-bit mask without CRS or nodata value (a PNG): 255 means no label, as in training."""
    if meta.crs is not None or meta.nodata is not None or meta.count != 1:
        return False
    with open_quietly(meta.path) as ds:
        return ds.dtypes[0] == "uint8"


def _typed_nodata(meta: RasterMeta):
    """The nodata value in the raster's type (as rioxarray gives it), or False if it does not fit."""
    if _is_picture_mask(meta):
        return np.uint8(IGNORE_INDEX)
    if meta.nodata is None:
        return None
    with open_quietly(meta.path) as ds:
        dtype = np.dtype(ds.dtypes[0])
    try:
        with np.errstate(all="ignore"):
            typed = dtype.type(meta.nodata)
    except (OverflowError, ValueError):
        return False
    return typed if np.isnan(typed) or typed == meta.nodata else False
