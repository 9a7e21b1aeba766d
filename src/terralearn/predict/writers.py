"""Streamed writers of prediction outputs: Cloud-Optimized GeoTIFF or Zarr.

Windows arrive as they complete (:meth:`write`), rows of windows top to bottom. The GeoTIFF
writer fills a tiled staging GeoTIFF window by window, then GDAL's COG driver copies it into a
COG with overviews (:meth:`close`). The Zarr writer writes each window into a Zarr store laid out
by xarray: the CRS is in a CF ``spatial_ref`` variable named by each array's ``grid_mapping``
(``xr.open_zarr(path, decode_coords="all").rio.crs``) and in the root attribute ``crs_wkt``.

Outputs of one prediction (``OUTPUT`` = ``NAME.tif``):

- ``NAME.tif``: class map with the label codes of the training labels (``write="codes"``: uint8
  with nodata 255 when every code is below 255, else uint16 with nodata 65535) or the model's
  class indices (``write="indices"``: uint8, nodata 255); a colour table, and the class names in
  the tags and as GDAL category names in ``NAME.tif.aux.xml`` (QGIS shows them as the legend);
- ``NAME_probabilities.tif``: one float32 band per class (``--probabilities``), nodata NaN;
- ``NAME_uncertainty.tif``: entropy of the mean prediction in nats (``--uncertainty``);
- ``NAME.gpkg``: class polygons (``--vectorize``).

A Zarr ``OUTPUT`` holds the arrays ``class``, ``probabilities`` and ``uncertainty`` itself.
A PNG ``OUTPUT`` (for pictures without a CRS) is the class map in the class colours, RGB, black
where the input has no valid value (:class:`PngWriter`).
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import dask.array as dsa
import numpy as np
import rasterio
import xarray as xr
import zarr
from affine import Affine
from rasterio.crs import CRS
from rasterio.shutil import copy as copy_raster
from rasterio.windows import Window

from terralearn.classes import ClassTable, hex_to_rgb, rgb_to_hex
from terralearn.errors import ConfigError
from terralearn.geo import gdal_env
from terralearn.pixels import CODE_NODATA_16, NO_LABEL
from terralearn.viz.colors import class_color

GEOTIFF_SUFFIXES = (".tif", ".tiff")
ZARR_SUFFIX = ".zarr"
PNG_SUFFIX = ".png"
PNG_NODATA_COLOR = (0, 0, 0)
BLOCK = 512
# COG options per kind of output. A class map takes LZW: 1.8x faster to write than DEFLATE
# (16384 px: 0.9 vs 1.6 s) and within 5 % of its size (7 % smaller on smooth maps, 5 % larger
# on speckled ones), read by every GeoTIFF reader; overviews by the nearest class.
CLASS_COG = {"COMPRESS": "LZW", "PREDICTOR": "NO", "RESAMPLING": "NEAREST"}
FLOAT_COG = {"COMPRESS": "DEFLATE", "PREDICTOR": "FLOATING_POINT", "RESAMPLING": "AVERAGE"}


@dataclass(frozen=True)
class Grid:
    """The output grid: the input's size, CRS (None on a pixel grid) and transform."""

    height: int
    width: int
    crs: CRS | None
    transform: Affine


def output_paths(
    output: str | Path, probabilities: bool, uncertainty: bool, vectorize: bool
) -> dict[str, Path]:
    """Final paths of every output, keyed ``class``, ``probabilities``, ``uncertainty``, ``vectors``.

    Raises:
        ConfigError: ``output`` is neither a GeoTIFF (``.tif``/``.tiff``), a ``.zarr`` nor a
            ``.png``; a ``.png`` with extra outputs.
    """
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in (*GEOTIFF_SUFFIXES, ZARR_SUFFIX, PNG_SUFFIX):
        raise ConfigError(
            f"output {str(output)!r} has an unsupported extension {suffix or '(none)'!r}; "
            "end it in .tif (Cloud-Optimized GeoTIFF), .zarr or .png (class colours)"
        )
    extras = [o for o, on in (("--probabilities", probabilities), ("--uncertainty", uncertainty),
                              ("--vectorize", vectorize)) if on]  # fmt: skip
    if suffix == PNG_SUFFIX and extras:
        raise ConfigError(
            f"{', '.join(extras)} cannot go with a .png OUTPUT {str(output)!r} (a picture of the "
            "class colours); write a .tif or .zarr for them"
        )
    paths = {"class": output}
    if suffix in GEOTIFF_SUFFIXES:
        if probabilities:
            paths["probabilities"] = output.with_name(f"{output.stem}_probabilities{output.suffix}")
        if uncertainty:
            paths["uncertainty"] = output.with_name(f"{output.stem}_uncertainty{output.suffix}")
    if vectorize:
        paths["vectors"] = output.with_suffix(".gpkg")
    return paths


