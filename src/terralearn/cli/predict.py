"""``terralearn predict``: a class map of a raster of any size from a trained run."""

from __future__ import annotations

import click

from terralearn.cli.options import (
    checkpoint_option,
    defaults_from,
    device_option,
    overwrite_option,
    quiet_option,
)
from terralearn.predict import predict_raster
from terralearn.predict.model import load_predictor
from terralearn.predict.windows import BLENDS, CROP_OVERLAP, CROP_TILE_SIZE, check_tiling
from terralearn.predict.writers import output_paths

option = defaults_from(predict_raster)


@click.command()
@click.argument("run", type=click.Path())
@click.argument("image", type=click.Path())
@click.argument("output", type=click.Path())
@option(
    "--tile-size",
    type=int,
    describe="as large as 1.25 GB of the network's activations allow (unet_small 1792, unet "
    f"1280, else {CROP_TILE_SIZE}); with --blend smooth 512, or 4x the training chip size",
    help="Tile side in pixels.",
)
@option(
    "--overlap",
    type=int,
    describe=f"{CROP_OVERLAP} (a {CROP_OVERLAP // 2} px margin around each tile's core); with "
    "--blend smooth the model's receptive field, at most a quarter of the tile",
    help="Pixels shared by neighbouring tiles.",
)
@option(
    "--batch-size", type=int, describe="about a megapixel of tiles", help="Tiles per forward pass."
)
@option(
    "--blend",
    type=click.Choice(BLENDS),
    describe="crop; smooth for models with global attention (ViTs)",
    help="crop: each pixel from the one tile whose core holds it; smooth: cross-fade over the "
    "overlap; constant: cut at the middle of the overlap.",
)
@click.option("--tta", is_flag=True, help="Test-time augmentation: mean of the 8 rotations/flips.")
@click.option(
    "--probabilities",
    is_flag=True,
    help="Also write per-class probabilities (NAME_probabilities.tif).",
)
@click.option(
    "--uncertainty",
    is_flag=True,
    help="Also write the entropy of the mean prediction (NAME_uncertainty.tif).",
)
@click.option("--vectorize", is_flag=True, help="Also write class polygons to NAME.gpkg.")
@click.option(
    "--pixel-grid",
    is_flag=True,
    help="Read an IMAGE without a CRS (e.g. a TIFF) on its pixel grid; JPEG/PNG always are.",
)
@option(
    "--write",
    "write",
    type=click.Choice(["codes", "indices"]),
    help="Class values in OUTPUT: the label codes of the training labels (e.g. NLCD 11..95; "
    "uint16 above 254) or the model's class indices 0..K-1.",
)
@option(
    "--min-area",
    type=float,
    help="Smallest polygon kept by --vectorize, in square CRS units.",
)
@option(
    "--dask",
    "dask_spec",
    field="dask",
    describe="tiles predicted in this process",
    metavar="local:N|ADDRESS",
    help="Predict on Dask workers (N local processes or a scheduler address): each worker "
    "reads IMAGE (a path it can see, or a URL) and writes its parts of OUTPUT itself.",
)
@option(
    "--dask-timeout",
    type=float,
    metavar="SECONDS",
    help="How long to wait for the scheduler at --dask ADDRESS.",
)
@device_option
@checkpoint_option
@overwrite_option
@quiet_option
def predict(
    run, image, output, tile_size, overlap, batch_size, blend, tta, probabilities, uncertainty,
    vectorize, write, min_area, dask_spec, dask_timeout, device, checkpoint, overwrite, quiet,
    pixel_grid,
) -> None:  # fmt: skip
    """Predict IMAGE with the model of RUN and write OUTPUT (.tif COG, .zarr or .png).

    The raster is streamed tile by tile (memory does not grow with its size) and overlapping
    tiles are blended; OUTPUT has the input's CRS, transform and size, the label codes the
    model was trained on (or its class indices with --write indices), nodata (255, or 65535
    for uint16 codes) where the input has no valid value, a colour table and the class names
    (tags, and GDAL category names in OUTPUT.aux.xml for QGIS). A picture without a CRS
    (JPEG, PNG) is predicted on its pixel grid: OUTPUT.png is the class map in the class
    colours (RGB, black where nodata), OUTPUT.tif a class map without a CRS.
    """
    # cheap checks first: no model is loaded for a wrong extension or overlap
    output_paths(output, probabilities, uncertainty, vectorize)
    if tile_size is not None and overlap is not None:
        check_tiling(tile_size, overlap)
    model = load_predictor(run, checkpoint) if checkpoint != "best" else run
    result = predict_raster(
        model, image, output, tile_size=tile_size, overlap=overlap, batch_size=batch_size,
        tta=tta, probabilities=probabilities, uncertainty=uncertainty, vectorize=vectorize,
        min_area=min_area, blend=blend, dask=dask_spec, dask_timeout=dask_timeout,
        overwrite=overwrite, progress=not quiet, device=device,
        pixel_grid=pixel_grid, write=write,
    )  # fmt: skip
    mpx = result.height * result.width / 1e6
    click.echo(  # plain lines (no wrapping): scripts read the paths
        f"predicted {result.height} x {result.width} px ({mpx:.2f} Mpx) in {result.tiles} tiles "
        f"of {result.tile_size} px, overlap {result.overlap} ({result.blend}), "
        f"{result.seconds:.1f} s "
        f"({mpx / max(result.seconds, 1e-9):.2f} Mpx/s)"
    )
    for kind, path in result.paths.items():
        click.echo(f"written: {path} ({kind})")
