"""Class tables end to end: `prepare --classes / --label-product`, `info`, `predict --write`."""

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
from terralearn.io.labels import raster_class_metadata
from terralearn.store import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predict"))
from predict_helpers import make_run, smooth_scene, write_image  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real"
needs_real = pytest.mark.skipif(
    not REAL.is_dir(), reason="../shared/data/real is not beside the repo"
)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def image(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    data = rng.integers(1, 3000, size=(3, 64, 96), dtype=np.uint16)
    return write_raster(tmp_path / "img.tif", data, nodata=0, descriptions=["B2", "B3", "B4"])


@pytest.fixture
def corine(tmp_path) -> Path:
    """CORINE codes (uint16) on the image grid: 311 | 211 | 512, nodata 65535 in one corner."""
    data = np.full((64, 96), 311, np.uint16)
    data[:, 32:64] = 211
    data[:, 64:] = 512
    data[:4, :4] = 65535
    return write_raster(tmp_path / "clc.tif", data, nodata=65535)


def test_corine_uint16_labels_become_three_named_classes(tmp_path, image, corine):
    out = tmp_path / "store"
    result = run(
        "prepare", image, "--labels", corine, "--out", out, "--chip-size", 32, "--stride", 16,
        "--split", "random", "--val", 0.2, "--test", 0.2, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    store = open_store(out)
    assert store.class_names == [
        "Non-irrigated arable land", "Broad-leaved forest", "Water bodies",
    ]  # fmt: skip
    assert [c.code for c in store.class_table] == [211, 311, 512]
    meta = json.loads((out / "store.json").read_text())
    assert meta["class_table"][2] == {
        "index": 2, "code": 512, "name": "Water bodies", "color": "#80f2e6",
    }  # fmt: skip
    # masks hold indices: chip at column 32 is all 211 -> 0; counts are by index
    index = store.index
    row = index[(index["row_off"] == 32) & (index["col_off"] == 32)].iloc[0]
    np.testing.assert_array_equal(store.read([int(row["chip_id"])])["mask"][0], 0)
    assert (row["count_0"], row["count_1"], row["count_2"]) == (1024, 0, 0)
    assert set(index.columns) >= {"count_0", "count_1", "count_2"} and "count_3" not in index
    assert "Water bodies" in run("info", out).output


@needs_real
def test_nc_strata_with_classes_csv(tmp_path):
    nc = REAL / "nc"
    out = tmp_path / "nc_store"
    result = run(
        "prepare", nc / "landsat_multiband.tif", "--labels", nc / "strata.tif",
        "--classes", nc / "classes.csv", "--out", out, "--chip-size", 32, "--block-size", 96,
        "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    store = open_store(out)
    assert store.class_names == [
        "developed", "agriculture", "herbaceous", "shrubland", "forest", "water", "sediment",
    ]  # fmt: skip
    assert store.class_table.codes == [1, 2, 3, 4, 5, 6, 7]
    assert "class_0" not in result.output and "sediment" in result.output
    total = sum(int(store.class_counts(s).sum()) for s in ("train", "val", "test"))
    assert total > 100_000
    masks = np.asarray(store.mask[:])
    assert set(np.unique(masks).tolist()) <= set(range(7)) | {255}


def _bad(tmp_path, args, message):
    out = tmp_path / "bad_store"
    result = run("prepare", *args, "--out", out, "--chip-size", 32, "--split", "random", "--quiet")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0], lines[0]
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bad_store")]


def test_label_code_missing_from_classes_file(tmp_path, image, corine):
    table = tmp_path / "classes.csv"
    table.write_text("value,name\n311,forest\n211,arable\n")
    _bad(
        tmp_path,
        [image, "--labels", corine, "--classes", table],
        f"labels {corine} hold 1 value(s) not in --classes: 512 (2048 px) (2048 px in all)",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("value,name\n311,forest\n311,woods\n", "line 3: value 311 is listed twice (also line 2)"),
        ("value,name,color\n311,forest,green\n", "line 2: colour 'green' is not #RRGGBB"),
    ],
)
def test_bad_classes_file(tmp_path, image, corine, text, message):
    table = tmp_path / "classes.csv"
    table.write_text(text)
    _bad(tmp_path, [image, "--labels", corine, "--classes", table], message)


def test_label_product_that_does_not_fit(tmp_path, image, corine):
    _bad(
        tmp_path,
        [image, "--labels", corine, "--label-product", "nlcd"],
        "hold 3 value(s) not in --label-product nlcd: 211 (2048 px), 311 (2032 px), 512 (2048 px) "
        "(6128 px in all)",
    )


def _coded_run(tmp_path, codes, names, colors) -> Path:
    run_dir = make_run(tmp_path / "run", classes=dict(enumerate(names)))
    info = json.loads((run_dir / "run.json").read_text())
    info["class_table"] = [
        {"index": i, "code": c, "name": n, "color": col}
        for i, (c, n, col) in enumerate(zip(codes, names, colors, strict=True))
    ]
    (run_dir / "run.json").write_text(json.dumps(info))
    return run_dir


@pytest.mark.parametrize(
    ("codes", "dtype", "nodata"), [((11, 41, 82), "uint8", 255), ((111, 311, 523), "uint16", 65535)]
)
def test_predict_writes_codes_colours_and_category_names(tmp_path, codes, dtype, nodata):
    names, colors = ["water", "forest", "crops"], ["#0000ff", "#00ff00", "#ffaa00"]
    run_dir = _coded_run(tmp_path, codes, names, colors)
    scene = smooth_scene(64, 64)
    scene[:, :8, :8] = -9999  # nodata corner
    image = write_image(tmp_path / "scene.tif", scene, nodata=-9999)
    out = tmp_path / "map.tif"
    result = run("predict", run_dir, image, out, "--quiet")
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds:
        values = ds.read(1)
        assert ds.dtypes[0] == dtype and ds.nodata == nodata
        cmap = ds.colormap(1)
        assert cmap[codes[0]] == (0, 0, 255, 255) and cmap[codes[2]] == (255, 170, 0, 255)
        assert json.loads(ds.tags()["class_names"]) == {
            str(c): n for c, n in zip(codes, names, strict=True)
        }
    assert set(np.unique(values).tolist()) <= {*codes, nodata}
    assert (values[:8, :8] == nodata).all() and (values != nodata).sum() == 64 * 64 - 64
    # GDAL category names (for QGIS) in the PAM sidecar: read back as the map's class names
    xml = Path(f"{out}.aux.xml").read_text()
    assert xml.count("<Category") == codes[-1] + 1 + 1  # <CategoryNames> + one per value
    names_back, colors_back = raster_class_metadata(out)
    assert {c: names_back[c] for c in codes} == dict(zip(codes, names, strict=True))
    assert colors_back[codes[1]] == "#00ff00"

    indices = tmp_path / "indices.tif"
    result = run("predict", run_dir, image, indices, "--write", "indices", "--quiet")
    assert result.exit_code == 0, result.output
    with rasterio.open(indices) as ds:
        assert ds.dtypes[0] == "uint8" and ds.nodata == 255
        lut = np.full(nodata + 1, 255)
        lut[list(codes)] = [0, 1, 2]
        np.testing.assert_array_equal(ds.read(1), lut[values])
        assert ds.colormap(1)[1] == (0, 255, 0, 255)


def test_classes_file_merges_codes_and_ignores_some(tmp_path, image, corine):
    table = tmp_path / "classes.yaml"
    table.write_text("311: vegetation\n211: vegetation\n512: ignore\n")
    out = tmp_path / "merged"
    result = run(
        "prepare", image, "--labels", corine, "--classes", table, "--out", out, "--chip-size", 32,
        "--stride", 16, "--split", "random", "--val", 0.2, "--test", 0.2, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    store = open_store(out)
    assert store.class_names == ["vegetation"]
    assert store.class_table.to_json() == [
        {"index": 0, "code": 311, "name": "vegetation", "color": "#1f77b4", "values": [311, 211]},
        {"name": "ignore", "values": [512]},
    ]
    index = store.index
    water = index[index["col_off"] == 64].iloc[0]  # all 512: no label
    assert water["count_0"] == 0
    assert (store.read([int(water["chip_id"])])["mask"] == 255).all()
    total = sum(int(store.class_counts(s)[0]) for s in ("train", "val", "test"))
    assert total == int(index["count_0"].sum()) > 0


def test_store_without_class_table_still_opens(tmp_path, image, corine):
    out = tmp_path / "old"
    result = run(
        "prepare", image, "--labels", corine, "--out", out, "--chip-size", 32, "--split",
        "random", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "store.json").read_text())
    del meta["class_table"]  # as written before class tables
    (out / "store.json").write_text(json.dumps(meta))
    store = open_store(out)
    assert store.class_table.codes == [0, 1, 2]
    assert store.class_table.names == store.class_names == [
        "Non-irrigated arable land", "Broad-leaved forest", "Water bodies",
    ]  # fmt: skip
    assert store.class_table.colors == ["#1f77b4", "#ff7f0e", "#2ca02c"]
