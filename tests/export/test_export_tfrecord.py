"""TFRecord export of chip stores: written without TensorFlow, read back with and without it."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from terralearn.errors import ConfigError, OutputExistsError
from terralearn.export.tfrecord import decode_example, export_tfrecord, frame, read_records
from terralearn.store import PrepareConfig, open_store, prepare


def make_store(tmp_path, labels: bool = True, size: int = 64, chip: int = 16):
    """A 3-band uint16 store whose label is 1 where band 0 > 1500 (learnable per pixel)."""
    rng = np.random.default_rng(0)
    image = rng.integers(100, 3000, (3, size, size)).astype("uint16")
    profile = dict(
        driver="GTiff", width=size, height=size, crs="EPSG:32632",
        transform=from_origin(500000, 5000000, 10, 10),
    )  # fmt: skip
    with rasterio.open(tmp_path / "image.tif", "w", count=3, dtype="uint16", **profile) as dst:
        dst.write(image)
        dst.descriptions = ("B2", "B3", "B4")
    with rasterio.open(tmp_path / "labels.tif", "w", count=1, dtype="uint8", **profile) as dst:
        dst.write((image[0] > 1500).astype("uint8"), 1)
    config = PrepareConfig(
        images=[str(tmp_path / "image.tif")],
        labels=[str(tmp_path / "labels.tif")] if labels else None,
        out=str(tmp_path / "store"),
        chip_size=chip,
        split="random",
        val=0.2,
        test=0.2,
    )
    return open_store(prepare(config, progress=False))


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path)


def all_records(folder) -> list[dict]:
    return [decode_example(r) for f in sorted(folder.glob("*.tfrecord")) for r in read_records(f)]


def test_records_hold_the_store_chips(store, tmp_path):
    out = export_tfrecord(store.path, tmp_path / "tfr", shards=2, progress=False)
    meta = json.loads((out / "metadata.json").read_text())
    counts = store.index["split"].value_counts().to_dict()
    assert meta["counts"] == {s: counts.get(s, 0) for s in ("train", "val", "test")}
    assert meta["bands"] == ["B2", "B3", "B4"] and meta["dtype"] == "uint16"
    assert meta["classes"] == {"0": "class_0", "1": "class_1"}
    assert sorted(p.name for p in out.glob("train-*")) == [
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
    ]
    records = all_records(out)
    assert sorted(r["chip_id"][0] for r in records) == list(range(store.meta.num_chips))
    for rec in records:
        cid = rec["chip_id"][0]
        chip = store.read([cid])
        row = store.index.loc[store.index["chip_id"] == cid].iloc[0]
        assert rec["image_shape"] == [3, 16, 16] and rec["image_dtype"] == [b"uint16"]
        image = np.frombuffer(rec["image"][0], "uint16").reshape(3, 16, 16)
        np.testing.assert_array_equal(image, chip["image"][0])
        mask = np.frombuffer(rec["mask"][0], "uint8").reshape(rec["mask_shape"])
        np.testing.assert_array_equal(mask, chip["mask"][0])
        np.testing.assert_array_equal(
            np.frombuffer(rec["valid"][0], "uint8").reshape(16, 16), chip["valid"][0]
        )
        assert rec["bands"] == [b"B2", b"B3", b"B4"]
        assert rec["split"] == [row["split"].encode()] and rec["crs"] == [b"EPSG:32632"]
        bounds = np.frombuffer(rec["bounds"][0], "<f8")
        np.testing.assert_array_equal(bounds, row[["minx", "miny", "maxx", "maxy"]].to_numpy(float))


def test_shards_never_exceed_chips(store, tmp_path):
    n_test = int((store.index["split"] == "test").sum())
    out = export_tfrecord(store.path, tmp_path / "tfr", shards=n_test + 5, progress=False)
    names = sorted(p.name for p in out.glob("test-*"))
    assert len(names) == n_test and names[0] == f"test-00000-of-{n_test:05d}.tfrecord"
    assert all(len(list(read_records(out / n))) == 1 for n in names)


def test_store_without_labels_exports_images_only(tmp_path, caplog):
    store = make_store(tmp_path, labels=False)
    with caplog.at_level(logging.WARNING, logger="terralearn"):
        out = export_tfrecord(store.path, tmp_path / "tfr", progress=False)
    assert "has no labels: exporting images only (no mask feature)" in caplog.text
    rec = all_records(out)[0]
    assert "mask" not in rec and "image" in rec
    assert json.loads((out / "metadata.json").read_text())["labels"] is False


def test_bad_input(store, tmp_path):
    with pytest.raises(ConfigError, match="--shards 0 must be at least 1"):
        export_tfrecord(store.path, tmp_path / "tfr", shards=0)
    (tmp_path / "tfr").mkdir()
    with pytest.raises(OutputExistsError, match="pass --overwrite"):
        export_tfrecord(store.path, tmp_path / "tfr")


def test_corrupt_record_is_detected(tmp_path):
    path = tmp_path / "x.tfrecord"
    data = bytearray(frame(b"hello"))
    path.write_bytes(bytes(data))
    assert list(read_records(path)) == [b"hello"]
    data[13] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="is corrupt: bad record checksum; export it again"):
        list(read_records(path))


def test_tensorflow_reads_the_records(store, tmp_path):
    tf = pytest.importorskip("tensorflow", reason="TensorFlow not installed (the [tf] extra)")
    out = export_tfrecord(store.path, tmp_path / "tfr", shards=2, progress=False)
    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "image_shape": tf.io.FixedLenFeature([3], tf.int64),
        "mask": tf.io.FixedLenFeature([], tf.string),
        "chip_id": tf.io.FixedLenFeature([], tf.int64),
        "bands": tf.io.FixedLenFeature([3], tf.string),
        "crs": tf.io.FixedLenFeature([], tf.string),
        "bounds": tf.io.FixedLenFeature([], tf.string),
    }
    files = sorted(str(p) for p in out.glob("*.tfrecord"))
    seen = []
    for raw in tf.data.TFRecordDataset(files):
        ex = tf.io.parse_single_example(raw, spec)
        cid = int(ex["chip_id"])
        seen.append(cid)
        image = tf.reshape(tf.io.decode_raw(ex["image"], tf.uint16), ex["image_shape"]).numpy()
        chip = store.read([cid])
        np.testing.assert_array_equal(image, chip["image"][0])
        np.testing.assert_array_equal(
            tf.io.decode_raw(ex["mask"], tf.uint8).numpy().reshape(16, 16), chip["mask"][0]
        )
        assert [b.decode() for b in ex["bands"].numpy()] == ["B2", "B3", "B4"]
        assert ex["crs"].numpy() == b"EPSG:32632"
    assert sorted(seen) == list(range(store.meta.num_chips))


def test_make_dataset(store, tmp_path):
    pytest.importorskip("tensorflow", reason="TensorFlow not installed (the [tf] extra)")
    from terralearn.export.tf_dataset import make_dataset

    out = export_tfrecord(store.path, tmp_path / "tfr", progress=False)
    n_train = int((store.index["split"] == "train").sum())
    ds = make_dataset(str(out / "train-*.tfrecord"), batch_size=n_train, normalize=False)
    image, label, weight = next(iter(ds))
    assert image.shape == (n_train, 16, 16, 3) and image.dtype.name == "float32"
    assert label.shape == (n_train, 16, 16, 1) and weight.shape == (n_train, 16, 16)
    ids = store.split_ids("train")
    chips = store.read(ids)
    got = {int(np.asarray(image)[k, 0, 0, 0]) for k in range(n_train)}
    assert got == {int(v) for v in chips["image"][:, 0, 0, 0]}
    mean, std = store.band_mean_std()
    norm = next(iter(make_dataset(str(out / "train-*.tfrecord"), batch_size=n_train)))[0]
    np.testing.assert_allclose(np.asarray(norm), (np.asarray(image) - mean) / std, atol=1e-5)
