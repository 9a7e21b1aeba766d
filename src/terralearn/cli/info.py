"""``terralearn info``: describe an image or a chip store."""

from __future__ import annotations

import json

import click

from terralearn.cli.render import print_mapping, print_store_summary
from terralearn.io import describe_image, open_image
from terralearn.store import is_store, open_store


@click.command()
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(path: str, as_json: bool) -> None:
    """Describe PATH: a raster (GeoTIFF, Zarr, NetCDF) or a chip store."""
    if is_store(path):
        store = open_store(path)
        if as_json:
            click.echo(json.dumps(store.describe(), indent=2))
        else:
            print_store_summary(store)
        return
    description = describe_image(open_image(path))
    if as_json:
        click.echo(json.dumps(description, indent=2, default=str))
    else:
        print_mapping(f"image {path}", description)
