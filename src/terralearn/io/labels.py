"""Labels on the image grid: vector polygons rasterized, label rasters reprojected.

The result is always a ``(y, x)`` uint8 array on the exact grid of the image, with class indices
``0..254`` and :data:`NO_LABEL` (255) where a pixel has no label, and a
:class:`~terralearn.classes.ClassTable` from the label codes (sparse codes such as NLCD's
become contiguous indices) to indices, names and colours. Sparse hand-drawn polygons
are a first-class case: everything outside them is ``NO_LABEL``, which losses and metrics skip.
:func:`open_label_rows` reads a label raster already on the image grid by bands of rows, with the
same encoding and classes, so that large rasters need not be held whole.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

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

from terralearn.classes import (
    IGNORE_NAME,
    MAX_CODE,
    PRODUCT_TITLES,
    ClassTable,
    decode_color_mask,
    product_name,
    product_table,
    recognise_product,
    rgb_to_hex,
    table_for_codes,
)
from terralearn.errors import (
    ConfigError,
    InputNotFoundError,
    MissingCRSError,
    NoOverlapError,
    NotAVectorError,
    TerralearnError,
    UnknownColumnError,
)
from terralearn.io.pairs import colour_mask_message, is_colour_mask, read_colour_mask
from terralearn.io.rasterio_ import RasterMeta, inspect_raster, open_quietly
from terralearn.io.readers import is_pixel_grid
from terralearn.pixels import NO_LABEL, valid_pixels

logger = logging.getLogger(__name__)

VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".parquet", ".geoparquet", ".fgb")
MEMORY_SOURCE = "<in-memory labels>"


@dataclass
class Labels:
    """Labels aligned to an image.

    Attributes:
        data: ``(y, x)`` uint8 on the image grid, :data:`NO_LABEL` where unlabelled.
        classes: class id -> class name.
    """

    data: xr.DataArray
    classes: dict[int, str]
    table: ClassTable | None = None

    def __post_init__(self) -> None:
        if self.table is None:
            self.table = ClassTable.from_names(self.classes)

    @property
    def num_classes(self) -> int:
        """Number of classes (highest id + 1, so ids can index a logits axis)."""
        return max(self.classes) + 1 if self.classes else 0


def open_labels(
    src: str | os.PathLike | xr.DataArray,
    like: xr.DataArray,
    class_column: str | None = None,
    classes: Sequence[str] | None = None,
    class_table: ClassTable | None = None,
    label_product: str | None = None,
) -> Labels:
    """Read labels and put them on the grid of ``like``.

    Args:
        src: a vector file (.gpkg .geojson .json .shp .parquet .geoparquet .fgb), a GeoDataFrame,
            a label raster (GeoTIFF etc.) or a 2D ``xr.DataArray`` with a CRS.
        like: the image (from :func:`terralearn.io.open_image`) whose grid the labels take.
        class_column: vector attribute holding the class; None picks the only string column.
        classes: class names in id order. For string classes this fixes the ids (default: sorted
            names -> 0..K-1); for numeric classes and rasters it names ids 0..len-1.
        class_table: a table mapping label codes (or polygon class names) to classes (from
            ``--classes``); every code of the labels must be in it.
        label_product: a built-in product (``nlcd``, ``worldcover``, ``dynamic-world``,
            ``corine``) whose codes the labels hold.

    Vector features are reprojected to the image CRS and rasterized with pixel-centre sampling
    (``all_touched=False``); where polygons overlap the later feature wins. Raster labels on another
    grid are reprojected with nearest neighbour. Label codes (integers 0..65534, in any integer or
    float raster) become contiguous class indices 0..K-1 in code order (or in the order of
    ``class_table``); the result's ``table`` keeps code, name and colour of each class. Names
    and colours come from ``class_table``, else the raster's own metadata (a ``class_names``
    GeoTIFF tag ``{"11": "water", ...}``, category names or a raster attribute table in its
    ``.aux.xml``, its colour table), else the built-in product (named or recognised from sparse
    codes), else ``class_<code>``.

    Raises:
        InputNotFoundError, NotAVectorError, NotARasterError, MissingCRSError, NoOverlapError,
        UnknownColumnError, ConfigError.
    """
    import geopandas as gpd  # 0.7 s to import: loaded only when labels are opened

    if isinstance(src, gpd.GeoDataFrame):
        return _from_vector(src, like, MEMORY_SOURCE, class_column, classes, class_table)
    if isinstance(src, xr.DataArray):
        spec = _Spec(classes, class_table, label_product)
        return _from_raster(src, like, MEMORY_SOURCE, spec)
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
        return _from_vector(gdf, like, str(path), class_column, classes, class_table)
    meta = inspect_raster(str(path), require_crs=False)
    if is_colour_mask(meta):
        if class_table is None or not class_table.is_color_mask:
            raise ConfigError(colour_mask_message(path))
        return _from_colour_mask(path, like, class_table)
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
        da = da.rio.write_nodata(NO_LABEL, encoded=False)
    names, colors = raster_class_metadata(path, meta.tags)
    spec = _Spec(
        classes, class_table, label_product, names, colors, _declared(meta.tags, str(path))
    )
    return _from_raster(da, like, str(path), spec)


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
    out.rio.write_nodata(NO_LABEL, encoded=False, inplace=True)
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


def _from_vector(gdf, like, source: str, class_column, classes, class_table=None) -> Labels:
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
    table: ClassTable | None = None
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        arr = values.to_numpy(dtype="float64")
        bad = sorted(set(arr[(arr != np.round(arr)) | (arr < 0) | (arr > MAX_CODE)].tolist()))
        if bad:
            raise ConfigError(
                f"column {column!r} of {source} has values {bad[:5]}; numeric classes must be "
                f"integer codes 0..{MAX_CODE}"
            )
        codes = arr.astype(np.int64)
        found = pd.Series(codes).value_counts().to_dict()
        if class_table is not None:
            class_table.check_values(found, source, "--classes", unit="features")
            table = class_table
            ids = class_table.lookup(codes.tolist()).astype(np.int64)
        elif classes is not None:
            names = _names_from_list(sorted(found), classes, source)
            table = ClassTable.from_names(names)
            ids = codes
        else:
            table = table_for_codes(found, names={c: str(c) for c in found})
            ids = table.lookup(codes.tolist()).astype(np.int64)
    else:
        text = values.astype(str)
        present_names = sorted(set(text))
        if class_table is not None:
            order = class_table.names
        else:
            order = [str(c) for c in classes] if classes is not None else present_names
        unknown = sorted(set(present_names) - set(order) - {IGNORE_NAME})
        if unknown:
            raise ConfigError(
                f"column {column!r} of {source} has classes {unknown} missing from classes {order}; add them"
            )
        if len(order) > NO_LABEL:
            raise ConfigError(
                f"{source} has {len(order)} classes; at most {NO_LABEL} fit in uint8 labels"
            )
        lookup = {name: i for i, name in enumerate(order)}
        lookup.setdefault(IGNORE_NAME, NO_LABEL)
        ids = text.map(lookup).to_numpy(dtype=np.int64)
        table = class_table or ClassTable.from_names(dict(enumerate(order)))
    keep = ids != NO_LABEL
    h, w = like.sizes["y"], like.sizes["x"]
    data = rasterize(
        zip(gdf.geometry.values[keep], ids[keep].tolist(), strict=True),
        out_shape=(h, w),
        transform=like.rio.transform(),
        fill=NO_LABEL,
        dtype="uint8",
        all_touched=False,
    )
    return Labels(data=_on_grid(data, like, source), classes=table.as_dict, table=table)


# --- raster labels ---------------------------------------------------------------------------


@dataclass
class _Spec:
    """Where a raster's class table comes from (see :func:`resolve_class_table`)."""

    classes: Sequence[str] | None = None
    class_table: ClassTable | None = None
    label_product: str | None = None
    names: dict[int, str] = field(default_factory=dict)
    colors: dict[int, str] = field(default_factory=dict)
    declared: tuple[int, ...] = ()