WRITE_MODES = ("codes", "indices")


@dataclass(frozen=True)
class ClassLegend:
    """How a class map stores its classes: a value, name and colour per class index.

    Attributes:
        values: the value written for each class index.
        names: class names, by index.
        colors: RGB colours, by index.
        dtype: ``uint8`` or ``uint16``.
        nodata: the value of pixels without a prediction (never a class value).
    """

    values: tuple[int, ...]
    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    dtype: str = "uint8"
    nodata: int = NO_LABEL

    @property
    def by_value(self) -> dict[int, str]:
        """Written value -> class name."""
        return dict(zip(self.values, self.names, strict=True))

    def lookup(self) -> np.ndarray:
        """(256,) class index -> written value (index 255, no prediction, -> ``nodata``)."""
        lut = np.full(256, self.nodata, dtype=self.dtype)
        lut[: len(self.values)] = self.values
        return lut

    def colormap(self) -> dict[int, tuple[int, int, int, int]]:
        top = 256 if self.dtype == "uint8" else max(self.values) + 1
        cmap = {v: (0, 0, 0, 0) for v in range(top)}
        for value, rgb in zip(self.values, self.colors, strict=True):
            cmap[value] = (*rgb, 255)
        return cmap


def class_legend(table: ClassTable, write: str = "codes") -> ClassLegend:
    """The legend of a class map of ``table``'s classes: their codes or their indices.

    Codes below 255 are written as uint8 with nodata 255, larger codes (up to 65534, e.g.
    CORINE) as uint16 with nodata 65535; colour-mask tables have no integer codes and always
    write indices.
    """
    if write not in WRITE_MODES:
        raise ConfigError(f"--write {write!r} is unknown; use one of {', '.join(WRITE_MODES)}")
    values = [c.index for c in table] if write == "indices" or table.is_color_mask else table.codes
    big = bool(values) and max(values) >= NO_LABEL
    return ClassLegend(
        values=tuple(int(v) for v in values),
        names=tuple(table.names),
        colors=tuple(hex_to_rgb(c) for c in table.colors),
        dtype="uint16" if big else "uint8",
        nodata=CODE_NODATA_16 if big else NO_LABEL,
    )


def _default_legend(classes: dict[int, str]) -> ClassLegend:
    ids = sorted(classes)
    return ClassLegend(
        values=tuple(ids),
        names=tuple(classes[i] for i in ids),
        colors=tuple(class_color(i) for i in ids),
    )


def write_category_names(path: Path, legend: ClassLegend) -> Path:
    """GDAL category names of a class map in its PAM sidecar ``PATH.aux.xml``.

    GDAL (and QGIS) read band category names from this file; rasterio has no API to write them.
    Entry ``v`` names value ``v``; values that are no class get an empty name.
    """
    names = legend.by_value
    root = ElementTree.Element("PAMDataset")
    band = ElementTree.SubElement(root, "PAMRasterBand", band="1")
    categories = ElementTree.SubElement(band, "CategoryNames")
    for value in range(max(names) + 1 if names else 0):
        ElementTree.SubElement(categories, "Category").text = names.get(value, "")
    ElementTree.indent(root)
    aux = Path(f"{path}.aux.xml")
    aux.write_text(ElementTree.tostring(root, encoding="unicode") + "\n")
    return aux


