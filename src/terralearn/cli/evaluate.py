"""``terralearn evaluate``: scores of a run on a split of a chip store."""

from __future__ import annotations

import click


@click.command()
@click.argument("run")
@click.argument("store")
@click.option(
    "--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True
)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def evaluate(run, store, split, batch_size, quiet) -> None:
    """Evaluate the best model of RUN on a split of STORE (accuracy, IoU, F1, kappa, confusion)."""
    from rich.table import Table

    from terralearn.cli.render import console
    from terralearn.runs.evaluate import evaluate as run_evaluate

    report = run_evaluate(run, store, split=split, batch_size=batch_size, progress=not quiet)
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
    out.print(f"written: {run}/eval/{split}.json, {run}/eval/{split}_confusion.png")


def _score(value: float | None, digits: int = 3) -> str:
    """A score, or a dash when it is undefined (e.g. a class absent from truth and prediction)."""
    return "-" if value is None else f"{value:.{digits}f}"
