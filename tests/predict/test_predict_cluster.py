"""Prediction on a real Dask cluster (``dask scheduler`` + ``dask worker`` processes on
127.0.0.1): workers read their own windows (a path, an HTTP URL) and write their own chunks."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import zarr
from click.testing import CliRunner
from predict_helpers import make_run, smooth_scene, write_image
from rasterio.shutil import copy as copy_raster

from terralearn.cli.main import cli
from terralearn.errors import ConfigError
from terralearn.predict import engine, predict_raster, workers
from terralearn.testing.cluster import dask_cluster, http_server

pytest.importorskip("distributed")

TILE = 96  # "crop" tiles: overlap 16, cores of 80 px


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with dask_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> tuple[Path, Path]:
    """A run and a 300 x 340 COG with a nodata corner."""
    folder = tmp_path_factory.mktemp("scene")
    data = smooth_scene(300, 340)
    data[:, :20, :30] = -9999.0
    tif = write_image(folder / "plain.tif", data, nodata=-9999.0)
    copy_raster(tif, folder / "image.tif", driver="COG", BLOCKSIZE=64)
    return make_run(folder / "run"), folder / "image.tif"


@pytest.fixture
def one_thread():
    """This process on one torch thread, as the workers: the same sums in the same order."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _zarr(path: Path) -> dict[str, np.ndarray]:
    group = zarr.open_group(path, mode="r")
    return {name: group[name][...] for name in ("class", "probabilities", "uncertainty")}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_workers_read_a_path_and_a_url_and_write_what_one_process_writes(
    cluster, scene, tmp_path, one_thread
):
    run, image = scene
    options = {"tile_size": TILE, "probabilities": True, "uncertainty": True, "progress": False}
    single = predict_raster(run, image, tmp_path / "single.zarr", **options)
    # the workers run in another folder: a relative path would not do
    by_path = predict_raster(
        run, os.path.relpath(image), tmp_path / "path.zarr", dask=cluster.address, **options
    )
    with http_server(image.parent) as base:
        by_url = predict_raster(
            run, f"{base}/{image.name}", tmp_path / "url.zarr", dask=cluster.address, **options
        )
    expected = _zarr(single.paths["class"])
    assert expected["class"].shape == (300, 340)
    assert (expected["class"][:20, :30] == 255).all() and (expected["class"][20:] != 255).all()
    for result in (by_path, by_url):
        got = _zarr(result.paths["class"])
        for name in ("class", "probabilities", "uncertainty"):
            np.testing.assert_array_equal(got[name], expected[name])
        assert result.class_counts == single.class_counts
    # each worker wrote whole chunks: the chunks are the 80 px cores of the tiles
    assert zarr.open_group(by_url.paths["class"], mode="r")["class"].chunks == (80, 80)
    assert (single.blend, single.tile_size, single.overlap, single.tiles) == ("crop", 96, 16, 20)
    assert _leftovers(tmp_path) == []


def test_a_cog_from_workers_is_built_from_their_zarr(cluster, scene, tmp_path, one_thread):
    run, image = scene
    single = predict_raster(run, image, tmp_path / "single.tif", tile_size=TILE, progress=False)
    scaled = predict_raster(
        run, image, tmp_path / "scaled.tif", tile_size=TILE, dask=cluster.address, progress=False
    )
    with rasterio.open(single.paths["class"]) as a, rasterio.open(scaled.paths["class"]) as b:
        assert b.profile == a.profile and b.tags() == a.tags()
        assert b.colormap(1) == a.colormap(1)
        np.testing.assert_array_equal(b.read(), a.read())
    assert (tmp_path / "scaled.tif.aux.xml").read_text() == (
        tmp_path / "single.tif.aux.xml"
    ).read_text()
    assert _leftovers(tmp_path) == []  # the workers' Zarr store is gone


