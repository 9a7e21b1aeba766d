"""``terralearn models``: list the registered models."""

from __future__ import annotations

import click
from rich.table import Table

from terralearn.cli.render import console
from terralearn.models import list_models, model_info


@click.command()
def models() -> None:
    """List the models that --model accepts."""
    table = Table(title="registered models", title_justify="left")
    for column in ("name", "family", "description"):
        table.add_column(column)
    for name in list_models():
        info = model_info(name)
        table.add_row(
            name, str(info.get("family", "")), str(info.get("description", info.get("doc", "")))
        )
    console().print(table)
