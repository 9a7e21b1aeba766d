"""`terralearn stack` from the command line, and the other commands on the VRT it writes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from raster_helpers import write_raster
from terralearn.cli.main import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predict"))
from predict_helpers import make_run  # noqa: E402

H, W = 96, 112


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def band_files(tmp_path) -> tuple[list[Path], np.ndarray]:
    """B2, B3 float32 (nodata -99999) and B4 int16 (nodata -32768); the float32 stack they make."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:H, 0:W]
    b2 = (np.sin(y / 9) + rng.normal(0, 0.1, (H, W))).astype(np.float32)
    b3 = (np.cos(x / 11) + rng.normal(0, 0.1, (H, W))).astype(np.float32)
    b4 = (100 * np.sin((x + y) / 13)).astype(np.int16)
    b2[:6, :40] = -99999
    b4[60:, 100:] = -32768
    folder = tmp_path / "bands"
    folder.mkdir()
    files = [
        write_raster(folder / "B2.tif", b2, nodata=-99999),
        write_raster(folder / "B3.tif", b3, nodata=-99999),
        write_raster(folder / "B4.tif", b4, nodata=-32768),
    ]
    stacked = np.stack([b2, b3, b4.astype(np.float32)])
    stacked[2][b4 == -32768] = -99999
    return files, stacked


