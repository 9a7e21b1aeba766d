"""``terralearn synth`` through click's test runner."""

from __future__ import annotations

import numpy as np
import rasterio
from click.testing import CliRunner

from terralearn.cli.main import cli


def _run(*args):
    return CliRunner().invoke(cli, ["synth", *map(str, args)])


def test_synth_writes_image_and_labels(tmp_path):
    out, lab = tmp_path / "scene.tif", tmp_path / "labels.tif"
    result = _run(out, "--labels", lab, "--size", 96, 128, "--seed", 3, "--nodata-edges")
    assert result.exit_code == 0, result.output
    assert f"wrote {out} and {lab} (96 x 128 px)" in result.output
    with rasterio.open(out) as src:
        assert (src.count, src.height, src.width) == (6, 96, 128)
        image = src.read()
    with rasterio.open(lab) as src:
        labels = src.read(1)
    assert (labels == 255).any() and (image[:, labels == 255] == 0).all()
    # same seed through the Python API: same pixels
    from terralearn.datasets.synthetic import make_scene

    make_scene(
        tmp_path / "b.tif",
        tmp_path / "b_lab.tif",
        size=(96, 128),
        seed=3,
        nodata_edges=True,
        progress=False,
    )
    with rasterio.open(tmp_path / "b.tif") as src:
        np.testing.assert_array_equal(src.read(), image)


def test_synth_existing_output(tmp_path):
    out, lab = tmp_path / "scene.tif", tmp_path / "labels.tif"
    out.write_bytes(b"keep")
    result = _run(out, "--labels", lab, "--size", 64, 64)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == [
        f"error: output image {str(out)!r} already exists; pass --overwrite to replace it "
        "or choose another path"
    ]
    assert out.read_bytes() == b"keep" and not lab.exists()
    assert _run(out, "--labels", lab, "--size", 64, 64, "--overwrite").exit_code == 0
    assert lab.exists() and out.read_bytes() != b"keep"


def test_synth_bad_size(tmp_path):
    result = _run(tmp_path / "s.tif", "--labels", tmp_path / "l.tif", "--size", 32, 64)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: size 32 x 64 is out of range: --size takes HEIGHT WIDTH between 64 and "
        "100000 pixels"
    ]
    assert list(tmp_path.iterdir()) == []


def test_synth_help_says_synthetic():
    result = _run("--help")
    assert result.exit_code == 0
    assert "SYNTHETIC" in result.output and "exact" in result.output
