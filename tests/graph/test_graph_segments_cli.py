"""`terralearn graph segments` -> `segments-predict` round trip and its one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from raster_helpers import RES, write_raster
from terralearn.cli.main import cli

SIZE = 48


def run(*args):
    return CliRunner().invoke(cli, ["graph", *(str(a) for a in args)])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("segcli")
    rng = np.random.default_rng(0)
    image = rng.normal(500, 10, (3, SIZE, SIZE))
    image[:, 30:, :] += 300  # a bright strip at the bottom: class 2
    classes = np.zeros((SIZE, SIZE), np.uint8)
    classes[30:, :] = 2
    classes[:, :5] = 255  # an unlabelled margin
    write_raster(tmp / "image.tif", image.astype(np.float32), descriptions=["b", "g", "r"])
    write_raster(tmp / "labels.tif", classes, nodata=255)
    result = run("segments", tmp / "image.tif", "--labels", tmp / "labels.tif", "--segment-size",
                 64, "--epochs", 50, "--hidden", 16, "--val", 0.3, "--out", tmp / "run", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    return tmp, result.output


def test_train_then_predict_writes_the_class_raster(files):
    tmp, output = files
    assert "trained sage on" in output and "validation (pixels): overall_accuracy" in output
    result = run("segments-predict", tmp / "run", tmp / "image.tif", tmp / "pred.tif")
    assert result.exit_code == 0, result.output
    assert "written:" in result.output
    with rasterio.open(tmp / "pred.tif") as out, rasterio.open(tmp / "image.tif") as src:
        assert out.crs == src.crs and out.transform == src.transform
        assert out.shape == src.shape and out.nodata == 255
        predicted = out.read(1)
    truth = np.zeros((SIZE, SIZE), np.uint8)
    truth[30:] = 2
    np.testing.assert_array_equal(predicted, truth)
    again = run("segments-predict", tmp / "run", tmp / "image.tif", tmp / "pred.tif")
    assert again.exit_code == 2 and "already exists; pass --overwrite" in again.output


def test_band_mismatch_exits_2_with_one_line(files):
    tmp, _ = files
    write_raster(tmp / "two.tif", np.ones((2, SIZE, SIZE), np.float32), descriptions=["b", "g"])
    result = run("segments-predict", tmp / "run", tmp / "two.tif", tmp / "out.tif")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: image ")
    assert "has 2 band(s) ['b', 'g'] but the run" in lines[0]
    assert "(missing ['r']); give an image with those bands, named alike" in lines[0]
    assert not (tmp / "out.tif").exists()


def test_another_pixel_size_exits_2_with_one_line(files):
    tmp, _ = files
    coarse = np.full((3, SIZE, SIZE), 500, np.float32)
    write_raster(tmp / "coarse.tif", coarse, descriptions=["b", "g", "r"], res=RES * 3)
    result = run("segments-predict", tmp / "run", tmp / "coarse.tif", tmp / "out.tif")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert f"has a pixel size of {RES * 3:g} but the run" in lines[0]
    assert f"was trained at {RES:g} (more than 2x off); resample it first" in lines[0]
    assert not (tmp / "out.tif").exists()


def test_a_point_run_or_a_raster_model_is_refused(files):
    tmp, _ = files
    result = run("segments-predict", tmp, tmp / "image.tif", tmp / "x.tif")
    assert result.exit_code == 2
    assert "is not a segment-classification run" in result.output
    result = run("segments", tmp / "image.tif", "--labels", tmp / "labels.tif", "--model",
                 "unet", "--out", tmp / "r2")  # fmt: skip
    assert result.exit_code == 2
    assert "'unet' is a raster model but terralearn graph segments needs a graph model" in (
        result.output
    )
