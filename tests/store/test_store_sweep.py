"""The streamed ``prepare``: a sliding window of rows gives the same store as whole arrays."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rasterio
import zarr
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import box

from raster_helpers import CRS, ORIGIN, write_raster
from terralearn.io import open_image
from terralearn.pixels import NO_LABEL
from terralearn.store import ChipStore, PrepareConfig, chips, prepare
from terralearn.store.chips import read_unit, sweep_rows, sweep_step

H, W, BLOCK = 200, 176, 16


def write_tiled(path, array, nodata=None, block=BLOCK):
    """A GeoTIFF in ``block`` x ``block`` tiles (so prepare reads it in many small steps)."""
    return write_raster(
        path, array, nodata, tiled=True, blockxsize=block, blockysize=block, compress="deflate"
    )


@pytest.fixture
def tiled_scene(tmp_path):
    """4-band uint16 image with nodata 0 (a corner and a stripe), 5-class labels, 16 px tiles."""
    rng = np.random.default_rng(7)
    image = rng.integers(1, 4000, size=(4, H, W), dtype=np.uint16)
    image[:, :37, :23] = 0
    image[2, 120:131, :] = 0  # one band missing: not valid
    labels = rng.integers(0, 5, size=(H, W), dtype=np.uint8)
    labels[150:170, 40:90] = NO_LABEL
    img = write_tiled(tmp_path / "image.tif", image, nodata=0)
    lbl = write_tiled(tmp_path / "labels.tif", labels, nodata=NO_LABEL)
    return img, lbl, image, labels


def _store(tmp_path, name, img, lbl, **kw) -> ChipStore:
    config = PrepareConfig(
        images=[str(img)], labels=None if lbl is None else [str(lbl)], out=str(tmp_path / name)
    )
    for key, value in kw.items():
        setattr(config, key, value)
    return ChipStore(prepare(config, progress=False))


def _assert_same_store(a: ChipStore, b: ChipStore) -> None:
    ga = zarr.open_group(str(a.path / "chips.zarr"), mode="r")
    gb = zarr.open_group(str(b.path / "chips.zarr"), mode="r")
    assert sorted(ga.array_keys()) == sorted(gb.array_keys())
    for key in ga.array_keys():
        assert ga[key].dtype == gb[key].dtype and ga[key].chunks == gb[key].chunks
        np.testing.assert_array_equal(ga[key][...], gb[key][...])
    ia = pd.read_parquet(a.path / "index.parquet")
    ib = pd.read_parquet(b.path / "index.parquet")
    assert ia.equals(ib) and list(ia.dtypes) == list(ib.dtypes)
    for name in ("stats.json", "store.json"):
        assert json.loads((a.path / name).read_text()) == json.loads((b.path / name).read_text())


OPTIONS = [
    dict(chip_size=24, stride=10, min_valid=0.3, split="random"),  # overlapping, unaligned
    dict(chip_size=32, sampler="random", num_samples=40, seed=3, split="random"),  # gaps
    dict(chip_size=40, block_size=80, buffer=0),
]


@pytest.mark.parametrize("options", OPTIONS)
def test_streamed_store_equals_whole_array_store(tmp_path, tiled_scene, monkeypatch, options):
    img, lbl, *_ = tiled_scene
    assert sweep_step(open_image(img), options["chip_size"]) <= 3 * BLOCK  # many small steps
    streamed = _store(tmp_path, "streamed", img, lbl, **options)
    # one step as tall as the image: the window holds the whole image, read at once
    monkeypatch.setattr(chips, "sweep_step", lambda image, size: image.shape[1])
    whole = _store(tmp_path, "whole", img, lbl, **options)
    _assert_same_store(streamed, whole)


def test_streamed_store_matches_numpy_on_every_chip(tmp_path, tiled_scene):
    img, lbl, image, labels = tiled_scene
    store = _store(tmp_path, "s", img, lbl, chip_size=24, stride=13, min_valid=0.0, split="random")
    valid = (image != 0).all(axis=0)
    mask = np.where(valid, labels, NO_LABEL)
    index = store.index
    # the grid keeps every chip (min_valid 0): 15 rows x 13 columns, edges snapped
    assert len(index) == 15 * 13
    chips_ = store.read(slice(None))
    for row in index.itertuples():
        window = np.s_[row.row_off : row.row_off + 24, row.col_off : row.col_off + 24]
        np.testing.assert_array_equal(chips_["image"][row.chip_id], image[(slice(None), *window)])
        np.testing.assert_array_equal(chips_["valid"][row.chip_id], valid[window])
        np.testing.assert_array_equal(chips_["mask"][row.chip_id], mask[window])
        assert row.valid_fraction == valid[window].sum() / 576.0
        for k in range(5):
            assert getattr(row, f"count_{k}") == int((mask[window] == k).sum())
    assert store.classes == {k: f"class_{k}" for k in range(5)}


def test_polygons_and_windowed_labels_give_the_whole_array_store(
    tmp_path, tiled_scene, monkeypatch
):
    import geopandas as gpd

    img, *_ = tiled_scene
    x0, y0 = ORIGIN
    polygons = tmp_path / "polygons.gpkg"
    gpd.GeoDataFrame(
        {"kind": ["water", "crop"]},
        geometry=[
            box(x0 + 50, y0 - 900, x0 + 700, y0 - 100),
            box(x0 + 900, y0 - 1990, x0 + 1500, y0 - 1200),
        ],
        crs=CRS,
    ).to_file(polygons)
    streamed = _store(tmp_path, "streamed", img, polygons, chip_size=32, min_valid=0.0)
    monkeypatch.setattr(chips, "sweep_step", lambda image, size: image.shape[1])
    whole = _store(tmp_path, "whole", img, polygons, chip_size=32, min_valid=0.0)
    _assert_same_store(streamed, whole)
    assert streamed.classes == {0: "crop", 1: "water"}


def test_read_unit_is_the_block_height(tmp_path, tiled_scene):
    img, *_ = tiled_scene
    assert read_unit(open_image(img)) == BLOCK
    striped = write_raster(tmp_path / "striped.tif", np.ones((2, 40, 30), np.uint16))
    with rasterio.open(striped) as ds:
        rows_per_strip = ds.block_shapes[0][0]
    assert read_unit(open_image(striped)) == rows_per_strip
    # whole blocks, at least one chip: 24 px chips on 16 px blocks read 32 rows at a time
    assert sweep_step(open_image(img), 24) == 32


# --- sweep_rows on its own --------------------------------------------------------------------


def _sweep(height, rows, size, step, every_row):
    """Run sweep_rows with buffers filled with row numbers; returns reads and what each chip saw."""
    width = 3
    buffers = [np.full((2, size + step, width), -1), np.full((size + step, width), -1)]
    reads = []

    def fill(start, stop, views):
        reads.append((start, stop))
        for view in views:
            view[...] = np.arange(start, stop)[:, None]

    seen = {}
    for row0, views, idx in sweep_rows(
        height, np.asarray(rows), size, step, buffers, fill, every_row
    ):
        for k in idx:
            r = rows[k] - row0
            seen[k] = (views[0][:, r : r + size, 0].copy(), views[1][r : r + size, 0].copy())
    return reads, seen


@given(
    height=st.integers(8, 120),
    size=st.integers(1, 8),
    step=st.integers(1, 12),
    data=st.data(),
    every_row=st.booleans(),
)
def test_sweep_rows_serves_each_chip_its_rows_reading_each_row_once(
    height, size, step, data, every_row
):
    step = max(step, size)
    rows = sorted(data.draw(st.lists(st.integers(0, height - size), max_size=20)))
    reads, seen = _sweep(height, rows, size, step, every_row)
    # every chip, with exactly its rows (and the window never outgrew size + step rows)
    assert sorted(seen) == list(range(len(rows)))
    for k, (pixels, mask) in seen.items():
        expected = np.arange(rows[k], rows[k] + size)
        np.testing.assert_array_equal(pixels, np.stack([expected, expected]))
        np.testing.assert_array_equal(mask, expected)
    # reads are disjoint, increasing, and end on multiples of step (or the last row)
    for (start, stop), (next_start, _) in zip(reads, reads[1:], strict=False):
        assert start < stop <= next_start
    assert all(stop % step == 0 or stop == height for _, stop in reads)
    read_rows = {r for start, stop in reads for r in range(start, stop)}
    needed = {r for start in rows for r in range(start, start + size)}
    if every_row:
        assert read_rows == set(range(height))
    else:
        assert needed <= read_rows
        # rows before the first chip and after the last are never read
        assert not rows or min(read_rows) == rows[0]
        assert not rows or max(read_rows) < -(-(rows[-1] + size) // step) * step


def test_sweep_rows_carries_overlapping_rows_over():
    reads, seen = _sweep(height=20, rows=[0, 3, 6, 9, 12], size=5, step=5, every_row=False)
    assert reads == [(0, 5), (5, 10), (10, 15), (15, 20)]
    assert len(seen) == 5
