"""``terralearn synth``: write a synthetic benchmark scene with exact labels."""

from __future__ import annotations

import click

from terralearn.cli.options import defaults_from, overwrite_option, seed_option
from terralearn.datasets.synthetic import make_scene

option = defaults_from(make_scene)


@click.command()
@click.argument("out", type=click.Path(dir_okay=False))
@click.option(
    "--labels",
    "labels",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output label GeoTIFF (uint8 class ids, 255 = no label), same grid as OUT.",
)
@option(
    "--size",
    nargs=2,
    type=int,
    metavar="H W",
    help="Scene height and width in pixels (64 to 100000 each).",
)
@seed_option(make_scene)
@option("--resolution", type=float, help="Pixel size in metres.")
@click.option("--clouds", is_flag=True, help="Add partly transparent clouds and their shadows.")
@click.option(
    "--nodata-edges",
    is_flag=True,
    help="Add slanted nodata strips at the scene edges (0 in OUT, 255 in the labels).",
)
@option(
    "--block-size",
    type=int,
    help="Pixels per side generated at once (memory only; the pixels do not depend on it).",
)
@overwrite_option
def synth(
    out: str,
    labels: str,
    size: tuple[int, int],
    seed: int,
    resolution: float,
    clouds: bool,
    nodata_edges: bool,
    block_size: int,
    overwrite: bool,
) -> None:
    """Write a SYNTHETIC Sentinel-2-like scene OUT and its exact land-cover LABELS.

    The scene is generated, not observed: it is meant for accuracy and speed benchmarks
    where the ground truth must be exact. OUT has 6 bands (B2 B3 B4 B8 B11 B12, surface
    reflectance x 10000, uint16, nodata 0) in EPSG:32633; the labels hold 0 water, 1 forest,
    2 cropland, 3 grassland, 4 bare soil, 5 built-up and 255 no label. Under clouds the label
    stays the ground class. The same --seed gives the same pixels.

    \b
    Example:
      terralearn synth scene.tif --labels labels.tif --size 2048 2048 --seed 1
    """
    info = make_scene(
        out,
        labels,
        size=size,
        seed=seed,
        clouds=clouds,
        nodata_edges=nodata_edges,
        resolution=resolution,
        block_size=block_size,
        overwrite=overwrite,
        progress=True,
    )
    shares = ", ".join(f"{name} {share:.1%}" for name, share in info.class_shares().items())
    click.echo(f"wrote {info.image} and {info.labels} ({info.height} x {info.width} px): {shares}")