class GeoTiffWriter:
    """Class map (and optional probability / uncertainty rasters) as Cloud-Optimized GeoTIFFs.

    Args:
        targets: temporary paths by output kind (``class``, ``probabilities``, ``uncertainty``).
        grid: output grid.
        classes: class id -> name.
        legend: the value, name and colour of each class in the class map (default: the class
            ids, uint8, default colours).
    """

    def __init__(
        self, targets: dict[str, Path], grid: Grid, classes: dict[int, str],
        legend: ClassLegend | None = None,
    ) -> None:  # fmt: skip
        self.targets = {k: v for k, v in targets.items() if k != "vectors"}
        self.grid, self.classes = grid, classes
        self.legend = legend = legend or _default_legend(classes)
        self._stages: dict[str, Path] = {}
        self._datasets: dict = {}
        names = [classes[i] for i in sorted(classes)]
        by_value = json.dumps({str(v): n for v, n in legend.by_value.items()})
        tags = {"CLASSES": by_value}
        for kind, target in self.targets.items():
            # hidden sibling of the (already hidden) temporary target: a kill leaves no OUTPUT
            stage = target.with_name(f"{target.name}.stage.tif")
            self._stages[kind] = stage
            count = len(classes) if kind == "probabilities" else 1
            dtype, nodata = (
                (legend.dtype, legend.nodata) if kind == "class" else ("float32", np.nan)
            )
            with warnings.catch_warnings():  # a pixel grid (no CRS): identity transform
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                ds = rasterio.open(
                    stage, "w", driver="GTiff", height=grid.height, width=grid.width, count=count,
                    dtype=dtype, crs=grid.crs, transform=grid.transform, nodata=nodata,
                    tiled=True, blockxsize=BLOCK, blockysize=BLOCK, compress="deflate", zlevel=1,
                    BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS",
                )  # fmt: skip
            ds.update_tags(**tags)
            if kind == "class":
                ds.write_colormap(1, legend.colormap())
                ds.set_band_description(1, "class")
                # class_names: read back as class names when the map is used as labels
                ds.update_tags(class_names=by_value)
                ds.update_tags(1, **{f"class_{v}": n for v, n in legend.by_value.items()})
            elif kind == "probabilities":
                for b, name in enumerate(names, start=1):
                    ds.set_band_description(b, name)
            else:
                ds.set_band_description(1, "entropy")
                ds.update_tags(
                    1, units="nats", definition="entropy of the mean class probabilities"
                )
            self._datasets[kind] = ds

    def write(
        self,
        y0: int,
        x0: int,
        classes: np.ndarray,
        probabilities: np.ndarray | None = None,
        uncertainty: np.ndarray | None = None,
    ) -> None:
        """Write the window at row ``y0``, column ``x0`` of each output (``(h, w)`` or
        ``(K, h, w)`` arrays)."""
        window = Window(x0, y0, classes.shape[-1], classes.shape[-2])
        arrays = {"class": classes, "probabilities": probabilities, "uncertainty": uncertainty}
        for kind, ds in self._datasets.items():
            data = arrays[kind]
            ds.write(data if data.ndim == 3 else data[None], window=window)

    def close(self) -> None:
        """Finish: copy each staging GeoTIFF into its target as a COG with overviews."""
        try:
            for kind, ds in self._datasets.items():
                ds.close()
                copy_raster(
                    self._stages[kind], self.targets[kind], driver="COG", BLOCKSIZE=BLOCK,
                    **(CLASS_COG if kind == "class" else FLOAT_COG),
                    OVERVIEWS="AUTO", BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS",
                )  # fmt: skip
        finally:
            self.abort()

    def abort(self) -> None:
        """Close and delete the staging files (the targets are removed by the caller)."""
        for ds in self._datasets.values():
            with contextlib.suppress(Exception):
                ds.close()
        for stage in self._stages.values():
            stage.unlink(missing_ok=True)


class ZarrWriter:
    """All outputs as arrays of one Zarr store, laid out (and readable) by xarray.

    Args:
        target: temporary store path (an empty folder).
        grid: output grid.
        classes: class id -> name.
        probabilities: write the ``probabilities`` array ``(band, y, x)``, one band per class.
        uncertainty: write the ``uncertainty`` array ``(y, x)``.
        legend: the value, name and colour of each class in ``class`` (default: the class ids).
        chunks: ``(rows, columns)`` of a chunk (default 512 x 512); Dask workers write whole
            chunks, so they are the cores of ``"crop"`` tiles.
    """

    def __init__(
        self, target: Path, grid: Grid, classes: dict[int, str], probabilities: bool,
        uncertainty: bool, legend: ClassLegend | None = None,
        chunks: tuple[int, int] | None = None,
    ) -> None:  # fmt: skip
        self.target, self.grid = target, grid
        self.legend = legend = legend or _default_legend(classes)
        h, w, k = grid.height, grid.width, len(classes)
        rows, cols = chunks or (BLOCK, BLOCK)
        chunk = min(rows, h), min(cols, w)
        ids = list(legend.values)
        names = list(legend.names)
        variables = {
            "class": xr.Variable(
                ("y", "x"),
                dsa.zeros((h, w), dtype=legend.dtype, chunks=chunk),
                attrs={
                    "flag_values": ids,
                    "flag_meanings": " ".join(n.replace(" ", "_") for n in names),
                    "flag_colors": " ".join(rgb_to_hex(c) for c in legend.colors),
                    "class_names": json.dumps(dict(zip(map(str, ids), names, strict=True))),
                },
            )  # fmt: skip
        }
        if probabilities:
            variables["probabilities"] = xr.Variable(
                ("band", "y", "x"), dsa.zeros((k, h, w), dtype=np.float32, chunks=(k, *chunk))
            )
        if uncertainty:
            variables["uncertainty"] = xr.Variable(
                ("y", "x"), dsa.zeros((h, w), dtype=np.float32, chunks=chunk),
                attrs={"units": "nats", "long_name": "entropy of the mean class probabilities"},
            )  # fmt: skip
        t = grid.transform
        coords = {
            "y": t.f + t.e * (np.arange(h) + 0.5),
            "x": t.c + t.a * (np.arange(w) + 0.5),
            "band": np.array(names, dtype=object),  # one band per class, as in the GeoTIFF
        }
        ds = xr.Dataset(variables, coords=coords)
        if grid.crs is not None:  # None: a pixel-grid input
            ds = ds.rio.write_crs(grid.crs)
            ds.attrs["crs_wkt"] = grid.crs.to_wkt()  # also for readers that ignore grid mappings
        ds = ds.rio.write_transform(grid.transform)
        # explicit encodings replace rioxarray's, so name the grid mapping again
        encoding = {
            name: {
                "_FillValue": legend.nodata if name == "class" else np.float32(np.nan),
                "grid_mapping": "spatial_ref",
            }
            for name in variables
        }
        with warnings.catch_warnings():
            # consolidated metadata (xarray's default, quick to open) is not yet in the v3 spec
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            ds.to_zarr(target, mode="w", compute=False, encoding=encoding, consolidated=True)
        self._kinds = list(variables)

    def write(
        self,
        y0: int,
        x0: int,
        classes: np.ndarray,
        probabilities: np.ndarray | None = None,
        uncertainty: np.ndarray | None = None,
    ) -> None:
        """Write the window at row ``y0``, column ``x0`` (``(h, w)`` or ``(K, h, w)`` arrays)."""
        arrays = {"class": classes, "probabilities": probabilities, "uncertainty": uncertainty}
        data = {}
        for kind in self._kinds:
            dims = ("band", "y", "x") if kind == "probabilities" else ("y", "x")
            data[kind] = (dims, arrays[kind])
        region = {"y": slice(y0, y0 + classes.shape[-2]), "x": slice(x0, x0 + classes.shape[-1])}
        if "probabilities" in data:
            region["band"] = slice(0, probabilities.shape[0])
        # one writer, windows in order: partial chunks are rewritten safely; the metadata (and
        # its consolidated copy) does not change
        xr.Dataset(data).to_zarr(self.target, region=region, safe_chunks=False, consolidated=False)

    def close(self) -> None:
        """Nothing to finish: every region is on disk once written."""

    def abort(self) -> None:
        """Nothing to clean: the caller removes the temporary store."""


