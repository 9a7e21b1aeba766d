"""Option decorators shared by several commands."""

from __future__ import annotations

import click

overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace the output if it already exists."
)
config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML file with options; command-line options override it.",
)
