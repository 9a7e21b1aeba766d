"""`terralearn assess` from the command line: the report, and every refusal with exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from PIL import Image
from shapely.geometry import Point

from raster_helpers import write_raster
from terralearn.accuracy import estimate_area
from terralearn.accuracy.sampling import sample_map
from terralearn.cli.main import cli

H, W = 60, 100


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def labelled(tmp_path):
    """A map (classes 1 forest, 2 water), its truth, and 60 sampled points labelled from truth."""
    rng = np.random.default_rng(2)
    truth = rng.choice(np.array([1, 2], dtype=np.uint8), size=(H, W), p=[0.7, 0.3])
    mapped = truth.copy()
    mapped[(truth == 1) & (rng.random((H, W)) < 0.1)] = 2  # some forest mapped as water
    mapped[0, :] = 255
    path = write_raster(tmp_path / "map.tif", mapped, nodata=255)
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(CLASSES=json.dumps({"1": "forest", "2": "water"}))
    points, _, _ = sample_map(path, tmp_path / "pts.gpkg", 60, min_per_class=25, seed=1)
    points["reference"] = [
        {1: "forest", 2: "water"}[v] for v in truth[points["row"], points["col"]]
    ]
    points.to_file(tmp_path / "pts.gpkg", layer="pts")
    return path, tmp_path / "pts.gpkg", points, mapped, truth


def test_assess_prints_and_writes_the_report(labelled, tmp_path):
    path, pts, points, mapped, truth = labelled
    out = tmp_path / "report"
    result = run("assess", path, "--reference", pts, "--out", out)
    assert result.exit_code == 0, result.output
    assert "60 points; strata = map classes (points from terralearn sample)" in result.output
    assert "overall accuracy" in result.output
    report = json.loads((out / "area.json").read_text())
    assert report["unit"] == "ha" and report["points"] == 60
    # the same numbers as the library function on the same counts (10 m pixels: 0.01 ha)
    counts = np.zeros((2, 2), int)
    np.add.at(counts, (points["map_code"] - 1, truth[points["row"], points["col"]] - 1), 1)
    pixels = [(mapped == 1).sum(), (mapped == 2).sum()]
    expected = estimate_area(counts, np.array(pixels) * 0.01)
    assert [c["name"] for c in report["classes"]] == ["forest", "water"]
    assert [c["area"] for c in report["classes"]] == pytest.approx(expected.area.tolist())
    assert [c["mapped_area"] for c in report["classes"]] == pytest.approx(
        [p * 0.01 for p in pixels]
    )
    assert report["overall"] == pytest.approx(expected.overall)
    assert report["error_matrix_counts"] == counts.tolist()
    rows = (out / "area.csv").read_text().splitlines()
    assert rows[0].startswith("code,name,points,mapped_area,area,area_ci95,users")
    assert rows[1].startswith("1,forest,")
    assert (out / "error_matrix.csv").read_text().splitlines()[
        0
    ] == "map \\ reference,forest,water,total"
    with Image.open(out / "area.png") as png:
        assert png.size == (1125, 345)  # 7.5 x (1.2 + 0.55 per class) inches at 150 dpi


def test_points_not_from_sample_are_post_stratified(labelled, tmp_path):
    """Points without strata (e.g. a simple random sample), labelled with class codes."""
    path, pts, points, _, _ = labelled
    codes = points["reference"].map({"forest": 1, "water": 2}).astype("int64")
    points[["geometry"]].assign(truth=codes).to_file(tmp_path / "srs.gpkg", layer="srs")
    result = run("assess", path, "--reference", tmp_path / "srs.gpkg", "--reference-column",
                 "truth", "--out", tmp_path / "srs")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "60 points not from terralearn sample: post-stratified by the map class" in result.output
    assert run("assess", path, "--reference", pts, "--out", tmp_path / "named").exit_code == 0
    by_codes = json.loads((tmp_path / "srs" / "area.json").read_text())
    by_names = json.loads((tmp_path / "named" / "area.json").read_text())
    assert by_codes["classes"] == by_names["classes"]
    assert by_codes["strata"] == "post-stratified by map class"


def _refused(result, message, tmp_path):
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("error: ")
    assert message in result.output
    assert not (tmp_path / "report").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report")]


def test_refuses_missing_or_empty_reference_column(labelled, tmp_path):
    path, pts, points, _, _ = labelled
    result = run("assess", path, "--reference", pts, "--reference-column", "truth",
                 "--out", tmp_path / "report")  # fmt: skip
    _refused(result, "has no column 'truth'", tmp_path)
    points.assign(reference=None).to_file(tmp_path / "empty.gpkg", layer="empty")
    result = run(
        "assess", path, "--reference", tmp_path / "empty.gpkg", "--out", tmp_path / "report"
    )
    _refused(result, "column 'reference' of", tmp_path)
    assert "is empty; label the points" in result.output


def test_refuses_unknown_reference_class(labelled, tmp_path):
    path, _, points, _, _ = labelled
    points.loc[3, "reference"] = "snow"
    points.to_file(tmp_path / "bad.gpkg", layer="bad")
    result = run("assess", path, "--reference", tmp_path / "bad.gpkg", "--out", tmp_path / "report")
    _refused(
        result, "reference class 'snow' in column 'reference' is not in the map's class", tmp_path
    )


def test_refuses_points_outside_the_map(labelled, tmp_path):
    path, _, points, _, _ = labelled
    points.loc[0, "geometry"] = Point(0, 0)
    points.to_file(tmp_path / "far.gpkg", layer="far")
    result = run("assess", path, "--reference", tmp_path / "far.gpkg", "--out", tmp_path / "report")
    _refused(result, "1 point(s) of", tmp_path)
    assert "lie outside the map" in result.output


def test_refuses_a_stratum_with_fewer_than_two_points(labelled, tmp_path):
    path, _, points, _, _ = labelled
    few = points[(points.map_code == 1) | (points.index == points.index[points.map_code == 2][0])]
    few.to_file(tmp_path / "few.gpkg", layer="few")
    result = run("assess", path, "--reference", tmp_path / "few.gpkg", "--out", tmp_path / "report")
    _refused(result, "map class 'water' (code 2) has 1 labelled point(s)", tmp_path)


def test_refuses_points_in_a_crs_that_cannot_be_transformed(labelled, tmp_path):
    path, _, points, _, _ = labelled
    local = (
        'LOCAL_CS["site grid",LOCAL_DATUM["site",32767],UNIT["metre",1],'
        'AXIS["x",EAST],AXIS["y",NORTH]]'
    )
    points.set_crs(local, allow_override=True).to_file(tmp_path / "local.gpkg", layer="local")
    result = run(
        "assess", path, "--reference", tmp_path / "local.gpkg", "--out", tmp_path / "report"
    )
    _refused(result, "cannot be transformed to the map's", tmp_path)


def test_reprojected_points_give_the_same_estimate(labelled, tmp_path):
    path, pts, points, _, _ = labelled
    points.to_crs("EPSG:4326").to_file(tmp_path / "wgs84.gpkg", layer="wgs84")
    first = run("assess", path, "--reference", pts, "--out", tmp_path / "a")
    second = run("assess", path, "--reference", tmp_path / "wgs84.gpkg", "--out", tmp_path / "b")
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    a = json.loads((tmp_path / "a" / "area.json").read_text())
    b = json.loads((tmp_path / "b" / "area.json").read_text())
    assert a["classes"] == b["classes"]


def test_real_nc_strata_sampled_and_assessed_against_itself(nc_real_dir, tmp_path):
    """Defaults on the real NC class map (float32 codes 1-7, EPSG:3358, 28.5 m pixels)."""
    strata = nc_real_dir / "strata.tif"
    pts = tmp_path / "pts.gpkg"
    sampled = run("sample", strata, "--n", 400, "--out", pts, "--reference-from", strata)
    assert sampled.exit_code == 0, sampled.output
    assert "400 points (seed 0); reference filled at 400 points" in sampled.output
    result = run("assess", strata, "--reference", pts, "--out", tmp_path / "report")
    assert result.exit_code == 0, result.output
    assert "overall accuracy 1.000 ± 0.000" in result.output
    report = json.loads((tmp_path / "report" / "area.json").read_text())
    rows = {row["code"]: row for row in report["classes"]}
    assert sorted(rows) == [1, 2, 3, 4, 5, 6, 7]
    assert rows[7]["points"] == 50  # sediment, 194 px: raised to --min-per-class
    assert rows[5]["mapped_area"] == pytest.approx(107_643 * 28.5**2 / 1e4)
    assert rows[5]["area"] == pytest.approx(rows[5]["mapped_area"])
    assert rows[5]["area_ci95"] == 0