def test_a_url_the_workers_cannot_read_is_one_line(cluster, scene, tmp_path):
    run, image = scene
    out = tmp_path / "out.zarr"
    # the server answers the header (what this process reads to plan) but not the pixels
    with http_server(image.parent, max_offset=16383) as base:
        url = f"{base}/{image.name}"
        result = CliRunner().invoke(
            cli, ["predict", str(run), url, str(out), "--dask", cluster.address, "--quiet"]
        )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: a Dask worker (tcp://127.0.0.1:")
    assert f"cannot read {url!r}: {image.name}, band 1: IReadBlock failed" in lines[0]
    assert "got 0 bytes" in lines[0]  # GDAL's words for the refused range request
    assert lines[0].endswith("give a path or URL that every worker can open")
    assert not out.exists() and _leftovers(tmp_path) == []


def test_a_scheduler_that_does_not_answer_is_one_line(scene, tmp_path):
    run, image = scene
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "out.zarr"
    result = CliRunner().invoke(
        cli,
        ["predict", str(run), str(image), str(out), "--dask", f"tcp://127.0.0.1:{port}",
         "--dask-timeout", "2", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(
        f"error: --dask 'tcp://127.0.0.1:{port}': no Dask scheduler answered within 2 s ("
    )
    assert lines[0].endswith("or use --dask local:N")
    assert not out.exists() and _leftovers(tmp_path) == []


def test_smooth_blending_and_in_memory_images_are_refused_with_dask(scene, tmp_path):
    run, image = scene
    with pytest.raises(ConfigError, match=r"^--blend smooth cannot be used with --dask"):
        predict_raster(run, image, tmp_path / "o.zarr", blend="smooth", dask="tcp://x:1")
    with pytest.raises(ConfigError, match=r"^--dask needs the image as a path or URL"):
        predict_raster(run, np.zeros((3, 8, 8)), tmp_path / "o.zarr", dask="tcp://x:1")


def test_a_failing_task_leaves_nothing_and_a_rerun_completes(cluster, scene, tmp_path):
    run, image = scene
    broken = tmp_path / "inputs" / "broken.tif"
    broken.parent.mkdir()
    data = image.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # header and the first tiles: later reads fail
    out = tmp_path / "out.zarr"
    result = CliRunner().invoke(
        cli, ["predict", str(run), str(broken), str(out), "--dask", cluster.address, "--quiet",
              "--tile-size", str(TILE)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert f"cannot read {str(broken)!r}" in result.output
    assert not out.exists() and _leftovers(tmp_path) == []
    broken.write_bytes(data)  # the file is whole again: the same command completes
    result = CliRunner().invoke(
        cli, ["predict", str(run), str(broken), str(out), "--dask", cluster.address, "--quiet",
              "--tile-size", str(TILE)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert zarr.open_group(out, mode="r")["class"].shape == (300, 340)


def test_a_worker_killed_mid_run_leaves_nothing_half_written(tmp_path, monkeypatch, one_thread):
    # a slower job (more, smaller parts; test-time augmentation) so the kill lands mid-run
    data = smooth_scene(960, 960)
    image = write_image(tmp_path / "image.tif", data)
    run = make_run(tmp_path / "run")
    monkeypatch.setattr(workers, "PART_ROWS", 1)
    monkeypatch.setattr(engine, "BLOCK_PX", 240)  # 3 tiles per block: 36 parts of 3 tiles
    options = {"tile_size": TILE, "batch_size": 3, "tta": True, "progress": False}
    reference = predict_raster(run, image, tmp_path / "single.zarr", **options)
    out = tmp_path / "out.zarr"
    with dask_cluster(tmp_path / "cluster") as running:
        outcome: dict[str, object] = {}

        def predict() -> None:
            try:
                outcome["result"] = predict_raster(run, image, out, dask=running.address, **options)
            except BaseException as exc:  # noqa: BLE001  (reported below)
                outcome["error"] = exc

        thread = threading.Thread(target=predict)
        thread.start()
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".out.zarr.tmp-*/class/c/*")):  # a first chunk is written
            assert time.monotonic() < deadline and thread.is_alive(), outcome
            time.sleep(0.05)
        os.killpg(running.workers[1].pid, signal.SIGKILL)
        assert not out.exists()  # mid-run: nothing at the final path
        thread.join(timeout=300)
        assert not thread.is_alive()
    # the scheduler ran the lost parts again on the other worker
    assert "error" not in outcome, outcome
    np.testing.assert_array_equal(
        zarr.open_group(out, mode="r")["class"][...],
        zarr.open_group(reference.paths["class"], mode="r")["class"][...],
    )
    assert _leftovers(tmp_path) == []
