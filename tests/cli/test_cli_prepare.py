"""`terralearn prepare` and `info` from the command line, bad input included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from raster_helpers import write_raster
from terralearn.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def image(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    data = rng.integers(1, 3000, size=(3, 128, 160), dtype=np.uint16)
    return write_raster(tmp_path / "img.tif", data, nodata=0, descriptions=["B2", "B3", "B4"])


@pytest.fixture
def labels(tmp_path) -> Path:
    data = np.zeros((128, 160), np.uint8)
    data[:, 80:] = 1
    return write_raster(tmp_path / "lbl.tif", data)


def test_prepare_writes_a_store_and_prints_a_summary(tmp_path, image, labels):
    result = run(
        "prepare",
        image,
        "--labels",
        labels,
        "--out",
        tmp_path / "store",
        "--chip-size",
        "32",
        "--block-size",
        "64",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "chips and labelled pixels per split" in result.output
    meta = json.loads((tmp_path / "store" / "store.json").read_text())
    assert meta["chip_size"] == 32 and meta["bands"] == ["B2", "B3", "B4"]
    assert sum(meta["splits"].values()) == meta["num_chips"]
    info = run("info", tmp_path / "store", "--json")
    assert info.exit_code == 0 and json.loads(info.output)["chips"] == meta["num_chips"]


def test_prepare_reads_a_yaml_config_and_cli_wins(tmp_path, image, labels):
    config = tmp_path / "prepare.yaml"
    config.write_text("chip-size: 64\nsplit: random\nval: 0.25\n")
    result = run(
        "prepare",
        image,
        "--labels",
        labels,
        "--out",
        tmp_path / "s",
        "--config",
        config,
        "--chip-size",
        "32",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    saved = (tmp_path / "s" / "config.yaml").read_text()
    assert "chip_size: 32" in saved and "split: random" in saved and "val: 0.25" in saved


def test_info_describes_an_image(image):
    result = run("info", image, "--json")
    assert result.exit_code == 0
    described = json.loads(result.output)
    assert described["bands"] == ["B2", "B3", "B4"] and described["crs"] == "EPSG:32633"


def _bad(tmp_path, args, message):
    out = tmp_path / "out_store"
    result = run("prepare", *args, "--out", out, "--quiet")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    assert message in lines[0], lines[0]
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out_store")]
    return lines[0]


def test_missing_file(tmp_path):
    _bad(tmp_path, [tmp_path / "nope.tif"], "does not exist")


def test_not_a_raster(tmp_path):
    fake = tmp_path / "fake.tif"
    fake.write_text("not a raster")
    _bad(tmp_path, [fake], "fake.tif")


def test_raster_without_crs(tmp_path):
    path = write_raster(tmp_path / "nocrs.tif", np.ones((1, 64, 64), np.uint16), crs=None)
    _bad(tmp_path, [path], "no CRS" if False else "CRS")


def test_labels_that_do_not_overlap(tmp_path, image):
    far = tmp_path / "far.tif"
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(
        far,
        "w",
        driver="GTiff",
        height=32,
        width=32,
        count=1,
        dtype="uint8",
        crs="EPSG:32633",
        transform=from_origin(900000, 1000000, 10, 10),
    ) as dst:
        dst.write(np.ones((1, 32, 32), np.uint8))
    _bad(tmp_path, [image, "--labels", far], "do not overlap")


def test_unknown_class_column(tmp_path, image):
    import geopandas as gpd
    from shapely.geometry import box

    path = tmp_path / "p.gpkg"
    gpd.GeoDataFrame(
        {"name": ["a"]}, geometry=[box(500100, 4999500, 500500, 4999900)], crs="EPSG:32633"
    ).to_file(path)
    line = _bad(tmp_path, [image, "--labels", path, "--class-column", "landcover"], "landcover")
    assert "name" in line  # lists the available columns


def test_chip_size_larger_than_image(tmp_path, image):
    _bad(tmp_path, [image, "--chip-size", "256"], "--chip-size 256 is larger than image")


def test_image_all_nodata(tmp_path):
    path = write_raster(tmp_path / "empty.tif", np.zeros((2, 64, 64), np.uint16), nodata=0)
    _bad(tmp_path, [path, "--chip-size", "32"], "has no valid pixel")


def test_band_names_not_present(tmp_path, image):
    line = _bad(tmp_path, [image, "--bands", "B4,B8"], "B8")
    assert "B2" in line and "B3" in line  # lists the available bands


def test_block_size_smaller_than_chip(tmp_path, image, labels):
    _bad(
        tmp_path,
        [image, "--labels", labels, "--chip-size", "32", "--block-size", "16"],
        "is smaller than the chip size",
    )


def test_val_plus_test_at_least_one(tmp_path, image):
    _bad(tmp_path, [image, "--val", "0.5", "--test", "0.5"], "sum to less than 1")


def test_output_exists_without_overwrite(tmp_path, image):
    out = tmp_path / "out_store"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run("prepare", image, "--out", out, "--chip-size", "32", "--quiet")
    assert result.exit_code == 2
    assert "already exists; pass --overwrite" in result.output
    assert (out / "keep.txt").read_text() == "mine"
    again = run("prepare", image, "--out", out, "--chip-size", "32", "--quiet", "--overwrite")
    assert again.exit_code == 0, again.output
    assert not (out / "keep.txt").exists() and (out / "store.json").is_file()


def test_a_split_that_would_be_empty_is_refused(tmp_path, image, labels):
    # one 1024 px block over the 128 x 160 px image: no block left for val or test
    _bad(
        tmp_path,
        [image, "--labels", labels, "--chip-size", "32", "--block-size", "1024"],
        "the val split would be empty (20 chips in all): too few blocks for --val 0.15 (1 of "
        "1024 px); use a smaller --block-size (or leave it out), a smaller --chip-size, or "
        "--val 0",
    )


def test_prepare_with_defaults_reports_its_geometry(tmp_path, image, labels):
    result = run("prepare", image, "--labels", labels, "--out", tmp_path / "s", "--quiet")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # 128 x 160 px holds 20 chips of 32 px but 80 of 16 px (>= 9 chips x 14 blocks wanted)
    assert "INFO: chip size 16 px (scene 160 x 128 px; give --chip-size to choose)" in lines
    assert "INFO: block size 32 px = 2 x 2 chips (20 blocks; give --block-size to choose)" in lines
    meta = json.loads((tmp_path / "s" / "store.json").read_text())
    assert meta["chip_size"] == 16 and all(n > 0 for n in meta["splits"].values())


def _tiles(tmp_path, folders: int, per_folder: int) -> list[Path]:
    """``per_folder`` 64 x 64 px tiles in each of ``folders`` folders, each with a label raster
    (``*_labels.tif``) of classes 0, 1, 2 in vertical stripes."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(64) * 3 // 64, 64).reshape(64, 64).T.astype(np.uint8)
    paths = []
    for f in range(folders):
        (tmp_path / f"tile{f}").mkdir()
        for i in range(per_folder):
            data = rng.integers(1, 3000, size=(3, 64, 64), dtype=np.uint16)
            paths.append(write_raster(tmp_path / f"tile{f}" / f"part{i}.tif", data, nodata=0))
            write_raster(tmp_path / f"tile{f}" / f"part{i}_labels.tif", labels)
    return paths