def resolve_class_table(
    found: dict[int, int],
    source: str,
    class_table: ClassTable | None = None,
    label_product: str | None = None,
    names: dict[int, str] | None = None,
    colors: dict[int, str] | None = None,
    classes: Sequence[str] | None = None,
    declared: Sequence[int] = (),
) -> ClassTable:
    """The class table of label codes ``found`` (code -> pixels).

    Precedence: ``class_table`` (a ``--classes`` file: all its classes, in its order), else the
    classes that occur (and the ``declared`` codes of a ``class_names`` tag), named from the raster's own ``names``/``colors``, then the built-in
    ``label_product`` (or the product recognised from sparse codes), then ``class_<code>``.

    Raises:
        ConfigError: a code is not in ``class_table`` or ``label_product``; a code is not an
            integer 0..65534; more than 255 classes.
    """
    _check_values(np.array(sorted(found), dtype=np.float64), source)
    found = {int(k): int(v) for k, v in found.items()}
    if class_table is not None:
        class_table.check_values(found, source, "--classes")
        missing = [c.name for c in class_table if not any(c2 in found for c2 in c.values)]
        if missing:
            logger.warning("labels %s: no pixel of the classes %s", source, missing)
        return class_table
    if classes is not None:
        return ClassTable.from_names(_names_from_list(sorted(found), classes, source))
    product = None
    if label_product is not None:
        product = product_name(label_product)
        product_table(product).check_values(found, source, f"--label-product {product}")
    else:
        product = recognise_product(found)
        if product is not None:
            logger.info(
                "labels %s: codes %s are %s codes; using its class names and colours "
                "(--label-product %s)",
                source,
                sorted(found),
                PRODUCT_TITLES[product],
                product,
            )
    if len(found) > NO_LABEL:
        raise ConfigError(
            f"labels {source} hold {len(found)} distinct codes; at most {NO_LABEL} classes "
            "fit in uint8 labels: merge codes with --classes FILE"
        )
    return table_for_codes(set(found) | set(declared), names, colors, product)


