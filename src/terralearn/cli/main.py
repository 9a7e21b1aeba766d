"""Entry point of the ``terralearn`` command.

Commands are imported only when invoked, so ``terralearn --help`` and light commands stay fast
(torch and Lightning load only for the commands that need them).
"""

from __future__ import annotations

import importlib
import logging
import sys

import click
from click.utils import make_default_short_help

from terralearn import _memory
from terralearn.errors import TerralearnError

# command name -> ("module:function", one-line summary). The summaries make `terralearn --help`
# without importing any command (the modules import the library, torch included, at their top);
# tests/cli/test_cli_main.py checks that each equals its command's short help.
COMMANDS: dict[str, tuple[str, str]] = {
    "assess": (
        "terralearn.cli.assess:assess",
        "Accuracy and error-adjusted class areas of a class MAP from labelled points.",
    ),
    "attention": (
        "terralearn.cli.attention:attention",
        "Attention rollout and last-block head maps of the ViT in RUN for one location of IMAGE.",
    ),
    "demo": (
        "terralearn.cli.demo:demo",
        "Synthesize a scene, prepare chips, train a U-Net, evaluate, predict, and write a report.",
    ),
    "ee": (
        "terralearn.cli.ee:ee",
        "Earth Engine (through xee): fetch composites and labels, or prepare a chip store.",
    ),
    "evaluate": (
        "terralearn.cli.evaluate:evaluate",
        "Evaluate the best model of RUN on a split of STORE (accuracy, IoU, F1, kappa, confusion).",
    ),
    "export": (
        "terralearn.cli.export:export",
        "Export the chip STORE for other frameworks (TensorFlow/Keras, any Zarr reader).",
    ),
    "export-model": (
        "terralearn.cli.export_model:export_model",
        "Export the model of RUN to OUT (e.g. model.onnx), checked against PyTorch.",
    ),
    "graph": (
        "terralearn.cli.graph:graph",
        "Graph neural networks for points: stations, samples, segments.",
    ),
    "info": (
        "terralearn.cli.info:info",
        "Describe PATH: a raster (GeoTIFF, Zarr, NetCDF) or a chip store.",
    ),
    "models": ("terralearn.cli.models:models", "List the models that --model accepts."),
    "predict": (
        "terralearn.cli.predict:predict",
        "Predict IMAGE with the model of RUN and write OUTPUT (.tif COG, .zarr or .png).",
    ),
    "prepare": (
        "terralearn.cli.prepare:prepare",
        "Cut IMAGE(s) and their labels into chips with a spatial train/val/test split.",
    ),
    "pretrain": (
        "terralearn.cli.pretrain:pretrain",
        "Pretrain an encoder on chips of unlabelled IMAGES (rasters or chip stores).",
    ),
    "sample": (
        "terralearn.cli.sample:sample",
        "A stratified random sample of a class MAP, to label and assess.",
    ),
    "stack": (
        "terralearn.cli.stack:stack",
        "Stack one-band FILES as the bands of one image (a GDAL VRT; no pixels copied).",
    ),
    "synth": (
        "terralearn.cli.synth:synth",
        "Write a SYNTHETIC Sentinel-2-like scene OUT and its exact land-cover LABELS.",
    ),
    "train": (
        "terralearn.cli.train:train",
        "Train a segmentation model on the chip STORE; writes a run directory.",
    ),
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help`` from :data:`COMMANDS`, without importing a command."""
        width = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [(name, make_default_short_help(COMMANDS[name][1], width)) for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TerralearnError as exc:
            # A user mistake: one line, no traceback, exit 2.
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(2)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="terralearn")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """terralearn: deep learning on geospatial data."""
    _memory.enable_for_cli()  # the command keeps freed memory for reuse (library calls do not)
    # terralearn's own log lines at INFO (e.g. "reprojecting labels"); other libraries stay quiet
    # unless -vv. Lightning's start-up banners (GPU available, tips) are not worth a user's time.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    ours = logging.getLogger("terralearn")
    ours.handlers[:] = [handler]
    ours.propagate = False
    ours.setLevel(logging.DEBUG if verbose else logging.INFO)
    # (lightning resets its top-level logger on import, so quiet the children that speak)
    for name in (
        "lightning.pytorch.utilities.rank_zero",
        "lightning.fabric.utilities.rank_zero",
        "lightning.pytorch.accelerators.cuda",
    ):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (``terralearn`` console script)."""
    cli.main(args=argv, prog_name="terralearn", standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
