"""``terralearn export``: a chip store as TFRecord shards or a plain Zarr group."""

from __future__ import annotations

import click

from terralearn.cli.options import defaults_from, overwrite_option, quiet_option
from terralearn.export import export_store

option = defaults_from(export_store)


@click.command()
@click.argument("store")
@option(
    "--format",
    "fmt",
    field="format",
    type=click.Choice(["tfrecord", "zarr"]),
    help="tfrecord: tf.train.Example shards (no TensorFlow needed); zarr: one plain Zarr group.",
)
@click.option("--out", required=True, help="Output folder (TFRecord) or .zarr folder.")
@option("--shards", type=int, help="TFRecord files per split.")
@overwrite_option
@quiet_option
def export(store: str, fmt: str, out: str, shards: int, overwrite: bool, quiet: bool) -> None:
    """Export the chip STORE for other frameworks (TensorFlow/Keras, any Zarr reader)."""
    path = export_store(store, out, fmt, shards=shards, overwrite=overwrite, progress=not quiet)
    click.echo(f"wrote {fmt} export to {path}")
