"""``terralearn attention``: where a trained ViT looks for one location of an image."""

from __future__ import annotations

from pathlib import Path

import click

from terralearn._fs import check_output
from terralearn.artifacts import RunDir
from terralearn.attention import attention_maps, plot_attention, write_attention_geotiff
from terralearn.cli.options import (
    checkpoint_option,
    defaults_from,
    described,
    device_option,
    overwrite_option,
)
from terralearn.cli.render import print_mapping
from terralearn.errors import ConfigError

option = defaults_from(attention_maps)

SUFFIXES = {".png": "figure", ".tif": "geotiff", ".tiff": "geotiff"}


@click.command()
@click.argument("run")
@click.argument("image")
@click.option(
    "--at",
    nargs=2,
    type=float,
    required=True,
    metavar="X Y",
    help="The location: map coordinates in the image's CRS (pixel column and row with --pixel).",
)
@click.option("--pixel", is_flag=True, help="--at gives a pixel column and row (0-based).")
@described(
    "--out",
    "outputs",
    multiple=True,
    describe="RUN/figures/attention_c<col>_r<row>.png",
    help="A .png figure and/or a .tif GeoTIFF of the maps (repeatable).",
)
@option(
    "--window",
    type=int,
    describe="32 patches",
    help="Side in pixels of the window the model sees around the point.",
)
@option(
    "--head-fusion",
    type=click.Choice(["mean", "max", "min"]),
    help="How the heads of a block are combined in the rollout.",
)
@checkpoint_option
@device_option
@overwrite_option
def attention(
    run, image, at, pixel, outputs, window, head_fusion, checkpoint, device, overwrite
) -> None:
    """Attention rollout and last-block head maps of the ViT in RUN for one location of IMAGE."""
    for out in outputs:  # check every output before the model runs
        if Path(out).suffix.lower() not in SUFFIXES:
            raise ConfigError(
                f"--out {out!r} has an unknown suffix; use .png for the figure or .tif for "
                "the GeoTIFF of the maps"
            )
        check_output(out, overwrite, "--out")
    maps = attention_maps(
        run, image, tuple(at), pixel=pixel, window=window, head_fusion=head_fusion,
        which=checkpoint, device=device,
    )  # fmt: skip
    if not outputs:
        folder = RunDir(run).figures
        folder.mkdir(exist_ok=True)
        outputs = (str(folder / f"attention_c{maps.point[1]}_r{maps.point[0]}.png"),)
        overwrite = True  # the default name is derived from the point: recomputing replaces it
    written = []
    for out in outputs:
        if SUFFIXES[Path(out).suffix.lower()] == "geotiff":
            written.append(write_attention_geotiff(maps, out, overwrite))
        else:
            written.append(plot_attention(maps, out))
    row_off, col_off, height, width = maps.window
    qx, qy = maps.map_xy(*maps.query)
    pr, pc = maps.peak()
    px, py = maps.map_xy(pr, pc)
    print_mapping(
        f"attention of {maps.model}",
        {
            "query pixel": f"column {maps.point[1]}, row {maps.point[0]}",
            "query map x, y": f"{qx:.2f}, {qy:.2f}",
            "window": f"{width} x {height} px at column {col_off}, row {row_off}",
            "tokens": f"{maps.grid[1]} x {maps.grid[0]} of {maps.patch_size} px",
            "rollout peak x, y": f"{px:.2f}, {py:.2f} (pixel column {col_off + pc}, "
            f"row {row_off + pr})",
            "written": ", ".join(str(p) for p in written),
        },
    )
