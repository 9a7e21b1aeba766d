"""One image from many one-band files: a GDAL VRT that stacks them as bands.

Landsat and Sentinel-2 products ship one file per band, often with a different data type and
nodata value per file. :func:`stack_vrt` writes a small VRT (an XML file that points at the band
files, no pixels copied) that every terralearn command then opens as one image:

- **bands**: one per input file, in the given order, named by the part of the file names that
  differs between the files, cut at ``_`` / ``-`` / ``.`` separators (``lsat7_2000_10.tif``,
  ``lsat7_2000_20.tif`` -> ``10``, ``20``; ``LC09_..._SR_B2.TIF``, ``LC09_..._SR_B3.TIF`` -> ``B2``,
  ``B3``), or by ``names``. The names are written as band ``<Description>``, which
  :func:`terralearn.open_image` returns as the band coordinate.
- **data type**: the smallest common type that holds every band exactly
  (:func:`numpy.result_type`: int16 + float32 -> float32, uint16 + int16 -> int32).
- **nodata**: each file keeps its own nodata value (``<NODATA>`` of its ``ComplexSource``); every
  VRT band gets ONE common nodata value, so the image has one nodata value and a pixel is invalid
  where any band is nodata. The common value is the first file's nodata value that no other
  file can hold as a valid pixel (its type cannot represent it, or that file has the same
  nodata): float32 -99999 beside int16 -32768 gives -99999. When no file's value is safe the
  common value is NaN and an integer type is widened to the smallest float type that holds every
  band (e.g. uint16 nodata 0 beside uint16 without nodata -> float32, NaN). A file with an
  internal mask band and no nodata value has its masked pixels read as the common nodata.
- **paths**: relative to the VRT (``relativeToVRT="1"``) for files in the VRT's folder or below
  it, so the folder can be moved as a whole; absolute otherwise.
- **refused** (one-line :class:`~terralearn.errors.TerralearnError`, nothing written): fewer
  than two files, a missing file, a multi-band file, files on different grids (CRS, transform,
  size; the message gives the ``gdalwarp`` command that fixes it).

Scale/offset metadata of the files is not applied: the VRT carries the files' stored values.

GDAL's own ``gdalbuildvrt`` is not reachable from Python here (rasterio does not wrap it and the
GDAL Python bindings are not a dependency), so the XML is written with :mod:`xml.etree`.
"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.dtypes

from terralearn._fs import atomic_output, check_output
from terralearn.errors import ConfigError, InputNotFoundError
from terralearn.io.rasterio_ import RasterMeta, grid_differences, inspect_raster, is_remote

# separators between the parts of a band file's name (LC09_..._SR_B2, T32TQM_..._B02_10m)
_TOKEN = re.compile(r"[^_\-.\s]+")


@dataclass(frozen=True)
class StackedBand:
    """One band of a stacked VRT and the file it comes from."""

    name: str
    path: str  # the input path as given
    dtype: str  # the file's data type
    nodata: float | None  # the file's nodata value
    masked: bool  # the file has an internal mask band and no nodata value


@dataclass(frozen=True)
class StackedVRT:
    """What :func:`stack_vrt` wrote."""

    path: Path
    bands: tuple[StackedBand, ...]
    dtype: str  # the VRT's data type
    nodata: float | None  # the VRT's one nodata value (None: no file has nodata or a mask)
    relative: bool  # every source path is written relative to the VRT

    @property
    def names(self) -> list[str]:
        return [b.name for b in self.bands]


def stack_vrt(
    paths: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    names: Sequence[str] | None = None,
    overwrite: bool = False,
) -> StackedVRT:
    """Write a VRT at ``out`` that stacks one-band raster files as bands (see the module doc).

    Args:
        paths: two or more one-band rasters on the same grid, in band order.
        out: the VRT to write (``*.vrt``).
        names: band names, one per file (default: from the file names).
        overwrite: replace an existing ``out``.

    Returns:
        What was written: path, bands, data type, nodata value.

    Raises:
        ConfigError: fewer than two files, a multi-band file, files on different grids, bad or
            duplicate names, ``out`` not ending in ``.vrt``.
        InputNotFoundError: a file does not exist.
        NotARasterError, MissingCRSError: a file is not a georeferenced raster.
        OutputExistsError: ``out`` exists and not ``overwrite``.
    """
    out = Path(out)
    if out.suffix.lower() != ".vrt":
        raise ConfigError(f"--out {str(out)!r} must end in .vrt (stack writes a GDAL VRT)")
    check_output(out, overwrite, option="--out")
    if len(paths) < 2:
        raise ConfigError(
            f"stack needs two or more band files, got {len(paths)}; give every band file, in order"
        )
    metas = [_inspect_band_file(os.fspath(p)) for p in paths]
    _check_same_grid(metas)
    band_names = _check_names(names, len(metas)) if names else names_from_files(metas)
    bands = tuple(
        StackedBand(n, m.path, m.dtype, m.nodata, m.masked)
        for n, m in zip(band_names, metas, strict=True)
    )
    dtype, nodata = common_dtype_and_nodata(bands)
    folder = Path(os.path.abspath(out)).parent
    sources = [_source_path(m.path, folder) for m in metas]
    xml = _vrt_xml(metas, bands, sources, dtype, nodata)
    with atomic_output(out, overwrite=overwrite) as tmp:
        tmp.write_bytes(xml)
        with rasterio.open(tmp) as ds:  # GDAL must read what we wrote
            ds.read(1, window=((0, 1), (0, 1)))
    relative = all(rel for _, rel in sources)
    return StackedVRT(out, bands, dtype, nodata, relative)


@dataclass(frozen=True)
class _BandFile(RasterMeta):
    dtype: str = ""


def _inspect_band_file(path: str) -> _BandFile:
    if not is_remote(path) and not Path(path).exists():
        raise InputNotFoundError(f"band file {path!r} does not exist; check the path")
    meta = inspect_raster(path)
    if meta.count != 1:
        raise ConfigError(
            f"{path} has {meta.count} bands; stack takes one-band files, so split it first, "
            f"e.g. `gdal_translate -b 1 {path} band1.tif`"
        )
    with rasterio.open(path) as ds:
        dtype = ds.dtypes[0]
    return _BandFile(**vars(meta), dtype=dtype)


def _check_same_grid(metas: Sequence[RasterMeta]) -> None:
    first = metas[0]
    for m in metas[1:]:
        what = grid_differences(m, first)
        if what:
            t, (h, w) = first.transform, first.shape
            bounds = f"{t.c!r} {t.f + h * t.e!r} {t.c + w * t.a!r} {t.f!r}"
            fix = (
                f"gdalwarp -t_srs {first.crs.to_string()} -te {bounds} -ts {w} {h} "
                f"{m.path} {Path(m.path).stem}_on_grid.tif"
            )
            raise ConfigError(
                f"{m.path} is not on the grid of {first.path} ({'; '.join(what)}); "
                f"resample it onto that grid first: `{fix}`"
            )


def names_from_files(paths: Sequence[str | os.PathLike | RasterMeta]) -> list[str]:
    """Band names from file names: the part of the stems that differs between the files.

    The stems are cut into parts at ``_``, ``-``, ``.`` and spaces; the parts every stem starts
    with and ends with are dropped (``lsat7_2000_10`` / ``lsat7_2000_20`` -> ``10`` / ``20``).
    Falls back to the whole stems when that leaves an empty or a repeated name.

    Raises:
        ConfigError: two files have the same stem (then names must be given).
    """
    stems = [Path(p.path if isinstance(p, RasterMeta) else p).stem for p in paths]
    spans = [[m.span() for m in _TOKEN.finditer(s)] for s in stems]
    tokens = [[s[a:b] for a, b in sp] for s, sp in zip(stems, spans, strict=True)]
    shortest = min(len(t) for t in tokens)
    lead = 0
    while lead < shortest and len({t[lead] for t in tokens}) == 1:
        lead += 1
    trail = 0
    while lead + trail < shortest and len({t[-1 - trail] for t in tokens}) == 1:
        trail += 1
    names = []
    for stem, sp in zip(stems, spans, strict=True):
        kept = sp[lead : len(sp) - trail]
        names.append(stem[kept[0][0] : kept[-1][1]] if kept else "")
    if all(names) and len(set(names)) == len(names):
        return names
    if len(set(stems)) != len(stems):
        twice = sorted({s for s in stems if stems.count(s) > 1})
        raise ConfigError(
            f"several band files are named {twice[0]!r}; name the bands with --names a,b,c"
        )
    return stems


def _check_names(names: Sequence[str], count: int) -> list[str]:
    names = [str(n).strip() for n in names]
    if len(names) != count:
        raise ConfigError(
            f"--names gives {len(names)} names for {count} band files; give one name per file"
        )
    if not all(names) or len(set(names)) != len(names):
        raise ConfigError(f"--names {','.join(names)}: names must be non-empty and distinct")
    return names


def _holds(dtype: np.dtype, value: float) -> bool:
    """Can a pixel of ``dtype`` have exactly this value?"""
    if math.isnan(value):
        return dtype.kind == "f"
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return float(value).is_integer() and info.min <= value <= info.max
    with np.errstate(over="ignore"):
        return float(np.asarray(value, dtype=dtype)) == value


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def common_dtype_and_nodata(bands: Sequence[StackedBand]) -> tuple[str, float | None]:
    """The VRT's data type and its one nodata value (see the module doc for the rule)."""
    dtype = np.result_type(*(np.dtype(b.dtype) for b in bands))
    if all(b.nodata is None and not b.masked for b in bands):
        return dtype.name, None
    for candidate in (b.nodata for b in bands if b.nodata is not None):
        safe = all(
            _same(b.nodata, candidate) or not _holds(np.dtype(b.dtype), candidate) for b in bands
        )
        if (safe or math.isnan(candidate)) and _holds(dtype, candidate):
            return dtype.name, float(candidate)
    if dtype.kind != "f":
        dtype = np.result_type(dtype, np.float32)
    return dtype.name, float("nan")


