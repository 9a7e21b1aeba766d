"""``terralearn prepare``: cut images and labels into a chip store."""

from __future__ import annotations

import click

from terralearn.cli.options import config_option, overwrite_option


@click.command()
@click.argument("images", nargs=-1, required=False)
@click.option(
    "--labels",
    "labels",
    multiple=True,
    help="Label raster or polygons (GeoPackage, GeoJSON, Shapefile); once for all images or once per image.",
)
@click.option("--out", "out", required=True, help="Chip store folder to create.")
@click.option("--bands", default=None, help="Comma-separated band names to keep, in order.")
@click.option("--class-column", default=None, help="Attribute holding the class of each polygon.")
@click.option(
    "--classes",
    default=None,
    metavar="FILE",
    help="Class table (.csv or .yaml) with value,name[,color]: value a label code or #RRGGBB "
    "mask colour; the name 'ignore' means no label; rows sharing a name merge.",
)
@click.option(
    "--label-product",
    default=None,
    metavar="NAME",
    help="The labels are a known product: nlcd, worldcover, dynamic-world or corine (official "
    "names and colours) [recognised from sparse codes].",
)
@click.option(
    "--chip-size",
    type=int,
    default=None,
    help="Chip size in pixels [128, smaller on small scenes: 64, 32 or 16, so that the scene "
    "holds enough blocks for every split].",
)
@click.option(
    "--stride", type=int, default=None, help="Distance between chips in pixels [chip size]."
)
@click.option(
    "--sampler",
    type=click.Choice(["grid", "random", "class_balanced"]),
    default=None,
    help="How chips are drawn [grid].",
)
@click.option("--num-samples", type=int, default=None, help="Chips per image for --sampler random.")
@click.option(
    "--min-valid", type=float, default=None, help="Skip chips with a smaller valid fraction [0.5]."
)
@click.option(
    "--min-labelled", type=int, default=None, help="Skip chips with fewer labelled pixels [0]."
)
@click.option(
    "--split",
    type=click.Choice(["block", "random", "image"]),
    default=None,
    help="Spatial blocks (default), random chips, or whole images (grouped by folder, so the "
    "parts of one tile stay together; one group per image if all share a folder). Block and "
    "image splits balance the class shares of the splits.",
)
@click.option(
    "--block-size",
    default=None,
    help="Split block size: pixels (1024), metres (5000m) or km (5km) [the largest of 8 x 8 "
    "down to 1 x 1 chips that still gives 12 blocks, or 2 / the smaller of --val and --test "
    "if more (14 by default)].",
)
@click.option(
    "--buffer", default=None, help="Drop chips closer than this to another split [one chip]."
)
@click.option("--val", type=float, default=None, help="Validation share [0.15].")
@click.option("--test", type=float, default=None, help="Test share [0.15].")
@click.option("--seed", type=int, default=None, help="Seed of the split and random sampling [0].")
@click.option(
    "--pixel-grid",
    is_flag=True,
    default=None,
    help="Read rasters without a CRS (e.g. TIFFs) on their pixel grid; JPEG/PNG always are.",
)
@config_option
@overwrite_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
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
    from terralearn.cli.render import print_store_summary
    from terralearn.config import build_config, load_yaml
    from terralearn.store import PrepareConfig, open_store
    from terralearn.store import prepare as run_prepare

    options["pixel_grid"] = options.get("pixel_grid") or None  # unset: the config file decides
    file_values = load_yaml(config_path) if config_path else {}
    if "earthengine" in file_values:  # fetch (or read from the cache) the EE inputs first
        from terralearn.io.earthengine import expand_prepare_values

        file_values = expand_prepare_values(file_values, progress=not quiet)
    config = build_config(
        PrepareConfig,
        file_values,
        images=list(images) or None,
        labels=list(labels) or None,
        out=out,
        bands=[b.strip() for b in bands.split(",")] if bands else None,
        **options,
    )
    path = run_prepare(config, overwrite=overwrite, progress=not quiet)
    print_store_summary(open_store(path))
