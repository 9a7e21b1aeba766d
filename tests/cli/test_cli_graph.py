"""`terralearn graph` round trip (train -> evaluate -> predict points and grid -> compare) and errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

from terralearn.cli.main import cli
from terralearn.graph.fields import gaussian_random_field, sample_field


def run(*args):
    return CliRunner().invoke(cli, ["graph", *(str(a) for a in args)])


@pytest.fixture(scope="module")
def points_csv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pts")
    pts, _ = sample_field(gaussian_random_field(64, 8, seed=0), 300, seed=1, pixel_size=10)
    x, y = pts.xy[:, 0] + 500_000, pts.xy[:, 1] + 5_000_000
    df = pd.DataFrame({"x": x, "y": y, "temp": pts.target, "elev": pts.xy[:, 0] / 100,
                       "zone": np.where(pts.target > 0, "warm", "cold")})  # fmt: skip
    path = tmp / "pts.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def run_dir(points_csv):
    out = points_csv.parent / "run"
    result = run("train", points_csv, "--target", "temp", "--crs", "EPSG:32633", "--epochs", "20",
                 "--out", out, "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "trained sage on 300 points (regression, graph knn:8)" in result.output
    assert f"written: {out}" in result.output
    return out


def test_train_writes_run(run_dir):
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoints", "config.yaml", "metrics.json", "run.json"
    ]  # fmt: skip
    config = json.loads((run_dir / "run.json").read_text())
    assert config["kind"] == "graph" and config["target"] == "temp" and config["num_points"] == 300
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_val"] == 300 and metrics["rmse"] > 0


def test_evaluate(run_dir, points_csv):
    result = run("evaluate", run_dir, points_csv, "--crs", "EPSG:32633")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("evaluated 300 points: rmse ")


def test_predict_points(run_dir, points_csv, tmp_path):
    out = tmp_path / "pred.csv"
    result = run("predict", run_dir, points_csv, out, "--crs", "EPSG:32633")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["x", "y", "temp", "elev", "zone", "prediction"]
    assert np.corrcoef(table["temp"], table["prediction"])[0, 1] > 0.8  # observed points
    again = run("predict", run_dir, points_csv, out, "--crs", "EPSG:32633")
    assert again.exit_code == 2 and "pass --overwrite" in again.output


def test_predict_grid_from_reference_and_bounds(run_dir, tmp_path):
    ref = tmp_path / "ref.tif"
    with rasterio.open(ref, "w", driver="GTiff", width=32, height=16, count=1, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500_000, 5_000_640, 20, 40)) as dst:  # fmt: skip
        dst.write(np.zeros((1, 16, 32), np.uint8))
    out = tmp_path / "grid.tif"
    result = run("predict", run_dir, "--grid", ref, out)
    assert result.exit_code == 0, result.output
    assert "predicted 16 x 32 cells" in result.output
    with rasterio.open(out) as src, rasterio.open(ref) as r:
        assert (src.crs, src.transform, src.shape) == (r.crs, r.transform, r.shape)
        data = src.read(1)
    assert data.dtype == np.float32 and np.isfinite(data).all() and data.std() > 0.1
    out2 = tmp_path / "b.tif"
    result = run("predict", run_dir, "--bounds", 500000, 5000000, 500640, 5000320,
                 "--resolution", 32, out2)  # fmt: skip
    assert result.exit_code == 0, result.output
    with rasterio.open(out2) as src:
        assert src.shape == (10, 20) and src.crs.to_epsg() == 32633


def test_classification_round_trip(points_csv, tmp_path):
    out = tmp_path / "cls"
    result = run("train", points_csv, "--target", "zone", "--crs", "EPSG:32633", "--epochs", "20",
                 "--model", "gcn", "--out", out, "--quiet", "--val", "0")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(classification, graph knn:8)" in result.output
    result = run("evaluate", out, points_csv, "--crs", "EPSG:32633")
    assert result.exit_code == 0 and "accuracy" in result.output and "miou" in result.output
    pred = tmp_path / "cls.gpkg"
    assert run("predict", out, points_csv, pred, "--crs", "EPSG:32633").exit_code == 0
    import geopandas as gpd

    assert set(gpd.read_file(pred)["prediction"]) <= {"warm", "cold"}


def test_compare_writes_table_and_map(points_csv, tmp_path):
    out = tmp_path / "cmp"
    result = run("compare", points_csv, "--target", "temp", "--crs", "EPSG:32633", "--folds", "3",
                 "--methods", "sage,idw", "--epochs", "10", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| method | rmse | mae | r2 |" in result.output
    scores = pd.read_csv(out / "compare.csv")
    assert sorted(set(scores["method"])) == ["idw", "sage"] and len(scores) == 6
    assert (out / "residuals.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "tmp", "--crs", "EPSG:32633"], "target column 'tmp' not found; columns: x, y, temp, elev, zone"),
        (["--target", "zone", "--task", "regression", "--crs", "EPSG:32633"], "'zone' is not numeric"),
        (["--target", "temp"], "columns 'x'/'y' have no CRS; give one with --crs"),
        (["--target", "temp", "--crs", "EPSG:32633", "--model", "unet_small"], "is a raster model"),
        (["--target", "temp", "--crs", "EPSG:32633", "--graph", "knn:0"], "--graph 'knn:0'"),
    ],
)  # fmt: skip
def test_train_errors_are_one_line(points_csv, tmp_path, args, message):
    result = run("train", points_csv, *args, "--out", tmp_path / "r", "--quiet")
    assert result.exit_code == 2
    assert message in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_train_duplicates_and_too_few_points(tmp_path):
    dup = tmp_path / "dup.csv"
    pd.DataFrame(
        {"x": [0.0, 0.0, 1, 2, 3], "y": [0.0, 0.0, 1, 2, 3], "v": [1.0, 2, 3, 4, 5]}
    ).to_csv(dup, index=False)
    result = run("train", dup, "--target", "v", "--crs", "EPSG:32633", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "2 points share coordinates" in result.output
    result = run("train", dup, "--target", "v", "--crs", "EPSG:32633", "--out", tmp_path / "r",
                 "--merge-duplicates", "--val", "0", "--quiet")  # fmt: skip
    assert (
        result.exit_code == 2 and "4 training points are too few for a knn:8 graph" in result.output
    )


def test_lonlat_out_of_range(tmp_path):
    path = tmp_path / "ll.csv"
    pd.DataFrame({"lat": [10.0, 95.0], "lon": [5.0, 5.0], "v": [1.0, 2.0]}).to_csv(
        path, index=False
    )
    result = run("train", path, "--target", "v", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "latitude outside [-90, 90]" in result.output


def test_not_a_run(tmp_path, points_csv):
    result = run("evaluate", tmp_path, points_csv)
    assert result.exit_code == 2 and "is not a graph run" in result.output