def raster_class_metadata(
    path: str | os.PathLike, tags: dict[str, str] | None = None
) -> tuple[dict[int, str], dict[int, str]]:
    """Class names and colours a label raster declares itself: code -> name, code -> ``#rrggbb``.

    Names come from (highest first) a ``class_names`` tag (JSON ``{"11": "water"}``, written by
    terralearn: its codes are classes even where absent, see :func:`resolve_class_table`), a raster
    attribute table or GDAL category names in the ``.aux.xml`` PAM file beside the raster;
    colours from the raster's colour table. Empty names are skipped.
    """
    names: dict[int, str] = {}
    colors: dict[int, str] = {}
    aux = Path(f"{path}.aux.xml")
    if aux.is_file():
        pam_names, pam_colors = _pam_categories(aux)
        names.update(pam_names)
        colors.update(pam_colors)
    with open_quietly(path) as ds:
        try:
            colormap = ds.colormap(1)
        except ValueError:  # no colour table
            colormap = {}
    for code, rgba in colormap.items():
        colors.setdefault(int(code), rgb_to_hex(rgba))
    tag = (tags or {}).get("class_names")
    if tag:
        try:
            names.update({int(k): str(v) for k, v in json.loads(tag).items()})
        except (ValueError, TypeError, AttributeError):
            raise ConfigError(
                f"labels {path}: the class_names tag is not a JSON object like "
                '{"0": "water", "1": "crop"}; fix it with `rio edit-info --tag class_names=...`'
            ) from None
    return {k: v for k, v in names.items() if v.strip()}, colors


# GDAL raster attribute table field usages (GDALRATFieldUsage)
_RAT_NAME, _RAT_MINMAX, _RAT_RED, _RAT_GREEN, _RAT_BLUE = 2, 5, 6, 7, 8
_RAT_NAME_COLUMNS = (
    "class_name",
    "classname",
    "class_names",
    "name",
    "label",
    "class",
    "land_cover",
)


def _pam_categories(aux: Path) -> tuple[dict[int, str], dict[int, str]]:
    """Category names and RAT names/colours of band 1 in a GDAL PAM ``.aux.xml`` file.

    rasterio has no API for category names or raster attribute tables, so the PAM XML GDAL
    writes (``<CategoryNames>``, ``<GDALRasterAttributeTable>``) is read directly.
    """
    try:
        root = ElementTree.parse(aux).getroot()
    except (ElementTree.ParseError, OSError):
        logger.warning("labels: cannot parse %s; ignoring its class names", aux)
        return {}, {}
    band = next(
        (b for b in root.iter("PAMRasterBand") if b.get("band", "1") == "1"),
        None,
    )
    if band is None:
        return {}, {}
    names: dict[int, str] = {}
    colors: dict[int, str] = {}
    categories = band.find("CategoryNames")
    if categories is not None:
        for code, item in enumerate(categories.findall("Category")):
            names[code] = (item.text or "").strip()
    rat = band.find("GDALRasterAttributeTable")
    if rat is not None:
        rat_names, rat_colors = _rat_rows(rat)
        names.update({k: v for k, v in rat_names.items() if v})
        colors.update(rat_colors)
    return names, colors


