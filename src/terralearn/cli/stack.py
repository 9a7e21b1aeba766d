"""``terralearn stack``: one image (a GDAL VRT) from one-band files."""

from __future__ import annotations

import click
from rich.table import Table

from terralearn.cli.options import described, overwrite_option
from terralearn.cli.render import console
from terralearn.io.vrt import stack_vrt


@click.command(
    short_help="Stack one-band FILES as the bands of one image (a GDAL VRT; no pixels copied)."
)
@click.argument("files", nargs=-1, required=True)
@click.option("--out", "out", required=True, help="The VRT to write (*.vrt).")
@described(
    "--names",
    describe="the differing part of the file names",
    help="Comma-separated band names, one per file.",
)
@overwrite_option
def stack(files: tuple[str, ...], out: str, names: str | None, overwrite: bool) -> None:
    """Stack one-band FILES (e.g. a Landsat or Sentinel-2 product's band files) as the bands of
    one image: a small GDAL VRT that points at the files (no pixels are copied), which every
    command (prepare, predict, info, ...) opens like a GeoTIFF.

    \b
    - one band per file, in the given order, named by the part of the file names that differs
      (lsat7_2000_10.tif, lsat7_2000_20.tif -> 10, 20; ..._SR_B2.TIF -> B2), or by --names;
    - data type: the common type that holds every band exactly (int16 + float32 -> float32);
    - nodata: each file keeps its own nodata value, and all of them read as ONE nodata value of
      the VRT (a file's own value that no other file can hold as a valid pixel, e.g. float32
      -99999 beside int16 -32768 -> -99999; else NaN, with a float type). A pixel is invalid
      where any band is nodata;
    - files in the VRT's folder (or below) are referenced by relative paths, so the folder can
      be moved; other files by absolute paths.

    The files must share CRS, transform and size (else resample with gdalwarp) and have one
    band each.
    """
    band_names = names.split(",") if names is not None else None
    result = stack_vrt(list(files), out, names=band_names, overwrite=overwrite)
    click.echo(f"wrote {result.path}: {len(result.bands)} bands")
    table = Table()
    for column in ("band", "file", "dtype", "nodata"):
        table.add_column(column)
    for band in result.bands:
        nodata = "-" if band.nodata is None else f"{band.nodata:g}"
        table.add_row(band.name, band.path, band.dtype, "mask" if band.masked else nodata)
    console().print(table)
    nodata = "none" if result.nodata is None else f"{result.nodata:g}"
    paths = "relative to the VRT" if result.relative else "absolute"
    click.echo(f"VRT: {result.dtype}, nodata {nodata} for every band; source paths {paths}")
