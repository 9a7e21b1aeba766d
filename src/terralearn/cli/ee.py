"""``terralearn ee``: Earth Engine composites and labels, fetched through xee into a cache."""

from __future__ import annotations

import os

import click

from terralearn.cli.options import (
    config_option,
    defaults_from,
    overwrite_option,
    quiet_option,
)
from terralearn.cli.prepare import AUTO_CHIP_SIZE
from terralearn.cli.render import print_store_summary
from terralearn.config import build_config, load_yaml
from terralearn.io.earthengine import EarthEngineSource, expand_prepare_values, write_prepare_inputs
from terralearn.io.earthengine import fetch as run_fetch
from terralearn.store import PrepareConfig, open_store
from terralearn.store import prepare as run_prepare

option = defaults_from(EarthEngineSource)

_SOURCE_OPTIONS = [
    option("--region", help="minx,miny,maxx,maxy (lon/lat) or a GeoJSON file."),
    option("--start", help="First date, YYYY-MM-DD."),
    option("--end", help="End date (exclusive), YYYY-MM-DD."),
    option("--collection", help="Image collection."),
    option("--bands", help="Comma-separated bands."),
    option("--scale", type=float, help="Pixel size in CRS units."),
    option("--crs", describe="UTM zone of the region", help="Output CRS."),
    option("--cloud-mask", type=click.Choice(["scl", "qa60", "none"]), help="Cloud mask."),
    option("--reducer", help="median or a percentile p<k>."),
    option("--max-cloud", type=float, help="Max scene cloud percentage."),
    option(
        "--labels",
        type=click.Choice(["dynamic_world", "worldcover", "none"]),
        help="Label product on the same grid.",
    ),
    option(
        "--project", describe="$EARTHENGINE_PROJECT", help="Google Cloud project for ee.Initialize."
    ),
    option("--cache", help="Zarr cache folder."),
    option("--tile", type=int, help="Request tile side in pixels."),
    option("--retries", type=int, help="Quota (429) retries per tile."),
]


def source_options(func):
    for decorator in reversed(_SOURCE_OPTIONS):
        func = decorator(func)
    return func


def _source(section: dict, options: dict) -> EarthEngineSource:
    """The request: the config's ``earthengine:`` section, overridden by the options given."""
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
@quiet_option
def fetch(config_path, quiet, **options) -> None:
    """Fetch a Sentinel-2 composite (and labels) into the cache; print the file paths."""
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
@defaults_from(PrepareConfig)(
    "--chip-size", type=int, describe=AUTO_CHIP_SIZE, help="Chip size in pixels."
)
@config_option
@overwrite_option
@quiet_option
def prepare(config_path, out, chip_size, overwrite, quiet, **options) -> None:
    """Fetch from Earth Engine and cut a chip store (other prepare keys from --config)."""
    values = dict(load_yaml(config_path)) if config_path else {}
    source = _source(values.get("earthengine", {}), options)
    values["earthengine"] = {k: v for k, v in vars(source).items()}
    values = expand_prepare_values(values, progress=not quiet)
    config = build_config(PrepareConfig, values, out=out, chip_size=chip_size)
    print_store_summary(open_store(run_prepare(config, overwrite=overwrite, progress=not quiet)))