def _source_path(path: str, folder: Path) -> tuple[str, bool]:
    """The path to write for a source: relative when it lies in ``folder`` or below it.

    ``abspath``, not ``resolve``: a symbolic link in the folder stays a relative source.
    """
    if is_remote(path):
        return path, False
    resolved = Path(os.path.abspath(path))
    if resolved.is_relative_to(folder):
        return resolved.relative_to(folder).as_posix(), True
    return str(resolved), False


def _number(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _gdal_type(dtype: str) -> str:
    return rasterio.dtypes.typename_fwd[rasterio.dtypes.dtype_rev[dtype]]


def _vrt_xml(
    metas: Sequence[_BandFile],
    bands: Sequence[StackedBand],
    sources: Sequence[tuple[str, bool]],
    dtype: str,
    nodata: float | None,
) -> bytes:
    first = metas[0]
    height, width = first.shape
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    # no dataAxisToSRSAxisMapping: GDAL then reads the SRS in x/y (traditional GIS) order, as
    # rasterio gives the transform, whatever the axis order the WKT declares (lat/lon in 4326)
    ET.SubElement(root, "SRS").text = first.crs.to_wkt()
    ET.SubElement(root, "GeoTransform").text = ", ".join(
        repr(float(v)) for v in first.transform.to_gdal()
    )
    rect = {"xOff": "0", "yOff": "0", "xSize": str(width), "ySize": str(height)}
    for i, (meta, band, (source, relative)) in enumerate(
        zip(metas, bands, sources, strict=True), start=1
    ):
        vrt_band = ET.SubElement(root, "VRTRasterBand", dataType=_gdal_type(dtype), band=str(i))
        ET.SubElement(vrt_band, "Description").text = band.name
        if nodata is not None:
            ET.SubElement(vrt_band, "NoDataValue").text = _number(nodata)
        complex_source = ET.SubElement(vrt_band, "ComplexSource")
        ET.SubElement(
            complex_source, "SourceFilename", relativeToVRT="1" if relative else "0"
        ).text = source
        ET.SubElement(complex_source, "SourceBand").text = "1"
        ET.SubElement(
            complex_source,
            "SourceProperties",
            RasterXSize=str(width),
            RasterYSize=str(height),
            DataType=_gdal_type(meta.dtype),
        )
        ET.SubElement(complex_source, "SrcRect", rect)
        ET.SubElement(complex_source, "DstRect", rect)
        if meta.nodata is not None:
            # pixels equal to the file's nodata are skipped: they keep the band's NoDataValue
            ET.SubElement(complex_source, "NODATA").text = _number(meta.nodata)
        elif meta.masked:
            ET.SubElement(complex_source, "UseMaskBand").text = "true"
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8") + b"\n"


__all__ = ["StackedBand", "StackedVRT", "common_dtype_and_nodata", "names_from_files", "stack_vrt"]
