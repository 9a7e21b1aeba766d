"""``terralearn prepare``: cut images and labels into a chip store."""

from __future__ import annotations

import click

from terralearn.cli.options import (
    DISTANCE,
    DISTANCE_SYNTAX,
    bands_option,
    config_option,
    defaults_from,
    overwrite_option,
    quiet_option,
    seed_option,
    split_list,
)
from terralearn.cli.render import print_store_summary
from terralearn.config import build_config, load_yaml
from terralearn.io.earthengine import expand_prepare_values
from terralearn.store import PrepareConfig, open_store
from terralearn.store import prepare as run_prepare
from terralearn.store.prepare import AUTO_CHIP_SIZES

option = defaults_from(PrepareConfig)
AUTO_CHIP_SIZE = (
    f"{AUTO_CHIP_SIZES[0]}, smaller on small scenes: {', '.join(map(str, AUTO_CHIP_SIZES[1:]))}, "
    "so that the scene holds enough blocks for every split"
)


@click.command()
@click.argument("images", nargs=-1, required=False)
@click.option(
    "--labels",
    "labels",
    multiple=True,
    help="Label raster or polygons (GeoPackage, GeoJSON, Shapefile); once for all images or once per image.",
)
@click.option("--out", "out", required=True, help="Chip store folder to create.")
@bands_option()
@option("--class-column", help="Attribute holding the class of each polygon.")
@option(
    "--classes",
    metavar="FILE",
    help="Class table (.csv or .yaml) with value,name[,color]: value a label code or #RRGGBB "
    "mask colour; the name 'ignore' means no label; rows sharing a name merge.",
)
@option(
    "--label-product",
    metavar="NAME",
    describe="recognised from sparse codes",
    help="The labels are a known product: nlcd, worldcover, dynamic-world or corine (official "
    "names and colours).",
)
@option(
    "--chip-size",
    type=int,
    describe=AUTO_CHIP_SIZE,
    help="Chip size in pixels.",
)
@option("--stride", type=int, describe="chip size", help="Distance between chips in pixels.")
@option(
    "--sampler",
    type=click.Choice(["grid", "random", "class_balanced"]),
    help="How chips are drawn.",
)
@option("--num-samples", type=int, help="Chips per image for --sampler random.")
@option("--min-valid", type=float, help="Skip chips with a smaller valid fraction.")
@option("--min-labelled", type=int, help="Skip chips with fewer labelled pixels.")
@option(
    "--split",
    type=click.Choice(["block", "random", "image"]),
    help="Spatial blocks, random chips, or whole images (grouped by folder, so the "
    "parts of one tile stay together; one group per image if all share a folder). Block and "
    "image splits balance the class shares of the splits.",
)
@option(
    "--block-size",
    type=DISTANCE,
    describe="the largest of 8 x 8 down to 1 x 1 chips that still gives 12 blocks, or 2 / the "
    "smaller of --val and --test if more (14 by default)",
    help=f"Split block side: {DISTANCE_SYNTAX}.",
)
@option(
    "--buffer",
    type=DISTANCE,
    describe="one chip",
    help=f"Drop chips closer than this to another split: {DISTANCE_SYNTAX}.",
)
@option("--val", type=float, help="Validation share.")
@option("--test", type=float, help="Test share.")
@seed_option(PrepareConfig, help="Seed of the split and random sampling.")
@option(
    "--pixel-grid",
    is_flag=True,
    default=None,
    help="Read rasters without a CRS (e.g. TIFFs) on their pixel grid; JPEG/PNG always are.",
)
@config_option
@overwrite_option
@quiet_option
def prepare(images, labels, out, bands, config_path, overwrite, quiet, **options) -> None:
    """Cut IMAGE(s) and their labels into chips with a spatial train/val/test split.

    IMAGE(s) and --labels may be quoted glob patterns ("tiles/*/images/*.jpg"): each is expanded
    in sorted order and images and labels are paired in that order. Pictures without a CRS
    (JPEG, PNG) are read on their pixel grid, with masks of the same size.

    IMAGE(s) may instead come from the config file: `images:` or an `earthengine:` section
    (see docs/earthengine.md).

    Writes a chip store: Zarr arrays (image, mask, valid), a Parquet index, band statistics
    of the training split, and the resolved config.
    """
    options["pixel_grid"] = options.get("pixel_grid") or None  # unset: the config file decides
    for name in ("block_size", "buffer"):  # the config keeps the distance as written
        options[name] = str(options[name]) if options[name] is not None else None
    file_values = load_yaml(config_path) if config_path else {}
    if "earthengine" in file_values:  # fetch (or read from the cache) the EE inputs first
        file_values = expand_prepare_values(file_values, progress=not quiet)
    config = build_config(
        PrepareConfig,
        file_values,
        images=list(images) or None,
        labels=list(labels) or None,
        out=out,
        bands=split_list(bands),
        **options,
    )
    path = run_prepare(config, overwrite=overwrite, progress=not quiet)
    print_store_summary(open_store(path))
