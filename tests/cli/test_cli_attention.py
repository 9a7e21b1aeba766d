"""``terralearn attention``: figure and GeoTIFF outputs, the default path, and bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "attention"))

from attention_helpers import ORIGIN, RES, make_run, write_image  # noqa: E402

from terralearn.cli.main import cli  # noqa: E402


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("attention_cli")
    data = np.random.default_rng(0).uniform(0, 1, (3, 80, 96)).astype(np.float32)
    return make_run(root / "run"), write_image(root / "image.tif", data), root


def invoke(*args: str):
    return CliRunner().invoke(cli, ["attention", *map(str, args)])


def test_figure_and_geotiff(scene, tmp_path) -> None:
    run, image, _ = scene
    png, tif = tmp_path / "a.png", tmp_path / "a.tif"
    x, y = ORIGIN[0] + 50.5 * RES, ORIGIN[1] - 30.5 * RES  # pixel column 50, row 30
    result = invoke(run, image, "--at", x, y, "--out", png, "--out", tif, "--window", 64)
    assert result.exit_code == 0, result.output
    assert (
        "column 50, row 30" in result.output and "64 x 64 px at column 18, row 0" in result.output
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with rasterio.open(tif) as src:
        assert src.count == 4 and src.descriptions[0] == "rollout"  # rollout + 3 heads
        assert (src.width, src.height) == (64, 64)
        assert src.transform.c == ORIGIN[0] + 18 * RES and src.transform.f == ORIGIN[1]
        assert src.read(1).sum() / 64 == pytest.approx(1.0, abs=1e-4)


def test_pixel_point_and_default_output(scene) -> None:
    run, image, _ = scene
    result = invoke(run, image, "--at", 7, 70, "--pixel", "--head-fusion", "max")
    assert result.exit_code == 0, result.output
    assert (run / "figures" / "attention_c7_r70.png").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", 96, 3, "--pixel"], "--at 96 3 --pixel is outside image"),
        (["--at", 0, 0], "--at 0 0 is outside image"),
        (["--at", 5, 5, "--pixel", "--out", "maps.jpg"], "--out 'maps.jpg' has an unknown suffix"),
        (["--at", 5, 5, "--pixel", "--window", 2], "--window must be an integer of at least"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(scene, args, message: str) -> None:
    run, image, _ = scene
    result = invoke(run, image, *args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_a_run_without_attention(scene) -> None:
    _, image, root = scene
    run = make_run(root / "unet_run", model="unet_small")
    result = invoke(run, image, "--at", 5, 5, "--pixel")
    assert result.exit_code == 2
    assert "uses model 'unet_small', which has no attention maps" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_an_existing_output_needs_overwrite(scene, tmp_path) -> None:
    run, image, _ = scene
    out = tmp_path / "exists.tif"
    out.write_bytes(b"old")
    result = invoke(run, image, "--at", 5, 5, "--pixel", "--out", out)
    assert result.exit_code == 2 and "already exists; pass --overwrite" in result.output
    assert out.read_bytes() == b"old"
    result = invoke(run, image, "--at", 5, 5, "--pixel", "--out", out, "--overwrite")
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as src:
        assert src.count == 4


def test_device_cpu_gives_the_default_maps_and_a_missing_gpu_one_line(
    scene, tmp_path, monkeypatch
) -> None:
    run, image, _ = scene
    default, cpu = tmp_path / "auto.tif", tmp_path / "cpu.tif"
    assert invoke(run, image, "--at", 40, 40, "--pixel", "--out", default).exit_code == 0
    result = invoke(run, image, "--at", 40, 40, "--pixel", "--out", cpu, "--device", "cpu")
    assert result.exit_code == 0, result.output
    with rasterio.open(default) as a, rasterio.open(cpu) as b:
        assert np.array_equal(a.read(), b.read())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only build of torch
    monkeypatch.setattr(torch.version, "cuda", None)
    out = tmp_path / "cuda.png"
    result = invoke(run, image, "--at", 40, 40, "--pixel", "--out", out, "--device", "cuda")
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"error: --device cuda: no CUDA device is visible to torch {torch.__version__} "
        "(a CPU-only build); available here: cpu; use --device cpu or auto, or install a CUDA "
        "build of torch"
    ]
    assert not out.exists()
