"""``terralearn assess``: accuracy and error-adjusted area of a class map from labelled points."""

from __future__ import annotations

import click
from rich import box
from rich.table import Table

from terralearn._fs import check_output
from terralearn.accuracy.assess import assess_map, write_report
from terralearn.cli.options import defaults_from, overwrite_option
from terralearn.cli.render import console


@click.command(
    short_help="Accuracy and error-adjusted class areas of a class MAP from labelled points."
)
@click.argument("map_path", metavar="MAP")
@click.option("--reference", "reference", required=True, help="Labelled points (.gpkg, ...).")
@defaults_from(assess_map)(
    "--reference-column",
    help="Column with the reference class (name or code) of each point.",
)
@click.option("--out", "out", default=None, help="Folder for area.json, area.csv, area.png.")
@overwrite_option
def assess(
    map_path: str, reference: str, reference_column: str, out: str | None, overwrite: bool
) -> None:
    """Estimate the accuracy of the class MAP and the area of each class from reference points,
    with 95 % confidence intervals (stratified estimator, Olofsson et al. 2014).

    \b
    Strata are the map classes: each point's stratum is the map class at the point, and the
    stratum weights are the map's pixel counts. Points from terralearn sample fit this exactly.
    Other points are post-stratified by the map class at the points: valid when they are a
    simple random sample or random within each map class (not for clustered or hand-picked
    points). Areas are in hectares for maps in metres, in the CRS unit squared otherwise, and in
    pixels for maps without a CRS.
    """
    if out is not None:
        check_output(out, overwrite, option="--out")
    result = assess_map(map_path, reference, reference_column=reference_column)
    e, unit, names = result.estimate, result.unit, list(result.classes.values())
    if result.from_sample:
        click.echo(
            f"{result.n_points} points; strata = map classes (points from terralearn sample)"
        )
    else:
        click.echo(
            f"{result.n_points} points not from terralearn sample: post-stratified by the map class "
            "at each point (valid for a simple random sample or one random within map classes)"
        )
    if result.unlabelled:
        click.echo(f"skipped {result.unlabelled} point(s) with an empty {reference_column!r}")

    def pm(value: float, ci: float, fmt: str) -> str:
        return "-" if value != value else f"{value:{fmt}} ± {ci:{fmt}}"

    table = Table(
        title=f"area and accuracy of {map_path} ({unit}, ± 95 % CI)", title_justify="left"
    )
    for column in ("class", "points", "mapped", "adjusted area", "user's", "producer's"):
        table.add_column(column, justify="left" if column == "class" else "right")
    area_fmt = ",.0f" if unit in ("ha", "pixels") else ",.4g"
    for i, name in enumerate(names):
        table.add_row(
            name, str(int(e.counts[i].sum())), f"{e.mapped_area[i]:{area_fmt}}",
            pm(e.area[i], e.area_ci95[i], area_fmt), pm(e.users[i], e.users_ci95[i], ".3f"),
            pm(e.producers[i], e.producers_ci95[i], ".3f"),
        )  # fmt: skip
    console().print(table)
    matrix = Table(
        title="error matrix, estimated area proportions (rows map, columns reference code)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    matrix.add_column("map \\ ref.", no_wrap=True, max_width=18)
    for code in [*result.classes, "total"]:  # codes keep the columns narrow
        matrix.add_column(str(code), justify="right", no_wrap=True, min_width=5)
    p = e.proportions
    for (code, name), row in zip(result.classes.items(), p, strict=True):
        matrix.add_row(f"{code} {name}", *(f"{v:.3f}" for v in row), f"{row.sum():.3f}")
    matrix.add_row("total", *(f"{v:.3f}" for v in p.sum(axis=0)), f"{p.sum():.3f}")
    console().print(matrix)
    click.echo(f"overall accuracy {e.overall:.3f} ± {e.overall_ci95:.3f}")
    if out is not None:
        write_report(result, out, overwrite=overwrite)
        click.echo(f"wrote {out}: area.json, area.csv, error_matrix.csv, area.png")
