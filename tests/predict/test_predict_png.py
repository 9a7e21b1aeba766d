"""Predicting pictures without a CRS: PNG class maps in the class colours, TIFFs without a CRS."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from predict_helpers import make_run, smooth_scene, write_image

from pixel_grid_helpers import DUBAI, dubai_copy
from terralearn.cli.main import cli
from terralearn.errors import ConfigError
from terralearn.io.rasterio_ import open_quietly
from terralearn.predict import predict_array, predict_raster
from terralearn.predict.writers import output_paths
from terralearn.store import PrepareConfig, prepare
from terralearn.viz.colors import DEFAULT_CLASS_COLORS

JPEG = DUBAI / "Tile 3" / "images" / "image_part_002.jpg"
RGB = ["red", "green", "blue"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def read(path) -> np.ndarray:
    with open_quietly(str(path)) as ds:
        assert ds.crs is None
        return ds.read()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """prepare (JPEG + integer PNG masks from patterns) -> train one epoch of a tiny U-Net."""
    root = tmp_path_factory.mktemp("pictures")
    dubai = dubai_copy(root / "dubai set")
    store = prepare(
        PrepareConfig(
            images=[f"{dubai}/Tile */images/*.jpg"], labels=[f"{dubai}/Tile */labels/*.png"],
            out=str(root / "store"), chip_size=32, block_size=32, buffer=0,
        ),
        progress=False,
    )  # fmt: skip
    result = invoke("train", store, "--out", root / "run", "--epochs", "1", "--model",
                    "unet_small", "--batch-size", "8", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    return root / "run"


def test_pictures_round_trip_to_a_png_in_the_class_colours(trained, tmp_path):
    info = json.loads((trained / "run.json").read_text())
    assert info["bands"] == RGB and info["crs"] == "" and info["resolution"] == 1.0
    png, tif = tmp_path / "classes.png", tmp_path / "classes.tif"
    result = invoke("predict", trained, JPEG, png, "--quiet")
    assert result.exit_code == 0, result.output
    assert f"written: {png} (class)" in result.output
    assert invoke("predict", trained, JPEG, tif, "--quiet").exit_code == 0
    colours = read(png)
    ids = read(tif)[0]
    assert colours.shape == (3, 96, 96) and colours.dtype == np.uint8
    assert ids.shape == (96, 96) and set(np.unique(ids)) <= {0, 1, 2, 3, 4}
    palette = np.array(DEFAULT_CLASS_COLORS[:5], dtype=np.uint8)  # no class table: the palette
    np.testing.assert_array_equal(np.moveaxis(colours, 0, -1), palette[ids])
    assert not list(tmp_path.glob(".*")) and not (tmp_path / "classes.png.aux.xml").exists()


def _picture_run(tmp_path, class_table=None):
    run = make_run(tmp_path / "run", bands=RGB, resolution=1.0)
    info = json.loads((run / "run.json").read_text())
    info["crs"] = ""  # trained on pictures
    if class_table is not None:
        info["class_table"] = class_table
    (run / "run.json").write_text(json.dumps(info))
    return run


def test_the_png_takes_the_colours_of_a_class_table(tmp_path):
    table = [
        {"index": 0, "code": 0, "name": "water", "color": "#8429f6", "values": ["#8429F6"]},
        {"index": 1, "code": 1, "name": "forest", "color": "#e2a929", "values": ["#E2A929"]},
        {"index": 2, "code": 2, "name": "urban", "color": "#3c1098", "values": ["#3C1098"]},
    ]
    run = _picture_run(tmp_path, table)
    predict_raster(run, JPEG, tmp_path / "a.png", progress=False)
    predict_raster(run, JPEG, tmp_path / "a.tif", write="indices", progress=False)
    ids = read(tmp_path / "a.tif")[0]
    lut = np.array([[0x84, 0x29, 0xF6], [0xE2, 0xA9, 0x29], [0x3C, 0x10, 0x98]], np.uint8)
    np.testing.assert_array_equal(np.moveaxis(read(tmp_path / "a.png"), 0, -1), lut[ids])


def test_predict_array_of_a_picture_has_no_crs(tmp_path):
    probabilities = predict_array(_picture_run(tmp_path), JPEG)
    assert probabilities.shape == (3, 96, 96) and probabilities.attrs["pixel_grid"] is True
    assert probabilities.rio.crs is None
    np.testing.assert_array_equal(probabilities.y.values, np.arange(96) + 0.5)
    np.testing.assert_allclose(probabilities.sum("class").values, 1.0, rtol=1e-5)


def test_a_georeferenced_model_refuses_a_picture(tmp_path):
    run = make_run(tmp_path / "run", bands=RGB)
    result = invoke("predict", run, JPEG, tmp_path / "o.png")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: image '{JPEG}' has no CRS (pixel grid) but the model of run '{run}' was trained "
        "on georeferenced imagery (EPSG:32633); give a georeferenced image of that kind"
    ]
    assert not (tmp_path / "o.png").exists()


def test_a_picture_model_refuses_a_georeferenced_image(tmp_path):
    image = write_image(tmp_path / "geo.tif", smooth_scene(40, 40), bands=RGB, res=1.0)
    run = _picture_run(tmp_path)
    result = invoke("predict", run, image, tmp_path / "o.tif")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: image '{image}' is georeferenced but the model of run '{run}' was trained on "
        "pictures without a CRS; give a picture (JPEG/PNG, or a TIFF with --pixel-grid)"
    ]
    assert not (tmp_path / "o.tif").exists()


def test_a_tiff_without_crs_needs_the_flag_to_predict(tmp_path):
    with open_quietly(str(JPEG)) as ds:
        data = ds.read()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(
            tmp_path / "plain.tif", "w", driver="GTiff", height=96, width=96, count=3,
            dtype="uint8",
        ) as ds:  # fmt: skip
            ds.write(data)
            ds.descriptions = tuple(RGB)
    run = _picture_run(tmp_path)
    result = invoke("predict", run, tmp_path / "plain.tif", tmp_path / "o.png", "--quiet")
    assert result.exit_code == 2 and "plain.tif has no CRS; set one with" in result.output
    assert "or pass --pixel-grid (pixel_grid=True) to read it on its pixel grid" in result.output
    assert not (tmp_path / "o.png").exists()
    result = invoke("predict", run, tmp_path / "plain.tif", tmp_path / "o.png", "--pixel-grid",
                    "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert read(tmp_path / "o.png").shape == (3, 96, 96)


def test_a_png_output_takes_no_extra_outputs():
    with pytest.raises(ConfigError, match="--probabilities, --vectorize cannot go with a .png"):
        output_paths("out.png", probabilities=True, uncertainty=False, vectorize=True)
    assert output_paths("out.png", False, False, False) == {"class": Path("out.png")}