@pytest.fixture
def labels(tmp_path) -> Path:
    data = np.zeros((H, W), np.uint8)
    data[:, W // 2 :] = 1
    data[H // 2 :, :] += 1
    return write_raster(tmp_path / "labels.tif", data)


def test_stack_writes_a_vrt_and_info_reads_it(tmp_path, band_files):
    files, _ = band_files
    out = tmp_path / "bands" / "scene.vrt"
    result = run("stack", *files, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 3 bands" in result.output
    assert "VRT: float32, nodata -99999 for every band; source paths relative to the VRT" in (
        result.output
    )
    info = run("info", out, "--json")
    assert info.exit_code == 0, info.output
    described = json.loads(info.output)
    assert described["bands"] == ["B2", "B3", "B4"]
    assert (described["dtype"], described["nodata"], described["size"]) == (
        "float32",
        -99999,
        [H, W],
    )


def test_stack_names_option(tmp_path, band_files):
    files, _ = band_files
    out = tmp_path / "out" / "named.vrt"
    out.parent.mkdir()
    result = run("stack", *files, "--out", out, "--names", "blue,green,red")
    assert result.exit_code == 0, result.output
    assert "source paths absolute" in result.output
    with rasterio.open(out) as ds:
        assert ds.descriptions == ("blue", "green", "red")
    again = run("stack", *files[:2], "--out", out, "--names", "b,g", "--overwrite")
    assert again.exit_code == 0, again.output
    with rasterio.open(out) as ds:
        assert ds.descriptions == ("b", "g")


def test_prepare_on_the_vrt_gives_the_chips_of_the_prestacked_geotiff(tmp_path, band_files, labels):
    files, stacked = band_files
    vrt = tmp_path / "scene.vrt"
    assert run("stack", *files, "--out", vrt).exit_code == 0
    tif = write_raster(
        tmp_path / "scene.tif", stacked, nodata=-99999, descriptions=["B2", "B3", "B4"]
    )
    options = ["--labels", labels, "--chip-size", "32", "--stride", "16", "--split", "random"]
    for image, store in ((vrt, "store_vrt"), (tif, "store_tif")):
        result = run("prepare", image, *options, "--out", tmp_path / store, "--quiet")
        assert result.exit_code == 0, result.output
    from terralearn.store import open_store

    a, b = open_store(tmp_path / "store_vrt"), open_store(tmp_path / "store_tif")
    assert a.bands == b.bands == ["B2", "B3", "B4"]
    assert len(a.index) == len(b.index) > 0
    columns = ["row_off", "col_off", "split", "valid_fraction"]
    assert a.index[columns].equals(b.index[columns])
    for name in ("image", "valid", "mask"):
        np.testing.assert_array_equal(getattr(a, name)[:], getattr(b, name)[:])
    assert not a.valid[:].all()  # the nodata of B2 and of B4 both reached the valid mask
    assert a.stats == b.stats


def test_predict_on_the_vrt_writes_what_the_prestacked_geotiff_gives(tmp_path, band_files):
    files, stacked = band_files
    vrt = tmp_path / "scene.vrt"
    assert run("stack", *files, "--out", vrt).exit_code == 0
    tif = write_raster(
        tmp_path / "scene.tif", stacked, nodata=-99999, descriptions=["B2", "B3", "B4"]
    )
    run_dir = make_run(tmp_path / "run")
    for image in (vrt, tif):
        out = tmp_path / f"pred_{image.suffix[1:]}.tif"
        result = run("predict", run_dir, image, out, "--tile-size", "64", "--quiet")
        assert result.exit_code == 0, result.output
    with (
        rasterio.open(tmp_path / "pred_vrt.tif") as a,
        rasterio.open(tmp_path / "pred_tif.tif") as b,
    ):
        first, second = a.read(1), b.read(1)
    np.testing.assert_array_equal(first, second)
    assert first[H - 1, W - 1] == 255 and first[0, 0] == 255  # nodata of B4 and of B2


def _other_grid(tmp_path: Path) -> Path:
    return write_raster(tmp_path / "bands" / "B8.tif", np.ones((H, W), np.float32), res=20.0)


def _other_crs(tmp_path: Path) -> Path:
    return write_raster(
        tmp_path / "bands" / "B8.tif", np.ones((H, W), np.float32), crs="EPSG:32632"
    )


def _multiband(tmp_path: Path) -> Path:
    return write_raster(tmp_path / "bands" / "RGB.tif", np.ones((3, H, W), np.uint8))


def _not_a_raster(tmp_path: Path) -> Path:
    path = tmp_path / "bands" / "notes.tif"
    path.write_text("not a raster")
    return path


@pytest.mark.parametrize(
    ("extra", "options", "message"),
    [
        (None, ["--first-only"], "stack needs two or more band files, got 1"),
        (lambda t: t / "bands" / "B9.tif", [], "band file '"),
        (_other_grid, [], "is not on the grid of"),
        (_other_crs, [], "CRS EPSG:32632 != EPSG:32633"),
        (_multiband, [], "has 3 bands; stack takes one-band files"),
        (_not_a_raster, [], "is not a readable raster"),
        (None, ["--names", "a,b"], "--names gives 2 names for 3 band files"),
        (None, ["--names", "a,b,a"], "names must be non-empty and distinct"),
        (None, ["--out-tif"], "must end in .vrt"),
        (None, ["--exists"], "already exists; pass --overwrite"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    tmp_path, band_files, extra, options, message
):
    files, _ = band_files
    files = [str(f) for f in files]
    out = tmp_path / "out" / "scene.vrt"
    out.parent.mkdir()
    if extra is not None:
        files.append(str(extra(tmp_path)))
    if "--first-only" in options:
        files, options = files[:1], []
    if "--out-tif" in options:
        out, options = out.with_suffix(".tif"), []
    if "--exists" in options:
        out.write_text("keep me")
        options = []
    result = run("stack", *files, "--out", out, *options)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    if out.exists():  # the --overwrite case: the old file is untouched
        assert out.read_text() == "keep me"
        assert [p.name for p in out.parent.iterdir()] == ["scene.vrt"]
    else:  # no output, no temporary file left behind
        assert list(out.parent.iterdir()) == []


def test_other_grid_message_gives_the_gdalwarp_command(tmp_path, band_files):
    files, _ = band_files
    result = run("stack", *files, _other_grid(tmp_path), "--out", tmp_path / "s.vrt")
    assert result.exit_code == 2
    expected = (
        f"`gdalwarp -t_srs EPSG:32633 -te 500000.0 4999040.0 501120.0 5000000.0 -ts {W} {H} "
        f"{tmp_path / 'bands' / 'B8.tif'} B8_on_grid.tif`"
    )
    assert expected in result.output
    assert not (tmp_path / "s.vrt").exists()
