"""``terralearn graph``: GNNs on point data (train, evaluate, predict, compare with baselines)."""

from __future__ import annotations

import functools
import json

import click

from terralearn._fs import check_output
from terralearn._progress import progress_bar
from terralearn.cli.options import (
    DISTANCE,
    DISTANCE_SYNTAX,
    POINT_DISTANCE_SYNTAX,
    defaults_from,
    described,
    overwrite_option,
    quiet_option,
    split_list,
)
from terralearn.errors import ConfigError
from terralearn.geo.distance import Distance
from terralearn.graph.baselines import GNNS, make_estimator
from terralearn.graph.build import GraphSpec
from terralearn.graph.grid import grid_from_bounds, grid_from_raster, predict_grid
from terralearn.graph.points import PointSet, read_points
from terralearn.graph.predictions import evaluate_points, predict_points_file, write_comparison
from terralearn.graph.runs import load_run, train_run
from terralearn.graph.segment_runs import predict_segments, train_segments
from terralearn.graph.validation import cross_validate, format_table
from terralearn.io import open_image
from terralearn.models import create_model, require_kind
from terralearn.models.gnn import sage


def _split(values: tuple[str, ...]) -> list[str]:
    """``--features a,b --features c`` -> ``[a, b, c]``."""
    return split_list(values) or []


def points_options(fn):
    """Options that say how to read a points file."""

    @click.option("--x", "x_col", default=None, help="x / longitude column of a CSV.")
    @click.option("--y", "y_col", default=None, help="y / latitude column of a CSV.")
    @click.option("--crs", default=None, help="CRS of the coordinates (e.g. EPSG:32633).")
    @click.option(
        "--features", multiple=True, help="Numeric feature columns (comma-separated or repeated)."
    )
    @click.option("--merge-duplicates", is_flag=True, help="Average points that share coordinates.")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def gnn_options(trainer):
    """Network and optimisation options of a GNN training function (defaults: its own)."""
    option, network = defaults_from(trainer), defaults_from(sage)

    def decorate(fn):
        for decorator in reversed([
            option("--model", help="gcn, sage or gat."),
            option("--epochs", type=int, help="Training steps (full-graph epochs)."),
            option("--lr", type=float, help="Learning rate of Adam."),
            network("--hidden", type=int, help="Hidden channels."),
            network("--layers", type=int, help="Message-passing layers."),
        ]):  # fmt: skip
            fn = decorator(fn)
        return fn

    return decorate


def validation_options(trainer, items: str, syntax: str, block_default: str):
    """Spatial validation split of a GNN training function, and the run folder to write."""
    option = defaults_from(trainer)

    def decorate(fn):
        for decorator in reversed([
            option("--val", type=float,
                   help=f"Share of {items} (whole blocks) held out for the validation score."),
            option("--block-size", type=DISTANCE, describe=block_default,
                   help=f"Split block side: {syntax}."),
            option("--buffer", type=DISTANCE,
                   help=f"Drop training {items} closer than this to a validation one: {syntax}."),
            option("--seed", type=int, help="Seed of the split and the network."),
            click.option("--out", required=True, type=click.Path(), help="Run folder to write."),
            overwrite_option,
            quiet_option,
        ]):  # fmt: skip
            fn = decorator(fn)
        return fn

    return decorate


def _crs_units(distance: Distance | None, points: PointSet, option: str) -> float | None:
    """A --block-size / --buffer of points in their CRS units."""
    return None if distance is None else distance.crs_units(points.crs, option)


def _pixels(distance: Distance | None, image: str, option: str) -> float | None:
    """A --block-size / --buffer of an image in its pixels (metres need the image's CRS)."""
    if distance is None or distance.unit in (None, "px"):
        return None if distance is None else distance.value
    raster = open_image(image)
    if raster.rio.crs is None:
        raise ConfigError(
            f"{option} {distance.text!r} is in metres, but {image} has no CRS; "
            "give pixels (e.g. 512)"
        )
    return distance.pixels(abs(float(raster.rio.resolution()[0])))


def _read(path, target, features, x_col, y_col, crs, merge, task="auto"):
    return read_points(
        path, target=target, features=_split(features), x=x_col, y=y_col, crs=crs, task=task,
        duplicates="merge" if merge else "error",
    )  # fmt: skip


