"""The demo: the whole path end to end on a tiny plan, and its report."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from terralearn.cli.main import cli
from terralearn.demo import AREA_POINTS, DemoPlan, run_demo

TINY = DemoPlan(
    size=256,
    chip_size=32,
    model="unet_small",
    epochs=2,
    max_minutes=1.0,
    batch_size=8,
    lr=3e-3,
    block_chips=2,
)


@pytest.mark.slow
def test_demo_runs_end_to_end_and_writes_a_self_contained_report(tmp_path):
    out = tmp_path / "demo"
    result = run_demo(out, plan=TINY, progress=False)
    html = (out / "report.html").read_text()
    assert '<img src="data:image/png;base64,' in html
    assert len(re.findall(r"data:image/png;base64,", html)) >= 5  # maps, confusion, curves, samples
    assert 'src="http' not in html and 'href="http' not in html  # no external assets
    assert "test mean IoU" in html
    with rasterio.open(out / "prediction.tif") as pred, rasterio.open(out / "scene.tif") as scene:
        assert pred.crs == scene.crs and pred.transform == scene.transform
        assert (pred.width, pred.height) == (scene.width, scene.height)
    assert 0.0 <= result["test_mean_iou"] <= 1.0
    assert json.loads((out / "demo.json").read_text())["report"] == str(out / "report.html")
    _assert_area_section(out, html, result)
    # a second run replaces the demo's own folder
    run_demo(out, plan=TINY, progress=False)


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 2
    assert "was not made by `terralearn demo`" in result.output
    assert (tmp_path / "mine.txt").read_text() == "keep"


def _assert_area_section(out, html, result):
    """A row per class with the true area = exact label pixels x pixel area (10 m: 0.01 ha)."""
    section = html.split("<h2>Area by class</h2>", 1)[1].split("<h2>", 1)[0]
    assert "Olofsson et al. (2014)" in section
    assert f"a sample of {AREA_POINTS} points drawn from the predicted map" in section
    rows = re.findall(r"<tr><td>(.*?)</td></tr>", section)
    cells = {row.split("</td><td>")[0]: row.split("</td><td>")[1:] for row in rows}
    with rasterio.open(out / "prediction.tif") as pred, rasterio.open(out / "labels.tif") as lab:
        names = json.loads(pred.tags()["CLASSES"])
        labels, predicted = lab.read(1), pred.read(1)
    codes = sorted(set(np.unique(labels).tolist()) | set(np.unique(predicted).tolist()))
    assert sorted(cells) == sorted(names[str(c)] for c in codes if c != 255)
    true_ha = {names[str(c)]: np.count_nonzero(labels == c) * 0.01 for c in codes if c != 255}
    truth = json.loads((out / "area" / "truth.json").read_text())
    assert truth["unit"] == "ha"
    assert truth["true_area"] == pytest.approx(true_ha)
    assert sum(true_ha.values()) == pytest.approx(256 * 256 * 0.01)
    for name, row in cells.items():
        assert row[2] == f"{true_ha[name]:,.1f}"  # mapped | adjusted ± CI | true | in CI | ...
        assert row[3] == ("yes" if truth["truth_in_ci95"][name] else "NO")
    assert result["area_truth_in_ci95"] == truth["truth_in_ci95"]
    assert re.search(r"Overall accuracy \d\.\d{3} ± \d\.\d{3} \(95 % CI\)", section)
    assert '<img src="data:image/png;base64,' in section
    points = gpd.read_file(out / "area" / "points.gpkg")
    assert len(points) == AREA_POINTS and points["reference"].notna().all()
    report = json.loads((out / "area" / "area.json").read_text())
    assert report["points"] == AREA_POINTS and report["strata"] == "sample"
    assert (out / "area" / "area.png").stat().st_size > 10_000


def test_demo_cli_summarises_which_true_areas_lie_in_the_ci():
    from terralearn.cli.demo import _truth_in_ci

    assert _truth_in_ci({"water": True, "forest": True}) == "2 of 2 classes"
    assert _truth_in_ci({"water": True, "built-up": False}) == "1 of 2 classes (not: built-up)"
    assert _truth_in_ci(None) == "area section skipped (see the report)"
