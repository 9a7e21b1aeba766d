"""TensorFlow input pipelines over TFRecords exported by ``terralearn export --format tfrecord``.

Needs TensorFlow (``pip install 'terralearn[tf]'``); writing the records does not.
"""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path
from typing import Any

from terralearn._extras import require
from terralearn.errors import InputNotFoundError
from terralearn.export.tfrecord import METADATA_FILE


def import_tf() -> Any:
    """The ``tensorflow`` module, or one line saying how to install it."""
    return require("tensorflow", "tf")


def read_metadata(pattern: str | os.PathLike) -> tuple[list[str], dict[str, Any]]:
    """The files matching ``pattern`` (a folder, a file or a glob) and the export metadata."""
    text = os.fspath(pattern)
    if Path(text).is_dir():
        folder, files = Path(text), sorted(glob.glob(os.path.join(text, "*.tfrecord")))
    else:
        files = sorted(glob.glob(text))
        folder = Path(files[0]).parent if files else Path(text).parent
    if not files:
        raise InputNotFoundError(
            f"no TFRecord file matches {text!r}; export a store with "
            "`terralearn export STORE --format tfrecord --out DIR`"
        )
    meta_path = folder / METADATA_FILE
    if not meta_path.is_file():
        raise InputNotFoundError(
            f"{str(meta_path)!r} is missing; make_dataset needs the metadata.json written by "
            "`terralearn export` beside the .tfrecord files"
        )
    return files, json.loads(meta_path.read_text())


def make_dataset(
    pattern: str | os.PathLike,
    batch_size: int | None = 8,
    shuffle: bool = False,
    normalize: bool = True,
    seed: int = 0,
    repeat: bool = False,
):
    """A ``tf.data.Dataset`` of chips from exported TFRecords.

    Args:
        pattern: the export folder (all splits), one file, or a glob such as ``DIR/train-*``.
        batch_size: batch size (None: unbatched).
        shuffle: shuffle records (buffer of 1024) with ``seed``.
        normalize: subtract the training mean and divide by the std of each band.
        seed: shuffle seed.
        repeat: repeat forever.

    Returns:
        Labelled stores: ``(image, label, weight)`` with ``image`` float32 ``(S, S, C)``
        (channels last, as Keras expects), ``label`` float32 ``(S, S, 1)`` class ids with ignored
        pixels set to 0, and ``weight`` float32 ``(S, S)``, 0 on ignored pixels (pass it as
        Keras' ``sample_weight``). Stores without labels: ``image`` only.
    """
    tf = import_tf()
    files, meta = read_metadata(pattern)
    size, channels = int(meta["chip_size"]), len(meta["bands"])
    dtype = tf.dtypes.as_dtype(meta["dtype"])
    labelled = bool(meta["labels"])
    ignore = int(meta["ignore_index"])
    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "valid": tf.io.FixedLenFeature([], tf.string),
    }
    if labelled:
        spec["mask"] = tf.io.FixedLenFeature([], tf.string)
    mean = tf.constant(meta["mean"], tf.float32)
    std = tf.constant(meta["std"], tf.float32)

    def parse(record):
        ex = tf.io.parse_single_example(record, spec)
        image = tf.reshape(tf.io.decode_raw(ex["image"], dtype), [channels, size, size])
        image = tf.cast(tf.transpose(image, [1, 2, 0]), tf.float32)
        if normalize:
            image = (image - mean) / std
        valid = tf.reshape(tf.io.decode_raw(ex["valid"], tf.uint8), [size, size])
        image = tf.where(valid[..., None] > 0, image, tf.zeros_like(image))
        if not labelled:
            return image
        mask = tf.reshape(tf.io.decode_raw(ex["mask"], tf.uint8), [size, size])
        keep = tf.not_equal(mask, ignore)
        label = tf.where(keep, tf.cast(mask, tf.float32), 0.0)[..., None]
        return image, label, tf.cast(keep, tf.float32)

    ds = tf.data.TFRecordDataset(files)
    if shuffle:
        ds = ds.shuffle(1024, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if repeat:
        ds = ds.repeat()
    if batch_size:
        ds = ds.batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)
