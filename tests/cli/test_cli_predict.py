"""`terralearn predict` from the command line: outputs, one-line errors, and a killed run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predict"))
from predict_helpers import make_run, smooth_scene, write_image  # noqa: E402

from terralearn.cli.main import cli  # noqa: E402


def run(*args) -> object:
    return CliRunner().invoke(cli, ["predict", *(str(a) for a in args)])


@pytest.fixture
def run_dir(tmp_path) -> Path:
    return make_run(tmp_path / "run")


@pytest.fixture
def image(tmp_path) -> Path:
    return write_image(tmp_path / "img.tif", smooth_scene(120, 150))


def test_predict_writes_a_cog_and_says_where(run_dir, image, tmp_path):
    out = tmp_path / "out.tif"
    result = run(run_dir, image, out, "--tile-size", "64", "--overlap", "16", "--quiet",
                 "--probabilities", "--uncertainty", "--vectorize")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"written: {out} (class)" in result.output
    assert (
        "predicted 120 x 150 px" in result.output
        and "in 12 tiles of 64 px, overlap 16 (crop)" in result.output
    )
    for name in ("out.tif", "out_probabilities.tif", "out_uncertainty.tif", "out.gpkg"):
        assert (tmp_path / name).is_file()
    with rasterio.open(out) as src, rasterio.open(image) as ref:
        assert (src.crs, src.transform, src.shape) == (ref.crs, ref.transform, ref.shape)
    again = run(run_dir, image, out, "--quiet")
    assert again.exit_code == 2 and "pass --overwrite" in again.output


def _one_error_line(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_band_mismatch_is_one_line(run_dir, tmp_path):
    image = write_image(tmp_path / "x.tif", smooth_scene(40, 40), bands=["B2", "B3", "B8"])
    _one_error_line(run(run_dir, image, tmp_path / "o.tif"), "missing ['B4']", "'B8'")
    assert not (tmp_path / "o.tif").exists()


def test_pixel_size_is_one_line(run_dir, tmp_path):
    image = write_image(tmp_path / "x.tif", smooth_scene(40, 40), res=40.0)
    _one_error_line(run(run_dir, image, tmp_path / "o.tif"), "pixel size of 40", "trained at 10",
                    "gdalwarp -tr 10 10")  # fmt: skip


def test_extension_is_one_line(run_dir, image, tmp_path):
    _one_error_line(run(run_dir, image, tmp_path / "o.jpg"), "unsupported extension '.jpg'")


def test_overlap_is_one_line(run_dir, image, tmp_path):
    result = run(run_dir, image, tmp_path / "o.tif", "--tile-size", "128", "--overlap", "200")
    _one_error_line(result, "--overlap 200 must be smaller than --tile-size 128")


def test_missing_checkpoint_is_one_line(tmp_path, image):
    empty = make_run(tmp_path / "empty", checkpoint=False)
    _one_error_line(run(empty, image, tmp_path / "o.tif"), "has no checkpoint best.ckpt")


def test_bad_dask_spec_is_one_line(run_dir, image, tmp_path):
    pytest.importorskip("distributed")
    result = run(run_dir, image, tmp_path / "o.tif", "--dask", "local:zero")
    _one_error_line(result, "--dask 'local:zero'", "local:4")


def test_sigkill_leaves_no_output_and_a_rerun_completes(run_dir, tmp_path):
    image = write_image(tmp_path / "big.tif", smooth_scene(1024, 1024))
    out = tmp_path / "big_out.tif"
    args = ["predict", str(run_dir), str(image), str(out), "--tile-size", "128", "--quiet"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "terralearn.cli.main", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        # wait until rows are being written (the staging file exists), then kill
        while not list(tmp_path.glob(".big_out.tif.tmp-*.stage.tif")):
            assert proc.poll() is None, "predict ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()
    result = CliRunner().invoke(cli, [*args, "--tile-size", "256"])
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as src:
        classes = src.read(1)
    assert classes.shape == (1024, 1024) and (classes < 3).all()
    assert np.unique(classes).size >= 1


def test_a_device_this_machine_lacks_is_one_line(run_dir, image, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    result = run(run_dir, image, tmp_path / "o.tif", "--device", "cuda")
    _one_error_line(result, "--device cuda: no CUDA device is visible to torch", "--device cpu")
    assert not (tmp_path / "o.tif").exists()


def test_device_cpu_gives_the_auto_map_on_a_cpu_machine(run_dir, image, tmp_path):
    import rasterio
    import torch

    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("auto is not the CPU here")
    for name, device in (("auto.tif", "auto"), ("cpu.tif", "cpu")):
        assert run(run_dir, image, tmp_path / name, "--device", device).exit_code == 0
    with rasterio.open(tmp_path / "auto.tif") as a, rasterio.open(tmp_path / "cpu.tif") as b:
        assert np.array_equal(a.read(), b.read())
