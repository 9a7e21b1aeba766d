"""--block-size / --buffer: one distance syntax in prepare, graph train/compare and graph segments."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from raster_helpers import RES, write_raster
from terralearn.cli.main import cli
from terralearn.store import open_store


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("distances")
    rng = np.random.default_rng(3)
    image = rng.normal(500, 10, (3, 64, 80)).astype(np.float32)
    image[:, 32:, :] += 300
    labels = np.zeros((64, 80), np.uint8)
    labels[32:, :] = 1
    write_raster(tmp / "image.tif", image, descriptions=["b", "g", "r"])
    write_raster(tmp / "labels.tif", labels, nodata=255)
    return tmp


@pytest.fixture(scope="module")
def points_csv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("distance_points")
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 2000, (120, 2))
    temp = np.sin(xy[:, 0] / 300) + xy[:, 1] / 1000
    path = tmp / "pts.csv"
    pd.DataFrame({"x": xy[:, 0] + 500_000, "y": xy[:, 1] + 5e6, "temp": temp}).to_csv(
        path, index=False
    )
    return path


def test_prepare_metres_are_pixels_times_the_resolution(scene, tmp_path):
    common = [scene / "image.tif", "--labels", scene / "labels.tif", "--chip-size", 16, "--quiet"]
    in_pixels = run("prepare", *common, "--block-size", 32, "--buffer", 16, "--out", tmp_path / "a")
    assert in_pixels.exit_code == 0, in_pixels.output
    metres = f"{32 * RES:g}m"
    in_metres = run("prepare", *common, "--block-size", metres, "--buffer", "0.16km",
                    "--out", tmp_path / "b")  # fmt: skip
    assert in_metres.exit_code == 0, in_metres.output
    a, b = open_store(tmp_path / "a"), open_store(tmp_path / "b")
    assert b.index["split"].tolist() == a.index["split"].tolist()
    config = yaml.safe_load((tmp_path / "b" / "config.yaml").read_text())
    assert (config["block_size"], config["buffer"]) == (metres, "0.16km")


@pytest.mark.parametrize(
    "command",
    [["prepare", "IMAGE", "--out", "STORE"], ["graph", "compare", "P", "--target", "t"],
     ["graph", "train", "P", "--target", "t", "--out", "R"],
     ["graph", "segments", "IMAGE", "--labels", "L", "--out", "R"]],
    ids=["prepare", "graph compare", "graph train", "graph segments"],
)  # fmt: skip
def test_a_bad_distance_is_one_line(tmp_path, command):
    result = CliRunner().invoke(cli, [*command, "--block-size", "5 miles"])
    assert result.exit_code == 2
    assert result.output == (
        "error: --block-size '5 miles' is not a distance; write a number (pixels of a raster, "
        "CRS units of points), pixels (512px), metres (300m) or km (5km)\n"
    )


def test_graph_compare_takes_crs_units_or_metres(points_csv, tmp_path):
    common = [points_csv, "--target", "temp", "--crs", "EPSG:32633", "--methods", "idw",
              "--folds", 3]  # fmt: skip
    bare = run("graph", "compare", *common, "--block-size", 500, "--buffer", 50,
               "--out", tmp_path / "a")  # fmt: skip
    km = run("graph", "compare", *common, "--block-size", "0.5km", "--buffer", "50m",
             "--out", tmp_path / "b")  # fmt: skip
    assert bare.exit_code == 0 and km.exit_code == 0, bare.output + km.output
    a, b = pd.read_csv(tmp_path / "a" / "compare.csv"), pd.read_csv(tmp_path / "b" / "compare.csv")
    pd.testing.assert_frame_equal(
        a.drop(columns=["fit_s", "predict_s"]), b.drop(columns=["fit_s", "predict_s"])
    )
    other = run("graph", "compare", *common, "--block-size", 200)
    assert other.stdout != bare.stdout  # the size matters: the folds differ


def test_graph_train_refuses_pixels_for_points(points_csv, tmp_path):
    result = run("graph", "train", points_csv, "--target", "temp", "--crs", "EPSG:32633",
                 "--buffer", "5px", "--out", tmp_path / "run", "--quiet")  # fmt: skip
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "error: --buffer '5px': points have no pixels; give CRS units (e.g. 5000) or metres "
        "(5000m, 5km)"
    ]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("block", "buffer"), [("24", "8"), (f"{24 * RES:g}m", "8px")])
def test_graph_segments_takes_pixels_or_metres(scene, tmp_path, block, buffer):
    result = run("graph", "segments", scene / "image.tif", "--labels", scene / "labels.tif",
                 "--segment-size", 64, "--epochs", 2, "--block-size", block, "--buffer", buffer,
                 "--out", tmp_path / "run", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    split = json.loads((tmp_path / "run" / "run.json").read_text())["split"]
    assert (split["block_size"], split["buffer"]) == (24.0, 8.0)
