"""``terralearn graph``: GNNs on point data (train, evaluate, predict, compare with baselines)."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from terralearn.cli.options import overwrite_option


def _split(values: tuple[str, ...]) -> list[str]:
    """``--features a,b --features c`` -> ``[a, b, c]``."""
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


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


def gnn_options(epochs: int, lr: float):
    """Network and optimisation options of the GNN training commands (their defaults differ)."""

    def decorate(fn):
        for option in reversed([
            click.option("--model", default="sage", show_default=True, help="gcn, sage or gat."),
            click.option("--epochs", type=int, default=epochs, show_default=True),
            click.option("--lr", type=float, default=lr, show_default=True),
            click.option("--hidden", type=int, default=64, show_default=True),
            click.option("--layers", type=int, default=2, show_default=True),
        ]):  # fmt: skip
            fn = option(fn)
        return fn

    return decorate


def validation_options(items: str, unit: str, block_default: str = ""):
    """Spatial validation split of the GNN training commands, and the run folder to write."""

    def decorate(fn):
        for option in reversed([
            click.option("--val", type=float, default=0.2, show_default=True,
                         help=f"Share of {items} (whole blocks) held out for the validation score."),
            click.option("--block-size", type=float, default=None,
                         help=f"Split block side, {unit}{block_default}."),
            click.option("--buffer", type=float, default=0.0, show_default=True,
                         help=f"Drop training {items} closer than this ({unit}) to a validation one."),
            click.option("--seed", type=int, default=0, show_default=True),
            click.option("--out", required=True, type=click.Path(), help="Run folder to write."),
            overwrite_option,
            click.option("--quiet", is_flag=True, help="No progress bar."),
        ]):  # fmt: skip
            fn = option(fn)
        return fn

    return decorate


def _read(path, target, features, x_col, y_col, crs, merge, task="auto"):
    from terralearn.graph.points import read_points

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
@gnn_options(epochs=200, lr=0.002)
@click.option("--graph", "graph_spec", default="knn:8", show_default=True,
              help="knn:K, radius:R (CRS units) or delaunay.")  # fmt: skip
@click.option("--pos-frequencies", type=int, default=0, show_default=True,
              help="Frequencies of the sinusoidal coordinate encoding (0: none).")  # fmt: skip
@validation_options("points", "CRS units")
def train(
    points, target, task, x_col, y_col, crs, features, merge_duplicates, model, graph_spec,
    epochs, lr, hidden, layers, pos_frequencies, val, block_size, buffer, seed, out, overwrite,
    quiet,
) -> None:  # fmt: skip
    """Train a GNN on POINTS to predict --target; write the run folder --out."""
    from terralearn._fs import check_output
    from terralearn._progress import progress_bar
    from terralearn.graph.build import GraphSpec
    from terralearn.graph.runs import train_run
    from terralearn.models import create_model, require_kind

    check_output(out, overwrite, option="--out")
    spec = GraphSpec.parse(graph_spec)
    require_kind(model, "graph", "terralearn graph train")
    model_kwargs = {"hidden": hidden, "layers": layers, "pos_frequencies": pos_frequencies}
    create_model(model, 1, 1, **model_kwargs)  # option errors before reading anything
    pts = _read(points, target, features, x_col, y_col, crs, merge_duplicates, task)
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
@click.option("--target", default=None, help="Target column [default: the run's].")
@points_options
def evaluate(run, points, target, x_col, y_col, crs, features, merge_duplicates) -> None:
    """Score the model of RUN on the target column of POINTS."""
    import numpy as np

    from terralearn.errors import IncompatibleError
    from terralearn.graph.runs import check_points, load_run, points_in_run_crs
    from terralearn.graph.validation import classification_metrics, regression_metrics

    loaded = load_run(run)
    feats = features or tuple(loaded.feature_names)
    task = loaded.config["task"]
    pts = _read(points, target or loaded.target, feats, x_col, y_col, crs, merge_duplicates, task)
    check_points(loaded, pts)
    pred = loaded.learner.predict(points_in_run_crs(loaded, pts), pts.features)
    if loaded.classes:
        names = np.asarray(pts.classes)[pts.target]
        unknown = sorted(set(names) - set(loaded.classes))
        if unknown:
            raise IncompatibleError(
                f"{points}: classes {', '.join(unknown)} are not among the run's classes "
                f"({', '.join(loaded.classes)}); remove those points"
            )
        index = {name: i for i, name in enumerate(loaded.classes)}
        truth = np.array([index[n] for n in names], dtype=np.int64)
        scores = classification_metrics(truth, pred, len(loaded.classes))
    else:
        scores = regression_metrics(pts.target, pred)
    click.echo(f"evaluated {len(pts)} points: " + _format_scores(scores))


@graph.command()
@click.argument("run", type=click.Path())
@click.argument("paths", nargs=-1, required=True)
@click.option("--grid", "grid_ref", type=click.Path(), default=None,
              help="Predict on the grid of this raster (its bands are the features, if any).")  # fmt: skip
@click.option("--bounds", type=float, nargs=4, default=None,
              help="minx miny maxx maxy of a grid to predict (with --resolution).")  # fmt: skip
@click.option("--resolution", type=float, default=None, help="Cell size of the --bounds grid.")
@click.option("--crs", default=None, help="CRS of --bounds [default: the run's] or of POINTS.")
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
    from terralearn.errors import ConfigError
    from terralearn.graph.runs import load_run

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
        from terralearn._fs import check_output
        from terralearn.graph.grid import grid_from_bounds, grid_from_raster, predict_grid

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
    out = _predict_points(loaded, paths[0], paths[1], x_col, y_col, crs, overwrite)
    click.echo(f"written: {out}")


def _predict_points(loaded, points, output, x_col, y_col, crs, overwrite) -> Path:
    """Predict at the points of a file; write the file's rows with a `prediction` column."""
    import pandas as pd

    from terralearn._fs import atomic_output, check_output
    from terralearn.errors import ConfigError
    from terralearn.graph.points import _read_table, read_points
    from terralearn.graph.runs import points_in_run_crs

    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in (".csv", ".gpkg", ".geojson", ".parquet"):
        raise ConfigError(f"output {str(output)!r}: use a .csv, .gpkg, .geojson or .parquet name")
    check_output(output, overwrite)
    pts = read_points(
        points, features=loaded.feature_names, x=x_col, y=y_col, crs=crs, duplicates="keep"
    )
    pred = loaded.learner.predict(points_in_run_crs(loaded, pts), pts.features)
    table = _read_table(Path(points), str(points))
    if loaded.classes:
        pred = [loaded.classes[int(i)] for i in pred]
    table["prediction"] = pred
    has_geometry = "geometry" in table.columns and hasattr(table, "crs")
    with atomic_output(output, overwrite) as tmp:
        if suffix == ".csv":
            pd.DataFrame(table.drop(columns="geometry", errors="ignore")).to_csv(tmp, index=False)
        elif suffix == ".parquet":
            table.to_parquet(tmp)
        else:
            import geopandas as gpd

            if not has_geometry:
                table = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(*pts.xy.T), crs=pts.crs)
            # the layer is named after the final file, not the temporary one
            driver = "GPKG" if suffix == ".gpkg" else "GeoJSON"
            table.to_file(tmp, driver=driver, layer=output.stem if driver == "GPKG" else None)
    return output


