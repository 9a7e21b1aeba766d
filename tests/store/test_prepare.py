"""The chip store: contents equal the source, splits keep their buffer, stats use train only."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml

from raster_helpers import write_raster
from terralearn.errors import ConfigError
from terralearn.sampling.splits import block_split, buffer_violations
from terralearn.store import ChipStore, PrepareConfig, iter_chips, prepare
from terralearn.store.prepare import parse_distance


def _prepare(tmp_path, img, lbl=None, **kw) -> ChipStore:
    config = PrepareConfig(
        images=[str(img)], labels=[str(lbl)] if lbl else None, out=str(tmp_path / "store"), **kw
    )
    return ChipStore(prepare(config, progress=False))


def test_chips_equal_source_pixels_at_their_windows(tmp_path, scene):
    img, lbl, image, labels = scene
    store = _prepare(tmp_path, img, lbl, chip_size=32, stride=24, min_valid=0.0, split="random")
    index = store.index
    assert len(index) == store.meta.num_chips == store.image.shape[0]
    chips = store.read(slice(None))
    with rasterio.open(img) as src:
        for row in index.itertuples():
            window = rasterio.windows.Window(row.col_off, row.row_off, 32, 32)
            np.testing.assert_array_equal(chips["image"][row.chip_id], src.read(window=window))
            expected = labels[row.row_off : row.row_off + 32, row.col_off : row.col_off + 32].copy()
            valid = (
                image[:, row.row_off : row.row_off + 32, row.col_off : row.col_off + 32] != 0
            ).all(0)
            expected[~valid] = 255
            np.testing.assert_array_equal(chips["mask"][row.chip_id], expected)
            np.testing.assert_array_equal(chips["valid"][row.chip_id], valid)
            assert row.valid_fraction == pytest.approx(valid.mean())
            assert row.count_1 == int((expected == 1).sum())
            # bounds in map units match the window
            assert (row.minx, row.maxy) == src.xy(row.row_off, row.col_off, offset="ul")


def test_block_split_keeps_buffer_between_splits(tmp_path, scene):
    img, lbl, *_ = scene
    store = _prepare(tmp_path, img, lbl, chip_size=16, block_size=48, buffer=16, min_valid=0.0)
    index = store.index
    assert set(index["split"]) == {"train", "val", "test"}
    boxes = index[["minx", "miny", "maxx", "maxy"]].to_numpy()
    # buffer of 16 px = 160 m: no chip of one split closer than that to another split's chip
    assert buffer_violations(boxes, index["split"].to_numpy(), 160.0) == 0
    assert store.meta.splits == index["split"].value_counts().to_dict()


def test_statistics_come_from_training_chips_only(tmp_path, scene):
    img, lbl, *_ = scene
    store = _prepare(tmp_path, img, lbl, chip_size=32, block_size=64, buffer=0)
    train = store.read(store.split_ids("train"))
    pixels = train["image"].transpose(1, 0, 2, 3).reshape(3, -1)[:, train["valid"].ravel()]
    stats = json.loads((store.path / "stats.json").read_text())
    for k, band in enumerate(["B2", "B3", "B4"]):
        assert stats[band]["mean"] == pytest.approx(pixels[k].mean(), rel=1e-9)
        assert stats[band]["std"] == pytest.approx(pixels[k].std(), rel=1e-9)
        assert stats[band]["min"] == pixels[k].min()


def test_polygon_labels_and_class_mapping_saved(tmp_path, scene, polygons):
    img, *_ = scene
    store = _prepare(tmp_path, img, polygons, chip_size=40, split="random", min_valid=0.0)
    assert store.classes == {0: "forest", 1: "water"}
    counts = store.index[["count_0", "count_1"]].to_numpy().sum(axis=0)
    # chips tile the 200 x 240 grid exactly (stride = size = 40): every labelled pixel once;
    # the water square (rows 10-59, cols 10-69) loses its overlap with the nodata corner
    assert counts.tolist() == [110 * 90, 60 * 50 - 10 * 20]
    assert store.index["split"].isin(["train", "val", "test"]).all()


def test_store_without_labels_has_no_mask(tmp_path, scene):
    img, *_ = scene
    store = _prepare(tmp_path, img, chip_size=50)
    assert not store.has_labels and store.mask is None
    assert "mask" not in store.read([0])


def test_min_valid_skips_chips_in_nodata(tmp_path, scene):
    img, lbl, *_ = scene
    store = _prepare(tmp_path, img, lbl, chip_size=20, min_valid=0.99, split="random")
    # the 20 x 30 nodata corner removes chip (0, 0) entirely and (0, 20) half
    offsets = set(map(tuple, store.index[["row_off", "col_off"]].to_numpy().tolist()))
    assert (0, 0) not in offsets and (0, 20) not in offsets and (0, 40) in offsets


def test_iter_chips_matches_numpy_slicing(scene):
    img, _, image, _ = scene
    chips = list(iter_chips(img, 64, stride=50))
    assert [(r, c) for r, c, _ in chips][:5] == [(0, 0), (0, 50), (0, 100), (0, 150), (0, 176)]
    for r, c, chip in chips:
        np.testing.assert_array_equal(chip, image[:, r : r + 64, c : c + 64])
    assert len(chips) == 4 * 5


@pytest.mark.parametrize(
    ("value", "expected"),
    [(512, 512.0), ("512", 512.0), ("300m", 30.0), ("2km", 200.0), ("64px", 64.0)],
)
def test_parse_distance(value, expected):
    assert parse_distance(value, 10.0, "--block-size") == expected


def test_parse_distance_rejects_garbage():
    with pytest.raises(ConfigError, match=r"--block-size '5 miles' is not a distance"):
        parse_distance("5 miles", 10.0, "--block-size")


def test_index_is_a_plain_parquet_table(tmp_path, scene):
    img, lbl, *_ = scene
    store = _prepare(tmp_path, img, lbl, chip_size=50, split="random")
    table = pd.read_parquet(store.path / "index.parquet")
    for column in (
        "chip_id",
        "row_off",
        "col_off",
        "minx",
        "maxy",
        "crs",
        "split",
        "valid_fraction",
        "weight",
    ):
        assert column in table
    assert (table["crs"] == "EPSG:32633").all()


def _split_table(store: ChipStore) -> dict[str, tuple[int, list[int]]]:
    """Chips and the classes present (labelled pixels > 0) per split."""
    index = store.index
    columns = sorted((c for c in index.columns if c.startswith("count_")), key=lambda c: int(c[6:]))
    result = {}
    for split in ("train", "val", "test"):
        rows = index[index["split"] == split]
        result[split] = (len(rows), [int(c[6:]) for c in columns if rows[c].sum() > 0])
    return result


@pytest.mark.parametrize(
    ("size", "chip", "block", "chips", "classes"),
    [
        # 16 x 16 chips, blocks of 5 x 5 chips: 16 blocks; bare soil (4) is not in the scene
        (512, 32, 160, {"train": 147, "val": 32, "test": 36}, [0, 1, 2, 3, 5]),
        (1024, 64, 320, {"train": 147, "val": 35, "test": 35}, [0, 1, 2, 3, 4, 5]),
    ],
)
def test_default_geometry_fills_every_split_on_synthetic_scenes(
    tmp_path, caplog, size, chip, block, chips, classes
):
    from terralearn.datasets.synthetic import make_scene

    scene = make_scene(tmp_path / "s.tif", tmp_path / "l.tif", size=(size, size), progress=False)
    with caplog.at_level("INFO", logger="terralearn"):
        store = _prepare(tmp_path, scene.image, scene.labels)
    assert f"chip size {chip} px (scene {size} x {size} px; give --chip-size to choose)" in (
        caplog.messages
    )
    assert any(m.startswith(f"block size {block} px = ") for m in caplog.messages)
    saved = yaml.safe_load((store.path / "config.yaml").read_text())
    assert (saved["chip_size"], saved["block_size"]) == (chip, block)
    assert store.meta.chip_size == chip
    assert _split_table(store) == {split: (n, classes) for split, n in chips.items()}


def test_default_geometry_on_the_nc_scene(tmp_path, caplog, nc_landsat_scene):
    image, labels = nc_landsat_scene
    with caplog.at_level("INFO", logger="terralearn"):
        store = _prepare(tmp_path, image, labels)
    assert caplog.messages[:2] == [
        "chip size 32 px (scene 489 x 443 px; give --chip-size to choose)",
        "block size 128 px = 4 x 4 chips (16 blocks; give --block-size to choose)",
    ]
    # sediment (7): 194 px in three blocks, but two of them hold it only in chips that touch
    # each other, so the buffer keeps it out of one split whatever the assignment; prepare says so
    assert len(caplog.messages) == 3
    assert caplog.messages[2].startswith("no test chip holds class ")
    assert caplog.messages[2].endswith(
        " (6): test metrics will not cover it; try another --seed or a smaller --block-size"
    )
    # codes 1..7 are the contiguous indices 0..6
    assert _split_table(store) == {
        "train": (101, [0, 1, 2, 3, 4, 5, 6]),
        "val": (26, [0, 1, 2, 3, 4, 5, 6]),
        "test": (24, [0, 1, 2, 3, 4, 5]),
    }
    index = store.index
    boxes = index[["minx", "miny", "maxx", "maxy"]].to_numpy()
    assert buffer_violations(boxes, index["split"].to_numpy(), 32 * 28.5) == 0


def _rare_class_raster(tmp_path):
    """320 x 320 px: class 0 everywhere but the centre 16 x 16 chip of three 80 px blocks."""
    labels = np.zeros((320, 320), np.uint8)
    for row, col in [(0, 0), (2, 3), (3, 1)]:  # blocks, counted from the top left
        labels[row * 80 + 32 : row * 80 + 48, col * 80 + 32 : col * 80 + 48] = 1
    image = np.random.default_rng(0).integers(1, 1000, size=(2, 320, 320), dtype=np.uint16)
    img = write_raster(tmp_path / "rare.tif", image, nodata=0)
    lbl = write_raster(tmp_path / "rare_labels.tif", labels)
    return img, lbl


def test_class_aware_split_keeps_a_rare_class_in_every_split(tmp_path):
    img, lbl = _rare_class_raster(tmp_path)
    store = _prepare(tmp_path, img, lbl, chip_size=16, block_size=80, seed=3)
    assert {s: c for s, (_, c) in _split_table(store).items()} == {
        "train": [0, 1],
        "val": [0, 1],
        "test": [0, 1],
    }
    # the plain seeded block shuffle (before class-aware assignment) loses class 1 from val
    with rasterio.open(img) as src:
        rows, cols = np.meshgrid(np.arange(0, 320, 16), np.arange(0, 320, 16), indexing="ij")
        x0, y0 = src.xy(rows.ravel(), cols.ravel(), offset="ul")
    x0, y0 = np.asarray(x0), np.asarray(y0)
    boxes = np.stack([x0, y0 - 160, x0 + 160, y0], axis=1)
    has_rare = ((rows.ravel() // 16) % 5 == 2) & ((cols.ravel() // 16) % 5 == 2)
    has_rare &= np.isin((rows.ravel() // 80) * 4 + cols.ravel() // 80, [0, 11, 13])
    assert has_rare.sum() == 3
    plain = block_split(boxes, 800.0, buffer=160.0, seed=3)
    assert "val" not in set(plain[has_rare])
