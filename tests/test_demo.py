"""The demo: the whole path end to end on a tiny plan, and its report."""

from __future__ import annotations

import json
import re

import pytest
import rasterio
from click.testing import CliRunner

from terralearn.cli.main import cli
from terralearn.demo import DemoPlan, run_demo

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
    # a second run replaces the demo's own folder
    run_demo(out, plan=TINY, progress=False)


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 2
    assert "was not made by `terralearn demo`" in result.output
    assert (tmp_path / "mine.txt").read_text() == "keep"