@click.group()
def graph() -> None:
    """Graph neural networks for points: stations, samples, segments."""


@graph.command()
@click.argument("points", type=click.Path())
@click.option("--target", required=True, help="Column to learn.")
@click.option(
    "--task",
    type=click.Choice(["auto", "regression", "classification"]),
    default="auto",
    show_default=True,
    help="auto: numeric target -> regression, else classification.",
)
@points_options
@gnn_options(train_run)
@defaults_from(train_run)("--graph", "graph_spec", field="graph",
                          help="knn:K, radius:R (CRS units) or delaunay.")  # fmt: skip
@defaults_from(sage)("--pos-frequencies", type=int,
                     help="Frequencies of the sinusoidal coordinate encoding (0: none).")  # fmt: skip
@validation_options(train_run, "points", POINT_DISTANCE_SYNTAX, "about 20 blocks")
def train(
    points, target, task, x_col, y_col, crs, features, merge_duplicates, model, graph_spec,
    epochs, lr, hidden, layers, pos_frequencies, val, block_size, buffer, seed, out, overwrite,
    quiet,
) -> None:  # fmt: skip
    """Train a GNN on POINTS to predict --target; write the run folder --out."""
    check_output(out, overwrite, option="--out")
    spec = GraphSpec.parse(graph_spec)
    require_kind(model, "graph", "terralearn graph train")
    model_kwargs = {"hidden": hidden, "layers": layers, "pos_frequencies": pos_frequencies}
    create_model(model, 1, 1, **model_kwargs)  # option errors before reading anything
    pts = _read(points, target, features, x_col, y_col, crs, merge_duplicates, task)
    block_size = _crs_units(block_size, pts, "--block-size")
    buffer = _crs_units(buffer, pts, "--buffer")
    with progress_bar(epochs, f"training {model}", enabled=not quiet) as bar:
        run, scores = train_run(
            pts, out, model=model, graph=str(spec), epochs=epochs, lr=lr, val=val,
            block_size=block_size, buffer=buffer, seed=seed, model_kwargs=model_kwargs,
            overwrite=overwrite, progress=lambda epoch, loss: bar.advance(),
        )  # fmt: skip
    click.echo(f"trained {model} on {len(pts)} points ({pts.task}, graph {spec})")
    if scores:
        click.echo("validation: " + _format_scores(scores))
    click.echo(f"written: {run}")


def _format_scores(scores: dict) -> str:
    return ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in scores.items()
    )


@graph.command()
@click.argument("run", type=click.Path())
@click.argument("points", type=click.Path())
@described("--target", describe="the run's", help="Target column.")
@points_options
def evaluate(run, points, target, x_col, y_col, crs, features, merge_duplicates) -> None:
    """Score the model of RUN on the target column of POINTS."""
    loaded = load_run(run)
    feats = features or tuple(loaded.feature_names)
    task = loaded.config["task"]
    pts = _read(points, target or loaded.target, feats, x_col, y_col, crs, merge_duplicates, task)
    scores = evaluate_points(loaded, pts)
    click.echo(f"evaluated {len(pts)} points: " + _format_scores(scores))


@graph.command()
@click.argument("run", type=click.Path())
@click.argument("paths", nargs=-1, required=True)
@click.option("--grid", "grid_ref", type=click.Path(), default=None,
              help="Predict on the grid of this raster (its bands are the features, if any).")  # fmt: skip
@click.option("--bounds", type=float, nargs=4, default=None,
              help="minx miny maxx maxy of a grid to predict (with --resolution).")  # fmt: skip
