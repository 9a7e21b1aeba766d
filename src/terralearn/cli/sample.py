"""``terralearn sample``: a stratified random sample of a class map, to label and assess."""

from __future__ import annotations

import click
from rich.table import Table

from terralearn.accuracy.sampling import sample_map
from terralearn.cli.options import defaults_from, overwrite_option, seed_option
from terralearn.cli.render import console

option = defaults_from(sample_map)


@click.command(short_help="A stratified random sample of a class MAP, to label and assess.")
@click.argument("map_path", metavar="MAP")
@click.option(
    "--n", "n", type=int, required=True, help="Total number of points (unused with given counts)."
)
@click.option("--out", "out", required=True, help="Points to write (.gpkg).")
@option(
    "--allocation",
    help="proportional (with --min-per-class), equal, 'name=n,...' or a CSV file of class,n.",
)
@option(
    "--min-per-class",
    type=click.IntRange(min=1),
    help="Fewest points per class with proportional allocation (rare classes).",
)
@seed_option(sample_map)
@click.option(
    "--reference-from",
    default=None,
    help="A reference raster read at the points (reprojected if needed) to fill 'reference'.",
)
@overwrite_option
def sample(
    map_path: str,
    n: int,
    out: str,
    allocation: str,
    min_per_class: int,
    seed: int,
    reference_from: str | None,
    overwrite: bool,
) -> None:
    """Draw a stratified random sample of the class MAP (strata = map classes) for an accuracy
    assessment and area estimate (Olofsson et al. 2014).

    \b
    Writes one point per drawn pixel (pixel centre) with map_code, map_class, stratum and
    inclusion_probability, and an empty 'reference' column: label each point with the true
    class (name or code, e.g. in QGIS from high-resolution imagery), then run
    terralearn assess MAP --reference POINTS.
    Nodata is never sampled; the map is read in strips (any size).
    """
    points, strata, counts = sample_map(
        map_path, out, n, allocation=allocation, min_per_class=min_per_class, seed=seed,
        reference_from=reference_from, overwrite=overwrite,
    )  # fmt: skip
    table = Table(title=f"stratified sample of {map_path}", title_justify="left")
    for column in ("code", "class", "pixels", "points", "inclusion prob."):
        table.add_column(column, justify="left" if column == "class" else "right")
    for code, pixels in zip(strata.codes.tolist(), strata.pixels.tolist(), strict=True):
        table.add_row(
            str(code), strata.classes[code], f"{pixels:,}", f"{counts[code]:,}",
            f"{counts[code] / pixels:.3g}",
        )  # fmt: skip
    console().print(table)
    labelled = int(points["reference"].notna().sum())
    click.echo(
        f"wrote {out}: {len(points)} points (seed {seed}); "
        + (
            f"reference filled at {labelled} points from {reference_from}"
            if reference_from
            else "fill the 'reference' column, then run terralearn assess"
        )
    )
