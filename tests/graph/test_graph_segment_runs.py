"""Segment-classification runs: train on image + labels, predict a georeferenced class raster."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from raster_helpers import CRS, ORIGIN, RES, write_raster
from terralearn.errors import ConfigError, IncompatibleError, NoOverlapError, NotARunError
from terralearn.graph.segment_runs import load_segment_run, predict_segments, train_segments

SIZE = 64


def scene(seed=0):
    """Two bands; a bright disc (class 1) on a dark background (class 0)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:SIZE, :SIZE]
    disc = (rows - 30) ** 2 + (cols - 36) ** 2 < 18**2
    image = rng.normal(1000, 20, (2, SIZE, SIZE))
    image[0, disc] += 800
    image[1, disc] -= 400
    return image.astype(np.uint16), disc.astype(np.uint8)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("segruns")
    image, classes = scene()
    write_raster(tmp / "image.tif", image, nodata=0, descriptions=["red", "nir"])
    write_raster(tmp / "labels.tif", classes)
    return tmp


@pytest.fixture(scope="module")
def trained(files):
    run, scores = train_segments(
        files / "image.tif", files / "labels.tif", files / "run", epochs=80, val=0.3, seed=0,
        model_kwargs={"hidden": 16},
    )  # fmt: skip
    return run, scores


def test_training_writes_a_run_with_pixel_scores(trained):
    run, scores = trained
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoints", "config.yaml", "metrics.json", "run.json"
    ]  # fmt: skip
    assert scores["overall_accuracy"] > 0.95
    assert scores["n_val_segments"] > 0 and scores["n_train_segments"] > 0
    config = json.loads((run / "run.json").read_text())
    assert config["kind"] == "graph-segments"
    assert config["bands"] == ["red", "nir"]
    assert config["classes"] == {"0": "class_0", "1": "class_1"}
    assert config["segments"]["pixels_per_segment"] == pytest.approx(SIZE * SIZE / 41)
    assert json.loads((run / "metrics.json").read_text())["mean_iou"] == scores["mean_iou"]


def test_prediction_has_the_image_grid_and_the_classes(trained, files):
    run, _ = trained
    result = predict_segments(run, files / "image.tif", files / "pred.tif")
    _, classes = scene()
    with rasterio.open(files / "pred.tif") as out, rasterio.open(files / "image.tif") as src:
        assert out.crs == src.crs and out.transform == src.transform
        assert (out.height, out.width, out.count) == (SIZE, SIZE, 1)
        assert out.dtypes[0] == "uint8" and out.nodata == 255
        assert out.colormap(1)[255] == (0, 0, 0, 0)
        predicted = out.read(1)
    # the disc edge is cut by segments: allow a thin rim of wrong pixels, no more
    assert (predicted == classes).mean() > 0.97
    assert sum(result.class_counts.values()) == SIZE * SIZE
    assert result.num_segments > 20


def test_nodata_pixels_are_nodata_in_the_prediction(trained, tmp_path):
    image, _ = scene(seed=1)
    image[:, :, :10] = 0  # the image's nodata value
    write_raster(tmp_path / "holes.tif", image, nodata=0, descriptions=["red", "nir"])
    predict_segments(trained[0], tmp_path / "holes.tif", tmp_path / "pred.tif")
    with rasterio.open(tmp_path / "pred.tif") as out:
        predicted = out.read(1)
    assert (predicted[:, :10] == 255).all() and (predicted[:, 10:] != 255).all()


def test_labels_on_another_grid_are_aligned_and_unlabelled_segments_stay(files, tmp_path, trained):
    _, classes = scene()
    # labels at 20 m covering only the left half of the image: 32 x 16 cells
    coarse = classes[::2, ::2][:, :16].copy()
    write_raster(tmp_path / "coarse.tif", coarse, res=2 * RES)
    run, scores = train_segments(
        files / "image.tif", tmp_path / "coarse.tif", tmp_path / "run", epochs=40, val=0.0,
        model_kwargs={"hidden": 16},
    )  # fmt: skip
    assert scores == {}
    # every segment is a node, labelled or not: the same graph as with full labels
    full = load_segment_run(trained[0]).config["segments"]
    assert load_segment_run(run).config["segments"] == full
    predict_segments(run, files / "image.tif", tmp_path / "pred.tif")
    with rasterio.open(tmp_path / "pred.tif") as out:
        predicted = out.read(1)
    assert (predicted == classes).mean() > 0.95


def test_band_mismatch_is_one_line(trained, tmp_path):
    image, _ = scene()
    write_raster(tmp_path / "one.tif", image[:1], descriptions=["red"])
    with pytest.raises(IncompatibleError) as err:
        predict_segments(trained[0], tmp_path / "one.tif", tmp_path / "pred.tif")
    message = str(err.value)
    assert "has 1 band(s) ['red'] but the run" in message
    assert "was trained on 2 band(s) ['red', 'nir'] (missing ['nir'])" in message
    assert "\n" not in message
    assert not (tmp_path / "pred.tif").exists()


def test_other_bad_inputs(files, tmp_path, trained):
    _, classes = scene()
    far = tmp_path / "far.tif"
    with rasterio.open(
        far, "w", driver="GTiff", height=SIZE, width=SIZE, count=1, dtype="uint8", crs=CRS,
        transform=rasterio.transform.from_origin(ORIGIN[0] + 10_000, ORIGIN[1], RES, RES),
    ) as dst:  # fmt: skip
        dst.write(classes, 1)
    with pytest.raises(NoOverlapError, match="do not overlap image"):
        train_segments(files / "image.tif", far, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(NotARunError, match="is not a segment-classification run"):
        predict_segments(tmp_path, files / "image.tif", tmp_path / "pred.tif")
    with pytest.raises(ConfigError, match="end it in .tif"):
        predict_segments(trained[0], files / "image.tif", tmp_path / "pred.png")
    empty = tmp_path / "empty.tif"
    write_raster(empty, np.full((SIZE, SIZE), 255, np.uint8), nodata=255)
    with pytest.raises(ConfigError, match="no labelled pixel on a valid pixel"):
        train_segments(files / "image.tif", empty, tmp_path / "run")
