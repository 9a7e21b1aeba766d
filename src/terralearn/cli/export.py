"""``terralearn export``: a chip store as TFRecord shards or a plain Zarr group."""

from __future__ import annotations

import click

from terralearn.cli.options import overwrite_option


@click.command()
@click.argument("store")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tfrecord", "zarr"]),
    default="tfrecord",
    show_default=True,
    help="tfrecord: tf.train.Example shards (no TensorFlow needed); zarr: one plain Zarr group.",
)
@click.option("--out", required=True, help="Output folder (TFRecord) or .zarr folder.")
@click.option("--shards", type=int, default=1, show_default=True, help="TFRecord files per split.")
@overwrite_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def export(store: str, fmt: str, out: str, shards: int, overwrite: bool, quiet: bool) -> None:
    """Export the chip STORE for other frameworks (TensorFlow/Keras, any Zarr reader)."""
    from terralearn.export import export_store

    path = export_store(store, out, fmt, shards=shards, overwrite=overwrite, progress=not quiet)
    click.echo(f"wrote {fmt} export to {path}")