def _rat_rows(rat) -> tuple[dict[int, str], dict[int, str]]:
    fields = []
    for f in rat.findall("FieldDefn"):
        fields.append(
            (
                (f.findtext("Name") or "").strip(),
                int(f.findtext("Type") or 0),
                int(f.findtext("Usage") or 0),
            )
        )
    lower = [name.lower() for name, _, _ in fields]

    def column(usage: int, candidates: Sequence[str] = ()) -> int | None:
        for i, (_, _, u) in enumerate(fields):
            if u == usage:
                return i
        for candidate in candidates:
            if candidate in lower:
                return lower.index(candidate)
        return None

    value_col = column(_RAT_MINMAX, ("value", "code"))
    name_col = column(_RAT_NAME, _RAT_NAME_COLUMNS)
    rgb_cols = [
        column(_RAT_RED, ("red",)),
        column(_RAT_GREEN, ("green",)),
        column(_RAT_BLUE, ("blue",)),
    ]
    row0 = float(rat.get("Row0Min", 0) or 0)
    bin_size = float(rat.get("BinSize", 1) or 1)
    names: dict[int, str] = {}
    colors: dict[int, str] = {}
    for row in rat.findall("Row"):
        cells = [c.text or "" for c in row.findall("F")]
        index = int(row.get("index", len(names)))
        try:
            code = float(cells[value_col]) if value_col is not None else row0 + index * bin_size
        except (ValueError, IndexError):
            continue
        if not float(code).is_integer():
            continue
        code = int(code)
        if name_col is not None and name_col < len(cells):
            names[code] = cells[name_col].strip()
        if all(c is not None and c < len(cells) for c in rgb_cols):
            try:
                rgb = [float(cells[c]) for c in rgb_cols]  # type: ignore[index]
            except ValueError:
                continue
            scale = 255.0 if max(rgb) <= 1.0 and fields[rgb_cols[0]][1] == 1 else 1.0
            colors[code] = rgb_to_hex([round(v * scale) for v in rgb])
    return names, colors


def _grid_text(crs: CRS, transform: Affine) -> str:
    unit = (
        "deg"
        if crs.is_geographic
        else ("m" if crs.linear_units in ("metre", "meter") else crs.linear_units)
    )
    xres, yres = abs(transform.a), abs(transform.e)
    res = f"{xres:g}" if np.isclose(xres, yres) else f"{xres:g} x {yres:g}"
    return f"{crs.to_string()} {res} {unit}"


def _from_raster(da: xr.DataArray, like: xr.DataArray, source: str, spec: _Spec) -> Labels:
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
    names = dict(spec.names)
    if not names and da.attrs.get("class_names"):  # an in-memory array with the tag
        names, _ = raster_class_metadata_from_tag(da.attrs["class_names"], source)
        spec.declared = tuple(names)
    invalid = _invalid(values, nodata)
    encoder = CodeEncoder(source)
    data = encoder.encode(values, invalid, record=True)
    table = resolve_class_table(
        encoder.found, source, spec.class_table, spec.label_product, names, spec.colors,
        spec.classes, spec.declared,
    )  # fmt: skip
    np.take(encoder.lookup_to(table), data, out=data)
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
        src = src.rio.write_crs(crs).rio.write_transform(transform).rio.write_nodata(NO_LABEL)
        data = src.rio.reproject_match(like, resampling=Resampling.nearest).values
    return Labels(data=_on_grid(data, like, source), classes=table.as_dict, table=table)


def _declared(tags: dict[str, str], source: str) -> tuple[int, ...]:
    """The codes a terralearn ``class_names`` tag declares: classes even where absent."""
    tag = tags.get("class_names")
    return tuple(raster_class_metadata_from_tag(tag, source)[0]) if tag else ()


def raster_class_metadata_from_tag(tag: str, source: str) -> tuple[dict[int, str], dict]:
    try:
        return {int(k): str(v) for k, v in json.loads(tag).items()}, {}
    except (ValueError, TypeError, AttributeError):
        raise ConfigError(
            f"labels {source}: the class_names tag is not a JSON object like "
            '{"0": "water", "1": "crop"}; fix it with `rio edit-info --tag class_names=...`'
        ) from None


