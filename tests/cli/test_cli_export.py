"""`terralearn export` (TFRecord, Zarr) and `terralearn ee` (against the Earth Engine stand-in)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

from raster_helpers import write_raster
from terralearn.cli.main import cli
from terralearn.export.tfrecord import decode_example, read_records
from terralearn.store import open_store


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def make_store(tmp_path, labels: bool = True):
    rng = np.random.default_rng(0)
    image = rng.integers(100, 3000, (3, 64, 64)).astype("uint16")
    img = write_raster(tmp_path / "img.tif", image, descriptions=["B2", "B3", "B4"])
    args = ["prepare", img, "--out", tmp_path / "store", "--chip-size", 16, "--split", "random"]
    if labels:
        args += ["--labels", write_raster(tmp_path / "lbl.tif", (image[0] > 1500).astype("uint8"))]
    result = run(*args, "--quiet")
    assert result.exit_code == 0, result.output
    return open_store(tmp_path / "store")


def test_export_tfrecord(tmp_path):
    store = make_store(tmp_path)
    result = run(
        "export",
        store.path,
        "--format",
        "tfrecord",
        "--out",
        tmp_path / "tfr",
        "--shards",
        2,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert f"wrote tfrecord export to {tmp_path / 'tfr'}" in result.output
    ids = sorted(
        decode_example(r)["chip_id"][0]
        for f in (tmp_path / "tfr").glob("*.tfrecord")
        for r in read_records(f)
    )
    assert ids == list(range(store.meta.num_chips))


def test_export_zarr(tmp_path):
    store = make_store(tmp_path)
    result = run(
        "export", store.path, "--format", "zarr", "--out", tmp_path / "chips.zarr", "--quiet"
    )
    assert result.exit_code == 0, result.output
    group = zarr.open_group(str(tmp_path / "chips.zarr"), mode="r")
    np.testing.assert_array_equal(group["image"][:], store.image[:])
    np.testing.assert_array_equal(group["mask"][:], store.mask[:])
    np.testing.assert_array_equal(group["minx"][:], store.index["minx"].to_numpy())
    splits = [group.attrs["split_names"][k] for k in group["split"][:]]
    assert splits == store.index["split"].tolist()
    assert group.attrs["bands"] == ["B2", "B3", "B4"] and group.attrs["crs_names"] == ["EPSG:32633"]


def test_export_store_without_labels_says_images_only(tmp_path):
    store = make_store(tmp_path, labels=False)
    result = run("export", store.path, "--out", tmp_path / "tfr", "--quiet")
    assert result.exit_code == 0, result.output
    assert "has no labels: exporting images only" in result.output
    assert "mask" not in decode_example(
        next(read_records(next((tmp_path / "tfr").glob("*.tfrecord"))))
    )


def test_export_bad_input(tmp_path):
    result = run("export", tmp_path, "--format", "csv", "--out", tmp_path / "x")
    assert result.exit_code == 2
    assert "'csv' is not one of 'tfrecord', 'zarr'" in result.output
    result = run("export", tmp_path, "--out", tmp_path / "x")
    assert result.exit_code == 2
    assert "error: " in result.output and "is not a terralearn chip store" in result.output
    assert not (tmp_path / "x").exists()


@pytest.fixture
def standin():
    pytest.importorskip("xee")
    from terralearn.io import earthengine
    from terralearn.testing import ee_standin

    earthengine._initialized.clear()
    with ee_standin.installed() as world:
        yield world
    earthengine._initialized.clear()


def test_ee_prepare_from_config_and_options(tmp_path, standin):
    config = tmp_path / "ee.yaml"
    config.write_text(
        "earthengine:\n"
        "  region: [11.02, 46.02, 11.05, 46.04]\n"
        "  start: 2023-07-01\n"
        "  end: 2023-08-01\n"
        "  bands: [B2, B3]\n"
        f"  cache: {tmp_path / 'cache'}\n"
        "split: random\n"
    )
    result = run(
        "ee", "prepare", "--config", config, "--scale", 30, "--labels", "worldcover",
        "--project", "my-project", "--out", tmp_path / "store", "--chip-size", 16, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    store = open_store(tmp_path / "store")
    assert store.bands == ["B2", "B3"] and store.classes[0] == "tree_cover"
    assert standin.initialized_with == {"project": "my-project"}
    assert json.loads((tmp_path / "store" / "store.json").read_text())["num_chips"] > 0


def test_ee_fetch_and_errors(tmp_path, standin):
    from terralearn.io import earthengine

    args = ["ee", "fetch", "--region", "11.02,46.02,11.05,46.04", "--start", "2023-07-01",
            "--end", "2023-08-01", "--scale", 60, "--cache", tmp_path / "c", "--quiet"]  # fmt: skip
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "image: " in result.output and "(6 bands," in result.output
    assert "labels: " in result.output and "(dynamic_world, 9 classes)" in result.output
    result = run(*args, "--collection", "NOPE/X", "--labels", "none")
    assert result.exit_code == 2
    assert "error: Earth Engine has no image or collection 'NOPE/X'" in result.output
    standin.authenticated = False
    earthengine._initialized.clear()  # a new process
    result = run(*args, "--bands", "B4")
    assert result.exit_code == 2 and "run `earthengine authenticate` once" in result.output