def test_split_image_keeps_the_images_of_one_folder_together(tmp_path):
    paths = _tiles(tmp_path, folders=5, per_folder=2)
    labels = [a for p in paths for a in ("--labels", str(p).replace(".tif", "_labels.tif"))]
    out = tmp_path / "s"
    result = run(
        "prepare", *paths, *labels, "--out", out, "--split", "image", "--chip-size", "32", "--quiet"
    )
    assert result.exit_code == 0, result.output
    index = pd.read_parquet(out / "index.parquet")
    folder = index["source"] // 2  # two images per folder, in order
    assert (index.groupby(folder)["split"].nunique() == 1).all()
    # five folders of 8 chips: 3 / 1 / 1 is closest to 70 / 15 / 15 %
    assert sorted(index.groupby(folder)["split"].first()) == [
        "test",
        "train",
        "train",
        "train",
        "val",
    ]
    assert index["split"].value_counts().to_dict() == {"train": 24, "val": 8, "test": 8}


def test_split_image_needs_three_groups(tmp_path):
    paths = _tiles(tmp_path, folders=2, per_folder=2)
    _bad(
        tmp_path,
        [*paths, "--chip-size", "32", "--split", "image"],
        "--split image needs at least 3 groups of images (one per folder, or one per image when "
        "all are in one folder), got 2; add images from more folders or use --split block",
    )