class CodeEncoder:
    """Label codes -> uint8 class indices, a band of rows at a time.

    Until :meth:`use_table` is called, codes get provisional indices in the order they are met
    (so a first sweep can count pixels per class before all codes are known); :meth:`lookup_to`
    maps provisional indices to a table's indices, and :meth:`use_table` encodes by the table.
    """

    def __init__(self, source: str = MEMORY_SOURCE) -> None:
        self.source = source
        self.codes: list = []  # provisional index -> code
        self.found: dict = {}  # code -> pixels (of the rows read with record=True)
        self._index: dict = {}  # code -> index (provisional, or the table's)
        self._table: ClassTable | None = None

    def use_table(self, table: ClassTable) -> None:
        self._table = table
        self._index = {}

    def lookup_to(self, table: ClassTable) -> np.ndarray:
        """uint8 (256,) provisional index -> ``table`` index (255 stays 255)."""
        lut = np.full(256, NO_LABEL, np.uint8)
        lut[: len(self.codes)] = table.lookup(self.codes)
        return lut

    def _indices(self, codes: list) -> np.ndarray:
        out = np.empty(len(codes), np.uint8)
        for i, code in enumerate(codes):
            index = self._index.get(code)
            if index is None:
                if self._table is not None:
                    index = self._table.index_of(code)
                    index = NO_LABEL if index is None else index
                elif len(self.codes) >= NO_LABEL:
                    raise ConfigError(
                        f"labels {self.source} hold more than {NO_LABEL} distinct codes; at most "
                        f"{NO_LABEL} classes fit in uint8 labels: merge codes with --classes"
                    )
                else:
                    index = len(self.codes)
                    self.codes.append(code)
                self._index[code] = index
            out[i] = index
        return out

    def _record(self, keys: list, counts: list, record: bool) -> None:
        if record:
            for key, n in zip(keys, counts, strict=True):
                self.found[key] = self.found.get(key, 0) + n

    def encode(
        self, values: np.ndarray, invalid: np.ndarray, out: np.ndarray | None = None,
        record: bool = True, rows: int = 256,
    ) -> np.ndarray:  # fmt: skip
        """``values`` as uint8 indices (:data:`NO_LABEL` where ``invalid``), into ``out``."""
        if out is None:
            out = np.empty(values.shape, np.uint8)
        small = values.dtype.kind == "u" and values.dtype.itemsize <= 2
        for s in range(0, values.shape[0], rows):  # small temporaries
            piece, bad = values[s : s + rows], invalid[s : s + rows]
            target = out[s : s + rows]
            if small:  # uint8/uint16 codes: count and look up by value (no sort)
                counts = np.bincount(piece[~bad].ravel(), minlength=1)
                codes = np.flatnonzero(counts)
                self._record(codes.tolist(), counts[codes].tolist(), record)
                lut = np.full(2 ** (8 * values.dtype.itemsize), NO_LABEL, np.uint8)
                lut[codes] = self._indices(codes.tolist())
                np.take(lut, piece, out=target)
                target[bad] = NO_LABEL
                continue
            codes, inverse, counts = np.unique(piece[~bad], return_inverse=True, return_counts=True)
            keys = [_code_key(c) for c in codes.tolist()]
            self._record(keys, counts.tolist(), record)
            target.fill(NO_LABEL)
            if keys:
                if any(isinstance(k, float) for k in keys):  # not codes: refused with counts
                    _check_values(np.array([k for k in keys if isinstance(k, float)]), self.source)
                target[~bad] = self._indices(keys)[inverse.ravel()]
        return out


