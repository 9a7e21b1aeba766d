"""`terralearn sample` from the command line: points written, refusals with exit 2."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from raster_helpers import write_raster
from terralearn.cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def sample_class_map(tmp_path):
    rng = np.random.default_rng(11)
    arr = rng.choice(np.array([3, 5, 7], dtype=np.uint8), size=(64, 80), p=[0.6, 0.3, 0.1])
    arr[:, :5] = 255
    path = write_raster(tmp_path / "map.tif", arr, nodata=255)
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(CLASSES=json.dumps({"3": "forest", "5": "water", "7": "urban"}))
    return path, arr


def test_sample_writes_points_with_strata_and_probabilities(sample_class_map, tmp_path):
    path, arr = sample_class_map
    out = tmp_path / "pts.gpkg"
    result = run("sample", path, "--n", 90, "--min-per-class", 20, "--seed", 3, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 90 points (seed 3)" in result.output
    assert "fill the 'reference' column, then run terralearn assess" in result.output
    points = gpd.read_file(out)
    assert len(points) == 90
    sizes = points.groupby("map_class").size().to_dict()
    assert sizes["urban"] == 20 and sum(sizes.values()) == 90
    urban = int((arr == 7).sum())
    assert points.loc[points.map_code == 7, "inclusion_probability"].iloc[0] == pytest.approx(
        20 / urban
    )
    assert points["reference"].isna().all()
    # again without --overwrite: refused, the file untouched
    again = run("sample", path, "--n", 90, "--out", out)
    assert again.exit_code == 2 and "already exists" in again.output


def test_sample_refuses_n_below_classes_times_minimum(sample_class_map, tmp_path):
    out = tmp_path / "pts.gpkg"
    result = run("sample", sample_class_map[0], "--n", 100, "--out", out)
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --n 100 is smaller than 3 classes x --min-per-class 50 = 150; raise --n or "
        "lower --min-per-class"
    )
    assert list(tmp_path.iterdir()) == [sample_class_map[0]]


def test_sample_refuses_a_map_without_classes(tmp_path):
    path = write_raster(tmp_path / "empty.tif", np.full((16, 16), 255, np.uint8), nodata=255)
    result = run("sample", path, "--n", 100, "--out", tmp_path / "pts.gpkg")
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: the map has no class pixels (every pixel is nodata); nothing to sample"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.tif"]
