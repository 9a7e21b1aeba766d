"""``terralearn evaluate``: scores of a run on a split of a chip store."""

from __future__ import annotations

import click
from rich.table import Table

from terralearn.cli.options import defaults_from, device_option, quiet_option
from terralearn.cli.render import console
from terralearn.runs.evaluate import evaluate as run_evaluate

option = defaults_from(run_evaluate)


@click.command()
@click.argument("run")
@click.argument("store")
@option("--split", type=click.Choice(["train", "val", "test"]), help="Split of STORE to score.")
@option("--batch-size", type=int, help="Chips per forward pass.")
@device_option
@quiet_option
def evaluate(run, store, split, batch_size, device, quiet) -> None:
    """Evaluate the best model of RUN on a split of STORE (accuracy, IoU, F1, kappa, confusion)."""
    report = run_evaluate(
        run, store, split=split, batch_size=batch_size, progress=not quiet, device=device
    )
    table = Table(title=f"{split} split: {report['chips']} chips", title_justify="left")
    for column in ("class", "IoU", "F1", "precision", "recall", "pixels"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, scores in report["per_class"].items():
        table.add_row(
            name,
            *(_score(scores[k]) for k in ("iou", "f1", "precision", "recall")),
            f"{scores['support']:,}",
        )
    out = console()
    out.print(table)
    out.print(
        f"overall accuracy {_score(report['overall_accuracy'], 4)}   "
        f"mean IoU {_score(report['mean_iou'], 4)}   kappa {_score(report['kappa'], 4)}"
    )
    out.print(f"device: {report['device']}")
    out.print(f"written: {run}/eval/{split}.json, {run}/eval/{split}_confusion.png")


def _score(value: float | None, digits: int = 3) -> str:
    """A score, or a dash when it is undefined (e.g. a class absent from truth and prediction)."""
    return "-" if value is None else f"{value:.{digits}f}"