@click.option("--resolution", type=float, default=None, help="Cell size of the --bounds grid.")
@click.option("--crs", default=None, help="CRS of --bounds (default: the run's) or of POINTS.")
@click.option("--x", "x_col", default=None, help="x / longitude column of a CSV.")
@click.option("--y", "y_col", default=None, help="y / latitude column of a CSV.")
@overwrite_option
def predict(run, paths, grid_ref, bounds, resolution, crs, x_col, y_col, overwrite) -> None:
    """Predict with RUN at POINTS (-> a table with a `prediction` column) or on a grid.

    \b
    terralearn graph predict RUN POINTS OUTPUT          (.csv, .gpkg, .geojson, .parquet)
    terralearn graph predict RUN --grid REF.tif OUTPUT.tif
    terralearn graph predict RUN --bounds MINX MINY MAXX MAXY --resolution R OUTPUT.tif
    """
    on_grid = grid_ref is not None or bounds is not None
    if on_grid and len(paths) != 1:
        raise ConfigError("with --grid or --bounds give only OUTPUT after RUN")
    if not on_grid and len(paths) != 2:
        raise ConfigError(
            "give POINTS and OUTPUT after RUN, or --grid REF.tif / --bounds with OUTPUT"
        )
    if grid_ref is not None and bounds is not None:
        raise ConfigError("give either --grid or --bounds, not both")
    if bounds is not None and resolution is None:
        raise ConfigError("--bounds needs --resolution (cell size in CRS units)")
    loaded = load_run(run)
    if on_grid:
        check_output(paths[0], overwrite)
        if grid_ref is not None:
            grid = grid_from_raster(grid_ref, with_bands=bool(loaded.feature_names))
        else:
            if crs is None and loaded.crs is None:
                raise ConfigError("--bounds needs --crs: the run's points have no CRS")
            grid = grid_from_bounds(bounds, resolution, crs or loaded.crs)
        out = predict_grid(loaded.learner, grid, loaded.crs, paths[0], loaded.classes, overwrite)
        click.echo(f"predicted {grid.height} x {grid.width} cells")
        click.echo(f"written: {out}")
        return
    out = predict_points_file(loaded, paths[0], paths[1], x_col, y_col, crs, overwrite)
    click.echo(f"written: {out}")


@graph.command()
@click.argument("points", type=click.Path())
@click.option("--target", required=True, help="Column to predict.")
@click.option("--task", type=click.Choice(["auto", "regression", "classification"]),
              default="auto", show_default=True)  # fmt: skip
@points_options
@click.option("--methods", default="sage,idw,kriging,rf", show_default=True,
              help="Comma-separated: gcn, sage, gat, idw, kriging, rf.")  # fmt: skip
@defaults_from(train_run)("--graph", "graph_spec", field="graph", help="Graph of the GNNs.")
@defaults_from(train_run)("--epochs", type=int, help="GNN training steps.")
@defaults_from(cross_validate)("--folds", type=int, help="Spatial folds.")
@defaults_from(cross_validate)(
    "--block-size", type=DISTANCE, describe="about 4 blocks per fold",
    help=f"Fold block side: {POINT_DISTANCE_SYNTAX}.",
)  # fmt: skip
@defaults_from(cross_validate)(
    "--buffer", type=DISTANCE,
    help=f"Drop training points closer than this to a test point: {POINT_DISTANCE_SYNTAX}.",
)  # fmt: skip
@defaults_from(cross_validate)("--seed", type=int, help="Seed of the folds and the GNNs.")
@click.option("--out", type=click.Path(), default=None,
              help="Folder for compare.csv (per fold) and residuals.png.")  # fmt: skip
@overwrite_option
def compare(
    points, target, task, x_col, y_col, crs, features, merge_duplicates, methods, graph_spec,
    epochs, folds, block_size, buffer, seed, out, overwrite,
) -> None:  # fmt: skip
    """Spatial block cross-validation of GNNs and baselines on POINTS: a table and a map."""
    names = _split((methods,))
    spec = GraphSpec.parse(graph_spec)
    for name in names:
        make_estimator(name)  # unknown names fail before any work
    if out is not None:
        check_output(out, overwrite, option="--out")
    pts = _read(points, target, features, x_col, y_col, crs, merge_duplicates, task)
    if pts.task == "classification" and "kriging" in names:
        raise ConfigError("kriging interpolates numbers; drop it from --methods for a class target")
    block_size = _crs_units(block_size, pts, "--block-size")
    buffer = _crs_units(buffer, pts, "--buffer")

    def factory(name):
        options = {"graph": spec, "epochs": epochs, "seed": seed} if name in GNNS else {}
        return lambda: make_estimator(name, pts.task, **options)

    result = cross_validate(
        pts, {n: factory(n) for n in names}, folds=folds, block_size=block_size, buffer=buffer,
        seed=seed,
        on_result=lambda row: click.echo(
            f"fold {row['fold']} {row['method']}: "
            + _format_scores({k: v for k, v in row.items() if k not in ("fold", "method")}),
            err=True,
        ),
    )  # fmt: skip
    click.echo(format_table(result.summary()))
    if out is not None:
        write_comparison(result, pts, out, overwrite)
        click.echo(f"written: {out}")


