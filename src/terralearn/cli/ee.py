"""``terralearn ee``: Earth Engine composites and labels, fetched through xee into a cache."""

from __future__ import annotations

import click

from terralearn.cli.options import config_option, overwrite_option

_SOURCE_OPTIONS = [
    click.option("--region", default=None, help="minx,miny,maxx,maxy (lon/lat) or a GeoJSON file."),
    click.option("--start", default=None, help="First date, YYYY-MM-DD."),
    click.option("--end", default=None, help="End date (exclusive), YYYY-MM-DD."),
    click.option(
        "--collection", default=None, help="Image collection [COPERNICUS/S2_SR_HARMONIZED]."
    ),
    click.option("--bands", default=None, help="Comma-separated bands [B2,B3,B4,B8,B11,B12]."),
    click.option("--scale", type=float, default=None, help="Pixel size in CRS units [10]."),
    click.option("--crs", default=None, help="Output CRS [UTM zone of the region]."),
    click.option(
        "--cloud-mask", type=click.Choice(["scl", "qa60", "none"]), default=None, help="[scl]"
    ),
    click.option("--reducer", default=None, help="median or a percentile p<k> [median]."),
    click.option("--max-cloud", type=float, default=None, help="Max scene cloud percentage [60]."),
    click.option(
        "--labels",
        type=click.Choice(["dynamic_world", "worldcover", "none"]),
        default=None,
        help="Label product on the same grid [dynamic_world].",
    ),
    click.option("--project", default=None, help="Google Cloud project for ee.Initialize."),
    click.option("--cache", default=None, help="Zarr cache folder [.terralearn-ee-cache]."),
    click.option("--tile", type=int, default=None, help="Request tile side in pixels [512]."),
    click.option("--retries", type=int, default=None, help="Quota (429) retries per tile [5]."),
]


def source_options(func):
    for option in reversed(_SOURCE_OPTIONS):
        func = option(func)
    return func


def _source(section: dict, options: dict):
    import os

    from terralearn.io.earthengine import EarthEngineSource

    values = {k: v for k, v in (section or {}).items()}
    values.update({k: v for k, v in options.items() if v is not None})
    values.setdefault("project", os.environ.get("EARTHENGINE_PROJECT"))
    return EarthEngineSource.from_dict(values)


@click.group()
def ee() -> None:
    """Earth Engine (through xee): fetch composites and labels, or prepare a chip store."""


@ee.command()
@source_options
@config_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def fetch(config_path, quiet, **options) -> None:
    """Fetch a Sentinel-2 composite (and labels) into the cache; print the file paths."""
    from terralearn.config import load_yaml
    from terralearn.io.earthengine import fetch as run_fetch
    from terralearn.io.earthengine import write_prepare_inputs

    section = load_yaml(config_path).get("earthengine", {}) if config_path else {}
    source = _source(section, options)
    fetched = run_fetch(source, progress=not quiet)
    image, labels = write_prepare_inputs(fetched, source.cache)
    bands, height, width = fetched.image.shape
    click.echo(f"image: {image} ({bands} bands, {height} x {width} px, {fetched.grid['crs']})")
    if labels:
        click.echo(f"labels: {labels} ({source.labels}, {len(fetched.classes or {})} classes)")


@ee.command()
@source_options
@click.option("--out", required=True, help="Chip store folder to create.")
@click.option("--chip-size", type=int, default=None, help="Chip size in pixels [128].")
@config_option
@overwrite_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def prepare(config_path, out, chip_size, overwrite, quiet, **options) -> None:
    """Fetch from Earth Engine and cut a chip store (other prepare keys from --config)."""
    from terralearn.cli.render import print_store_summary
    from terralearn.config import build_config, load_yaml
    from terralearn.io.earthengine import expand_prepare_values
    from terralearn.store import PrepareConfig, open_store
    from terralearn.store import prepare as run_prepare

    values = dict(load_yaml(config_path)) if config_path else {}
    source = _source(values.get("earthengine", {}), options)
    values["earthengine"] = {k: v for k, v in vars(source).items()}
    values = expand_prepare_values(values, progress=not quiet)
    config = build_config(PrepareConfig, values, out=out, chip_size=chip_size)
    print_store_summary(open_store(run_prepare(config, overwrite=overwrite, progress=not quiet)))
