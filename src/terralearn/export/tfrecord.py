"""Chip store -> sharded TFRecord files of ``tf.train.Example``, without TensorFlow.

Records are encoded with ``protobuf`` (the ``tf.train.Example`` schema is built at run time in a
private descriptor pool, so it never clashes with TensorFlow's own when both are loaded) and
framed with ``google-crc32c`` as TFRecord requires::

    uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)

Features of each record (one chip):

========================  ========  ==============================================
``image``                 bytes     raw C-order ``(C, S, S)`` array of ``image_dtype``
``image_shape``           int64[3]  ``C, S, S``
``image_dtype``           bytes     numpy dtype name, e.g. ``uint16``, ``float32``
``mask``                  bytes     raw uint8 ``(S, S)`` class ids, 255 = ignore (labelled stores)
``mask_shape``            int64[2]  ``S, S`` (labelled stores)
``valid``                 bytes     raw uint8 ``(S, S)``, 1 where every band had data
``bands``                 bytes[C]  band names
``split``                 bytes     ``train`` / ``val`` / ``test``
``chip_id``               int64     row of the store index
``bounds``                bytes     4 little-endian float64: minx, miny, maxx, maxy
``crs``                   bytes     CRS of the bounds, e.g. ``EPSG:32632``
========================  ========  ==============================================

Files are ``OUT/<split>-<i>-of-<n>.tfrecord``; ``OUT/metadata.json`` records bands, classes,
counts, band statistics and the feature list for :func:`terralearn.export.tf_dataset.make_dataset`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from terralearn._fs import atomic_output
from terralearn._progress import progress_bar
from terralearn.errors import ConfigError
from terralearn.store import open_store

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
METADATA_FILE = "metadata.json"
_MASK_DELTA = 0xA282EAD8


@functools.cache
def example_class() -> type:
    """The ``tf.train.Example`` message class, built with protobuf in a private pool."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="terralearn_example.proto", package="tensorflow", syntax="proto3"
    )

    def message(name: str, fields: list[tuple[str, int, int, int, str]], oneof: bool = False):
        msg = file.message_type.add(name=name)
        if oneof:
            msg.oneof_decl.add(name="kind")
        for fname, number, ftype, label, type_name in fields:
            field = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name
            if oneof:
                field.oneof_index = 0
        return msg

    opt, rep, msg_t = f.LABEL_OPTIONAL, f.LABEL_REPEATED, f.TYPE_MESSAGE
    message("BytesList", [("value", 1, f.TYPE_BYTES, rep, "")])
    message("FloatList", [("value", 1, f.TYPE_FLOAT, rep, "")])
    message("Int64List", [("value", 1, f.TYPE_INT64, rep, "")])
    message(
        "Feature",
        [
            ("bytes_list", 1, msg_t, opt, ".tensorflow.BytesList"),
            ("float_list", 2, msg_t, opt, ".tensorflow.FloatList"),
            ("int64_list", 3, msg_t, opt, ".tensorflow.Int64List"),
        ],
        oneof=True,
    )
    features = message(
        "Features", [("feature", 1, msg_t, rep, ".tensorflow.Features.FeatureEntry")]
    )
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=f.TYPE_STRING, label=opt)
    entry.field.add(name="value", number=2, type=msg_t, label=opt, type_name=".tensorflow.Feature")
    message("Example", [("features", 1, msg_t, opt, ".tensorflow.Features")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.Example"))


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C of ``data``."""
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(record: bytes) -> bytes:
    """One TFRecord frame around a serialized record."""
    length = struct.pack("<Q", len(record))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + record
        + struct.pack("<I", masked_crc32c(record))
    )


def read_records(path: str | os.PathLike) -> Iterator[bytes]:
    """Serialized records of a TFRecord file, checking both CRCs (no TensorFlow needed)."""
    with open(path, "rb") as fh:
        while header := fh.read(12):
            length, crc = struct.unpack("<QI", header)
            if crc != masked_crc32c(header[:8]):
                raise ConfigError(f"{path} is corrupt: bad length checksum; export it again")
            data = fh.read(length)
            (crc,) = struct.unpack("<I", fh.read(4))
            if crc != masked_crc32c(data):
                raise ConfigError(f"{path} is corrupt: bad record checksum; export it again")
            yield data


def encode_example(features: dict[str, bytes | str | list | np.ndarray | int]) -> bytes:
    """Serialize a ``tf.train.Example``: bytes/str -> bytes_list, ints -> int64_list,
    floats -> float_list (lists of str give several bytes values)."""
    example = example_class()()
    feature_map = example.features.feature
    for key, value in features.items():
        items = list(value) if isinstance(value, list | tuple | np.ndarray) else [value]
        target = feature_map[key]
        if all(isinstance(v, bytes | str) for v in items):
            target.bytes_list.value.extend(v.encode() if isinstance(v, str) else v for v in items)
        elif all(isinstance(v, int | np.integer) for v in items):
            target.int64_list.value.extend(int(v) for v in items)
        else:
            target.float_list.value.extend(float(v) for v in items)
    return example.SerializeToString()


def decode_example(record: bytes) -> dict[str, list]:
    """Parse a serialized ``tf.train.Example`` into ``{name: list of values}``."""
    example = example_class()()
    example.ParseFromString(record)
    out = {}
    for key, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        out[key] = list(getattr(feature, kind).value) if kind else []
    return out


def export_tfrecord(
    store_path: str | os.PathLike,
    out: str | os.PathLike,
    shards: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write a chip store as sharded TFRecord files (see the module docstring for features).

    Args:
        store_path: the chip store.
        out: output folder (created; must not exist unless ``overwrite``).
        shards: files per split; chips are spread round-robin in index order.
        overwrite: replace an existing ``out``.
        progress: show a progress bar.

    Returns:
        The output folder.

    Raises:
        NotAStoreError: ``store_path`` is not a chip store.
        ConfigError: ``shards`` < 1.
    """
    if shards < 1:
        raise ConfigError(f"--shards {shards} must be at least 1")
    store = open_store(store_path)
    if not store.has_labels:
        log.warning("store %s has no labels: exporting images only (no mask feature)", store.path)
    index = store.index
    counts = {s: int((index["split"] == s).sum()) for s in SPLITS}
    files: dict[str, list[str]] = {}
    with atomic_output(out, overwrite, directory=True) as tmp:
        with progress_bar(len(index), "writing TFRecords", enabled=progress) as bar:
            for split in SPLITS:
                rows = index.index[index["split"] == split].to_numpy()
                if rows.size == 0:
                    continue
                n = min(shards, rows.size)
                names = [f"{split}-{i:05d}-of-{n:05d}.tfrecord" for i in range(n)]
                files[split] = names
                handles = [open(tmp / name, "wb") for name in names]  # noqa: SIM115
                try:
                    for start in range(0, rows.size, 64):
                        batch = rows[start : start + 64]
                        chips = store.read(index.loc[batch, "chip_id"].to_numpy())
                        for k, row in enumerate(batch):
                            record = _chip_features(store, index.loc[row], chips, k)
                            handles[(start + k) % n].write(frame(encode_example(record)))
                        bar.advance(len(batch))
                finally:
                    for handle in handles:
                        handle.close()
        mean, std = store.band_mean_std()
        meta: dict[str, Any] = {
            "format": "terralearn-tfrecord",
            "version": 1,
            "store": str(store.path),
            "chip_size": store.meta.chip_size,
            "bands": store.bands,
            "dtype": store.meta.dtype,
            "labels": store.has_labels,
            "classes": {str(k): v for k, v in store.classes.items()} if store.has_labels else None,
            "ignore_index": store.meta.ignore_index,
            "counts": counts,
            "files": files,
            "mean": mean,
            "std": std,
        }
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2))
    return Path(out)


def _chip_features(store, row, chips: dict[str, np.ndarray], k: int) -> dict[str, Any]:
    image = np.ascontiguousarray(chips["image"][k])
    features: dict[str, Any] = {
        "image": image.tobytes(),
        "image_shape": list(image.shape),
        "image_dtype": str(image.dtype),
        "valid": np.ascontiguousarray(chips["valid"][k], dtype=np.uint8).tobytes(),
        "bands": list(store.bands),
        "split": str(row["split"]),
        "chip_id": int(row["chip_id"]),
        "bounds": np.array(
            [row["minx"], row["miny"], row["maxx"], row["maxy"]], dtype="<f8"
        ).tobytes(),
        "crs": str(row["crs"]),
    }
    if "mask" in chips:
        mask = np.ascontiguousarray(chips["mask"][k], dtype=np.uint8)
        features["mask"] = mask.tobytes()
        features["mask_shape"] = list(mask.shape)
    return features
