"""Exports for other frameworks, above the store and the runs: ``io`` only reads.

- :mod:`terralearn.export.tfrecord`: chip store -> sharded TFRecord files (no TensorFlow needed)
- :mod:`terralearn.export.zarr`: chip store -> one plain Zarr group
- :mod:`terralearn.export.tf_dataset`: a ``tf.data.Dataset`` over exported TFRecords (``[tf]``)
- :mod:`terralearn.export.keras`: Keras 3 U-Net builders (``[tf]``)
- :mod:`terralearn.export.onnx`: a trained run -> ONNX graph checked with onnxruntime (``[onnx]``)
"""

from __future__ import annotations

import os
from pathlib import Path

from terralearn.errors import ConfigError
from terralearn.export.tfrecord import export_tfrecord
from terralearn.export.zarr import export_zarr

FORMATS = ("tfrecord", "zarr")


def export_store(
    store_path: str | os.PathLike,
    out: str | os.PathLike,
    format: str = "tfrecord",
    shards: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Export a chip store as ``tfrecord`` (sharded, see :mod:`terralearn.export.tfrecord`) or ``zarr``.

    Raises:
        ConfigError: unknown format (the message lists the known ones).
        NotAStoreError: ``store_path`` is not a chip store.
    """
    if format == "tfrecord":
        return export_tfrecord(store_path, out, shards, overwrite, progress)
    if format == "zarr":
        return export_zarr(store_path, out, overwrite, progress)
    raise ConfigError(f"--format {format!r} is unknown; use one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "export_store", "export_tfrecord", "export_zarr"]