@graph.command("segments")
@click.argument("image", type=click.Path())
@click.option("--labels", required=True, type=click.Path(),
              help="Label raster or polygons; put on the image grid like `terralearn prepare`.")  # fmt: skip
@click.option("--class-column", default=None, help="Attribute holding the class of each polygon.")
@click.option("--bands", default=None, help="Comma-separated band names to use, in order.")
@defaults_from(train_segments)(
    "--n-segments", type=int, describe="valid pixels / --segment-size",
    help="Approximate number of SLIC segments.",
)  # fmt: skip
@defaults_from(train_segments)(
    "--segment-size", field="pixels_per_segment", type=float,
    help="Average pixels per segment (without --n-segments).",
)  # fmt: skip
@defaults_from(train_segments)(
    "--compactness", type=float,
    help="SLIC colour/space trade-off on standardised bands (higher: squarer).",
)  # fmt: skip
@gnn_options(train_segments)
@click.option("--dropout", type=float, default=0.2, show_default=True,
              help="Dropout between the layers.")  # fmt: skip
@validation_options(train_segments, "segments", DISTANCE_SYNTAX, "a fifth of the longer image side")
def segments(
    image, labels, class_column, bands, n_segments, segment_size, compactness, model, epochs, lr,
    hidden, layers, dropout, val, block_size, buffer, seed, out, overwrite, quiet,
) -> None:  # fmt: skip
    """Train a GNN to classify SLIC segments of IMAGE (object-based image analysis).

    Segments are nodes (band means and standard deviations), adjacent segments are joined;
    a segment's class is the majority of its labelled pixels. Predict with
    `terralearn graph segments-predict RUN IMAGE OUTPUT.tif`.
    """
    check_output(out, overwrite, option="--out")
    require_kind(model, "graph", "terralearn graph segments")
    model_kwargs = {"hidden": hidden, "layers": layers, "dropout": dropout}
    create_model(model, 1, 1, **model_kwargs)  # option errors before reading anything
    block_size = _pixels(block_size, image, "--block-size")
    buffer = _pixels(buffer, image, "--buffer")
    with progress_bar(epochs, f"training {model}", enabled=not quiet) as bar:
        run, scores = train_segments(
            image, labels, out, bands=_split((bands,)) if bands else None,
            class_column=class_column, n_segments=n_segments, pixels_per_segment=segment_size,
            compactness=compactness, model=model, epochs=epochs, lr=lr,
            model_kwargs=model_kwargs, val=val, block_size=block_size, buffer=buffer, seed=seed,
            overwrite=overwrite, progress=lambda epoch, loss: bar.advance(),
        )  # fmt: skip
    info = json.loads((run / "run.json").read_text())["segments"]
    click.echo(f"trained {model} on {info['count']:,} segments ({info['edges'] // 2:,} edges)")
    if scores:
        click.echo(
            "validation (pixels): "
            + _format_scores({k: v for k, v in scores.items() if k != "per_class"})
        )
    click.echo(f"written: {run}")


@graph.command("segments-predict")
@click.argument("run", type=click.Path())
@click.argument("image", type=click.Path())
@click.argument("output", type=click.Path())
@overwrite_option
def segments_predict(run, image, output, overwrite) -> None:
    """Segment IMAGE like RUN's training image, classify every segment, write OUTPUT.tif.

    OUTPUT is a class GeoTIFF on the grid of IMAGE (uint8, nodata 255, colour table).
    """
    result = predict_segments(run, image, output, overwrite=overwrite)
    click.echo(f"predicted {result.num_segments:,} segments in {result.seconds:.1f} s")
    click.echo(f"written: {result.path}")