def _code_key(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _from_colour_mask(path: Path, like: xr.DataArray, table: ClassTable) -> Labels:
    """A colour-coded mask (RGB or paletted) decoded through the ``#RRGGBB`` values of ``table``."""
    data = decode_color_mask(read_colour_mask(path), table, str(path))
    if is_pixel_grid(like):
        height, width = like.sizes["y"], like.sizes["x"]
        if data.shape != (height, width):
            raise ConfigError(
                f"image {_image_source(like)!r} is {width} x {height} px but its mask {str(path)!r} "
                f"is {data.shape[1]} x {data.shape[0]} px; a mask without a CRS must have the size "
                "of its image"
            )
    elif data.shape != (like.sizes["y"], like.sizes["x"]):
        raise ConfigError(
            f"colour mask {path} is not on the grid of image {_image_source(like)}; a colour "
            "mask must have the image's size"
        )
    return Labels(data=_on_grid(data, like, str(path)), classes=table.as_dict, table=table)


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
    """Pixels without a label: the valid-pixel rule of :mod:`terralearn.pixels` on one band."""
    return ~valid_pixels(values[np.newaxis], nodata)


def _check_values(present: np.ndarray, source: str) -> None:
    bad = present[(present != np.round(present)) | (present < 0) | (present > MAX_CODE)]
    if bad.size:
        raise ConfigError(
            f"labels {source} contain values [{', '.join(f'{v:g}' for v in bad[:5])}]; class codes must be integers "
            f"0..{MAX_CODE}: remap them, or if {bad[0]:g} means unlabelled declare it with "
            f"`rio edit-info --nodata {bad[0]:g} {source}`"
        )


# --- label rasters on the image grid, read a band of rows at a time --------------------------


class LabelRows:
    """A one-band label raster on the exact grid of an image, read a band of rows at a time.

    :meth:`read` encodes rows as uint8 class indices (:data:`NO_LABEL` where the raster holds
    its nodata value or NaN). Before :meth:`use_table`, indices are provisional (codes in the
    order met, see :class:`CodeEncoder`); reads with ``record=True`` count the pixels per code.
    Once every row has been read with ``record=True``, :attr:`table` equals
    ``open_labels(...).table`` (and raises its errors); :meth:`use_table` then fixes the encoding
    and gives the provisional -> final index lookup. Use it as a context manager.
    """

    def __init__(
        self,
        meta: RasterMeta,
        nodata,
        source: str,
        classes: Sequence[str] | None = None,
        class_table: ClassTable | None = None,
        label_product: str | None = None,
    ) -> None:
        self.source = source
        self.width = meta.shape[1]
        self._meta = meta
        self._nodata = nodata
        self._dataset = open_quietly(meta.path)
        names, colors = raster_class_metadata(meta.path, meta.tags)
        self._spec = _Spec(
            classes, class_table, label_product, names, colors, _declared(meta.tags, source)
        )
        self.encoder = CodeEncoder(source)

    def read(
        self, start: int, stop: int, out: np.ndarray | None = None, record: bool = True
    ) -> np.ndarray:
        """Rows ``start:stop`` as ``(stop - start, width)`` uint8 class indices (into ``out``)."""
        window = Window(0, start, self.width, stop - start)
        values = self._dataset.read(1, window=window)
        return self.encoder.encode(values, _invalid(values, self._nodata), out, record)

    @property
    def found(self) -> dict:
        """Label code -> pixels of the rows read with ``record=True``."""
        return dict(self.encoder.found)

    @property
    def table(self) -> ClassTable:
        """The class table of the codes read so far (raises ConfigError for bad codes)."""
        s = self._spec
        return resolve_class_table(
            self.encoder.found, self.source, s.class_table, s.label_product, s.names, s.colors,
            s.classes, s.declared,
        )  # fmt: skip

    @property
    def classes(self) -> dict[int, str]:
        """Class index -> name of the codes read so far."""
        return self.table.as_dict

    @property
    def metadata(self) -> tuple[dict[int, str], dict[int, str]]:
        """The raster's own code -> name and code -> colour."""
        return self._spec.names, self._spec.colors

    def use_table(self, table: ClassTable) -> np.ndarray:
        """Encode by ``table`` from now on; returns the (256,) provisional -> final lookup."""
        lut = self.encoder.lookup_to(table)
        self.encoder.use_table(table)
        return lut

    def close(self) -> None:
        self._dataset.close()

    def __enter__(self) -> LabelRows:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_label_rows(
    src,
    like: xr.DataArray,
    classes: Sequence[str] | None = None,
    class_table: ClassTable | None = None,
    label_product: str | None = None,
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
    if is_colour_mask(meta):  # decoded whole by open_labels through the colours of --classes
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
    return LabelRows(meta, nodata, str(path), classes, class_table, label_product)


def _is_picture_mask(meta: RasterMeta) -> bool:
    """An 8-bit mask without CRS or nodata value (a PNG): 255 means no label, as in training."""
    if meta.crs is not None or meta.nodata is not None or meta.count != 1:
        return False
    with open_quietly(meta.path) as ds:
        return ds.dtypes[0] == "uint8"


def _typed_nodata(meta: RasterMeta):
    """The nodata value in the raster's type (as rioxarray gives it), or False if it does not fit."""
    if _is_picture_mask(meta):
        return np.uint8(NO_LABEL)
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