# --- class colours and PNG class maps ---------------------------------------------------------


class PngWriter:
    """The class map as an RGB PNG in the class colours, :data:`PNG_NODATA_COLOR` where nodata.

    The class ids are kept in memory (1 byte per pixel) and written at :meth:`close`: PNG is
    written in one go. For pictures without a CRS, whose outputs are pictures too.

    Args:
        target: temporary path of the PNG.
        grid: output grid (only its size is used).
        colors: class id -> RGB (the class table's colours).
    """

    def __init__(self, target: Path, grid: Grid, colors: Mapping[int, Sequence[int]]) -> None:
        self.target = target
        self.classes = np.full((grid.height, grid.width), NO_LABEL, dtype=np.uint8)
        self.lut = np.zeros((256, 3), dtype=np.uint8)
        self.lut[:] = PNG_NODATA_COLOR
        for i, rgb in colors.items():
            self.lut[int(i)] = rgb[:3]

    def write(self, y0: int, x0: int, classes: np.ndarray, *_: Any) -> None:
        """Keep the window at row ``y0``, column ``x0`` (probabilities are not written)."""
        h, w = classes.shape[-2:]
        self.classes[y0 : y0 + h, x0 : x0 + w] = classes

    def close(self) -> None:
        """Write the PNG (RGB, 8 bits)."""
        rgb = np.moveaxis(self.lut[self.classes], -1, 0)
        profile = {"driver": "PNG", "height": rgb.shape[1], "width": rgb.shape[2], "count": 3}
        # no .aux.xml sidecar beside the picture
        with gdal_env(GDAL_PAM_ENABLED="NO"), warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(self.target, "w", dtype="uint8", **profile) as ds:
                ds.write(rgb)

    def abort(self) -> None:
        """Nothing to clean: the caller removes the temporary file."""


# --- a Zarr map written by Dask workers, copied into a COG or PNG -----------------------------


def copy_zarr_windows(source: Path, writer: Any, probabilities: bool, uncertainty: bool) -> None:
    """Feed the arrays of a :class:`ZarrWriter` store to ``writer``, one band of chunk rows at a
    time (memory: one chunk row across the raster).

    How a distributed prediction becomes a COG or a PNG: the workers write Zarr chunks, this
    process reads them back in order and writes the file as a single-process run would.
    """
    group = zarr.open_group(source, mode="r")
    codes = group["class"]
    height, width = codes.shape
    rows = codes.chunks[0]
    for y0 in range(0, height, rows):
        window = slice(y0, min(y0 + rows, height))
        writer.write(
            y0, 0, codes[window],
            group["probabilities"][:, window] if probabilities else None,
            group["uncertainty"][window] if uncertainty else None,
        )  # fmt: skip
