"""``terralearn demo``: the end-to-end job on shipped code and data, offline."""

from __future__ import annotations

import click

from terralearn.cli.options import defaults_from, seed_option
from terralearn.cli.render import console, print_mapping
from terralearn.demo import run_demo

option = defaults_from(run_demo)


@click.command()
@option("--out", help="Folder for everything the demo writes.")
@click.option(
    "--full", is_flag=True, help="A larger scene and longer training (benchmark quality, ~15 min)."
)
@seed_option(run_demo)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(out: str, full: bool, seed: int, quiet: bool) -> None:
    """Synthesize a scene, prepare chips, train a U-Net, evaluate, predict, and write a report."""
    result = run_demo(out, full=full, seed=seed, progress=not quiet)
    print_mapping(
        "terralearn demo: done",
        {
            "report (open in a browser)": result["report"],
            "prediction (COG, opens in QGIS)": result["prediction"],
            "run directory": result["run"],
            "chip store": result["store"],
            "test mean IoU": f"{result['test_mean_iou']:.3f}",
            "test overall accuracy": f"{result['test_overall_accuracy']:.3f}",
            "true area in the 95 % CI": _truth_in_ci(result["area_truth_in_ci95"]),
            "seconds per step": ", ".join(f"{k} {v}" for k, v in result["seconds"].items()),
        },
    )
    console().print(f"Open [bold]{result['report']}[/bold] to see the maps and scores.")


def _truth_in_ci(inside: dict[str, bool] | None) -> str:
    if inside is None:
        return "area section skipped (see the report)"
    missed = [name for name, ok in inside.items() if not ok]
    return f"{len(inside) - len(missed)} of {len(inside)} classes" + (
        f" (not: {', '.join(missed)})" if missed else ""
    )
