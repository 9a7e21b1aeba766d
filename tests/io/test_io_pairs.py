"""Image / mask pairs from quoted glob patterns, and `prepare` on pictures without a CRS."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner

from pixel_grid_helpers import dubai_copy, write_png
from raster_helpers import write_raster
from terralearn.cli.main import cli
from terralearn.errors import ConfigError, InputNotFoundError
from terralearn.io.pairs import expand_pairs
from terralearn.store import open_store


@pytest.fixture
def dubai(tmp_path):
    return dubai_copy(tmp_path / "dubai set")


def test_patterns_through_folders_with_spaces_pair_in_sorted_order(dubai):
    images, labels = expand_pairs(
        [f"{dubai}/Tile */images/*.jpg"], [f"{dubai}/Tile */labels/*.png"]
    )
    assert images == [
        f"{dubai}/Tile 1/images/image_part_001.jpg",
        f"{dubai}/Tile 2/images/image_part_004.jpg",
        f"{dubai}/Tile 3/images/image_part_002.jpg",
        f"{dubai}/Tile 5/images/image_part_003.jpg",
    ]
    assert labels == [p.replace("images", "labels").replace(".jpg", ".png") for p in images]


def test_literal_paths_are_kept_and_one_labels_source_serves_all(dubai, tmp_path):
    odd = tmp_path / "odd[1].jpg"  # a real file name that looks like a pattern
    odd.write_bytes((dubai / "Tile 1" / "images" / "image_part_001.jpg").read_bytes())
    images, labels = expand_pairs([str(odd), f"{dubai}/Tile 5/images/*.jpg"], ["polygons.gpkg"])
    assert images == [str(odd), f"{dubai}/Tile 5/images/image_part_003.jpg"]
    assert labels == ["polygons.gpkg"]
    assert expand_pairs([str(odd)], None) == ([str(odd)], None)


def test_a_pattern_matching_nothing_is_an_error(dubai):
    with pytest.raises(InputNotFoundError, match=r"--labels pattern '.*/Tile \*/mask/\*.png' "):
        expand_pairs([f"{dubai}/Tile */images/*.jpg"], [f"{dubai}/Tile */mask/*.png"])


def test_unequal_numbers_of_images_and_labels_are_an_error(dubai):
    with pytest.raises(ConfigError) as err:
        expand_pairs([f"{dubai}/Tile */images/*.jpg"], [f"{dubai}/Tile [13]/labels/*.png"])
    assert str(err.value).startswith("4 images but 2 labels; give one label file per image")


def _prepare(*args):
    return CliRunner().invoke(cli, ["prepare", *(str(a) for a in args), "--quiet"])


def _one_error_line(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_prepare_pictures_from_patterns(dubai, tmp_path):
    out = tmp_path / "store"
    result = _prepare(
        f"{dubai}/Tile */images/*.jpg", "--labels", f"{dubai}/Tile */labels/*.png",
        "--out", out, "--chip-size", "32", "--block-size", "32", "--buffer", "0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "store.json").read_text())
    assert meta["bands"] == ["red", "green", "blue"] and meta["dtype"] == "uint8"
    assert meta["crs"] == [""] * 4 and meta["resolution"] == [1.0] * 4
    assert meta["sources"][2] == f"{dubai}/Tile 3/images/image_part_002.jpg"
    assert meta["labels"][2] == f"{dubai}/Tile 3/labels/image_part_002.png"
    assert sorted(meta["classes"]) == ["0", "1", "2", "3", "4"]
    store = open_store(out)
    assert store.pixel_grid and store.describe()["crs"] == ["none (pixel grid)"]
    index = pd.read_parquet(out / "index.parquet")
    assert len(index) == 36 and set(index["crs"]) == {""}
    first = index.iloc[0]
    # boxes in pixels: y grows downwards with the rows
    assert (first["row_off"], first["col_off"]) == (0, 0)
    assert (first["minx"], first["miny"], first["maxx"], first["maxy"]) == (0, 0, 32, 32)
    row = index[(index["source"] == 3) & (index["row_off"] == 64) & (index["col_off"] == 32)]
    assert row[["minx", "miny", "maxx", "maxy"]].to_numpy().tolist() == [[32, 64, 64, 96]]


def test_prepare_a_tiff_without_crs_with_the_flag(tmp_path):
    data = np.arange(3 * 64 * 64, dtype=np.uint16).reshape(3, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(
            tmp_path / "plain.tif", "w", driver="GTiff", height=64, width=64, count=3,
            dtype="uint16",
        ) as ds:  # fmt: skip
            ds.write(data)
    args = [tmp_path / "plain.tif", "--out", tmp_path / "store", "--chip-size", "32"]
    _one_error_line(_prepare(*args), "plain.tif has no CRS; set one", "or pass --pixel-grid")
    assert not (tmp_path / "store").exists()
    result = _prepare(*args, "--pixel-grid", "--split", "random", "--val", "0.25")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "store" / "store.json").read_text())["crs"] == [""]


@pytest.mark.parametrize(
    "case",
    ["no match", "unequal", "size", "mixed", "colour mask", "metres"],
)
def test_bad_picture_input_is_one_line_and_writes_nothing(dubai, tmp_path, case):
    images, labels = f"{dubai}/Tile */images/*.jpg", f"{dubai}/Tile */labels/*.png"
    if case == "no match":
        args, expected = [f"{dubai}/Tile 9/*.jpg", "--labels", labels], ["matches no file"]
    elif case == "unequal":
        args = [images, "--labels", f"{dubai}/Tile [35]/labels/*.png"]
        expected = ["4 images but 2 labels"]
    elif case == "size":
        mask = dubai / "Tile 3" / "labels" / "image_part_002.png"
        write_png(mask, np.zeros((1, 80, 96), np.uint8))
        image = dubai / "Tile 3" / "images" / "image_part_002.jpg"
        args = [images, "--labels", labels]
        expected = [f"image '{image}' is 96 x 96 px but its mask '{mask}' is 96 x 80 px"]
    elif case == "mixed":
        geo = write_raster(tmp_path / "geo.tif", np.ones((3, 96, 96), np.uint8))
        args = [geo, f"{dubai}/Tile 1/images/image_part_001.jpg"]
        expected = ["has no CRS (pixel grid) but", "geo.tif' is georeferenced"]
    elif case == "metres":
        args = [images, "--labels", labels, "--block-size", "5km"]
        expected = ["--block-size '5km' is a distance, but the images have no CRS (pixel grid)"]
    else:
        args = [images, "--labels", f"{dubai}/Tile */masks/*.png"]
        expected = [
            f"colour-coded mask {dubai}/Tile 1/masks/image_part_001.png needs --classes FILE "
            "mapping #RRGGBB colours to names"
        ]
    out = tmp_path / "store"
    _one_error_line(_prepare(*args, "--out", out, "--chip-size", "32"), *expected)
    assert not out.exists() and not list(tmp_path.glob(".store*"))