@graph.command()
@click.argument("points", type=click.Path())
@click.option("--target", required=True, help="Column to predict.")
@click.option("--task", type=click.Choice(["auto", "regression", "classification"]),
              default="auto", show_default=True)  # fmt: skip
@points_options
@click.option("--methods", default="sage,idw,kriging,rf", show_default=True,
              help="Comma-separated: gcn, sage, gat, idw, kriging, rf.")  # fmt: skip
@click.option(
    "--graph", "graph_spec", default="knn:8", show_default=True, help="Graph of the GNNs."
)
@click.option("--epochs", type=int, default=200, show_default=True, help="GNN training steps.")
@click.option("--folds", type=int, default=5, show_default=True)
@click.option("--block-size", type=float, default=None, help="Fold block side, CRS units.")
@click.option("--buffer", type=float, default=0.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(), default=None,
              help="Folder for compare.csv (per fold) and residuals.png.")  # fmt: skip
@overwrite_option
def compare(
    points, target, task, x_col, y_col, crs, features, merge_duplicates, methods, graph_spec,
    epochs, folds, block_size, buffer, seed, out, overwrite,
) -> None:  # fmt: skip
    """Spatial block cross-validation of GNNs and baselines on POINTS: a table and a map."""
    from terralearn._fs import atomic_output, check_output
    from terralearn.graph.baselines import GNNS, make_estimator
    from terralearn.graph.build import GraphSpec
    from terralearn.graph.validation import cross_validate, format_table

    names = _split((methods,))
    spec = GraphSpec.parse(graph_spec)
    for name in names:
        make_estimator(name)  # unknown names fail before any work
    if out is not None:
        check_output(out, overwrite, option="--out")
    pts = _read(points, target, features, x_col, y_col, crs, merge_duplicates, task)
    if pts.task == "classification" and "kriging" in names:
        from terralearn.errors import ConfigError

        raise ConfigError("kriging interpolates numbers; drop it from --methods for a class target")

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
    summary = result.summary()
    click.echo(format_table(summary))
    if out is not None:
        import numpy as np

        from terralearn.viz.graph import plot_residual_map

        with atomic_output(out, overwrite, directory=True) as tmp:
            result.scores.to_csv(tmp / "compare.csv", index=False)
            if pts.task == "regression":
                residuals = {n: result.predictions[n] - pts.target for n in names}
            else:
                residuals = {
                    n: np.where(np.isnan(p), np.nan, (p != pts.target).astype(float))
                    for n, p in result.predictions.items()
                }
            plot_residual_map(pts.xy, residuals, tmp / "residuals.png")
        click.echo(f"written: {out}")


