"""Entry point of the ``terralearn`` command.

Commands are imported only when invoked, so ``terralearn --help`` and light commands stay fast
(torch and Lightning load only for the commands that need them).
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from terralearn.errors import TerralearnError

# command name -> "module:function"; each module is a thin layer over the library.
COMMANDS: dict[str, str] = {
    "predict": "terralearn.cli.predict:predict",
    "info": "terralearn.cli.info:info",
    "prepare": "terralearn.cli.prepare:prepare",
    "synth": "terralearn.cli.synth:synth",
    "train": "terralearn.cli.train:train",
    "evaluate": "terralearn.cli.evaluate:evaluate",
    "models": "terralearn.cli.models:models",
    "demo": "terralearn.cli.demo:demo",
    "graph": "terralearn.cli.graph:graph",
    "attention": "terralearn.cli.attention:attention",
    "export": "terralearn.cli.export:export",
    "ee": "terralearn.cli.ee:ee",
    "export-model": "terralearn.cli.export_model:export_model",
    "pretrain": "terralearn.cli.pretrain:pretrain",
    "stack": "terralearn.cli.stack:stack",
    "sample": "terralearn.cli.sample:sample",
    "assess": "terralearn.cli.assess:assess",
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

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