@graph.command("segments")
@click.argument("image", type=click.Path())
@click.option("--labels", required=True, type=click.Path(),
              help="Label raster or polygons; put on the image grid like `terralearn prepare`.")  # fmt: skip
@click.option("--class-column", default=None, help="Attribute holding the class of each polygon.")
@click.option("--bands", default=None, help="Comma-separated band names to use, in order.")
@click.option("--n-segments", type=int, default=None,
              help="Approximate number of SLIC segments [valid pixels / --segment-size].")  # fmt: skip
@click.option("--segment-size", type=float, default=100, show_default=True,
              help="Average pixels per segment (without --n-segments).")  # fmt: skip
@click.option("--compactness", type=float, default=0.3, show_default=True,
              help="SLIC colour/space trade-off on standardised bands (higher: squarer).")  # fmt: skip
@gnn_options(epochs=300, lr=0.01)
@click.option("--dropout", type=float, default=0.2, show_default=True)
@validation_options("segments", "pixels", " [a fifth of the longer image side]")
def segments(
    image, labels, class_column, bands, n_segments, segment_size, compactness, model, epochs, lr,
    hidden, layers, dropout, val, block_size, buffer, seed, out, overwrite, quiet,
) -> None:  # fmt: skip
    """Train a GNN to classify SLIC segments of IMAGE (object-based image analysis).

    Segments are nodes (band means and standard deviations), adjacent segments are joined;
    a segment's class is the majority of its labelled pixels. Predict with
    `terralearn graph segments-predict RUN IMAGE OUTPUT.tif`.
    """
    from terralearn._fs import check_output
    from terralearn._progress import progress_bar
    from terralearn.graph.segment_runs import train_segments
    from terralearn.models import create_model, require_kind

    check_output(out, overwrite, option="--out")
    require_kind(model, "graph", "terralearn graph segments")
    model_kwargs = {"hidden": hidden, "layers": layers, "dropout": dropout}
    create_model(model, 1, 1, **model_kwargs)  # option errors before reading anything
    with progress_bar(epochs, f"training {model}", enabled=not quiet) as bar:
        run, scores = train_segments(
            image, labels, out, bands=_split((bands,)) if bands else None,
            class_column=class_column, n_segments=n_segments, pixels_per_segment=segment_size,
            compactness=compactness, model=model, epochs=epochs, lr=lr,
            model_kwargs=model_kwargs, val=val, block_size=block_size, buffer=buffer, seed=seed,
            overwrite=overwrite, progress=lambda epoch, loss: bar.advance(),
        )  # fmt: skip
    import json

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
    from terralearn.graph.segment_runs import predict_segments

    result = predict_segments(run, image, output, overwrite=overwrite)
    click.echo(f"predicted {result.num_segments:,} segments in {result.seconds:.1f} s")
    click.echo(f"written: {result.path}")
