"""terralearn: deep learning on geospatial data.

The pipeline, one call per step (``help(terralearn)`` lists them in this order):

- open: :func:`open_image` (any raster source -> one ``(band, y, x)`` DataArray),
  :func:`open_labels` (labels on the image's grid)
- prepare: :func:`prepare` with a :class:`PrepareConfig` (images -> a chip store with a
  spatial split), :func:`open_store`
- train: :func:`train` with a :class:`TrainConfig` (a chip store -> a run folder);
  :func:`pretrain` with a :class:`PretrainConfig` (self-supervised, unlabelled imagery)
- evaluate: :func:`evaluate` (a run on its test split)
- predict: :func:`predict_raster` (a run + a raster of any size -> COG / Zarr),
  :func:`predict_array`
- export: :func:`export_store` (TFRecord / Zarr); explain: :func:`attention_maps`
- graphs over points: :func:`read_points`, :func:`knn_graph`, :class:`GraphLearner` (fit /
  predict), :func:`cross_validate` (spatial block cross-validation against baselines)
- graphs over image segments: :func:`superpixels`, :func:`train_segments`,
  :func:`predict_segments`

Figures live in :mod:`terralearn.viz`. Everything is imported lazily, so ``import terralearn``
stays cheap (torch loads only when a model, a task or a run is used).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it, in pipeline order
_EXPORTS: dict[str, str] = {
    # open
    "open_image": "terralearn.io",
    "open_labels": "terralearn.io",
    # prepare
    "prepare": "terralearn.store",
    "PrepareConfig": "terralearn.store",
    "open_store": "terralearn.store",
    # train
    "train": "terralearn.runs.train",
    "TrainConfig": "terralearn.runs.train",
    "pretrain": "terralearn.runs.pretrain",
    "PretrainConfig": "terralearn.runs.pretrain",
    # evaluate
    "evaluate": "terralearn.runs.evaluate",
    # predict
    "predict_raster": "terralearn.predict",
    "predict_array": "terralearn.predict",
    # export and explain
    "export_store": "terralearn.export",
    "attention_maps": "terralearn.attention",
    "attention_rollout": "terralearn.attention",
    # graphs over points
    "read_points": "terralearn.graph",
    "knn_graph": "terralearn.graph",
    "GraphLearner": "terralearn.graph",
    "cross_validate": "terralearn.graph",
    # graphs over image segments
    "superpixels": "terralearn.graph.objects",
    "SegmentClassifier": "terralearn.graph.objects",
    "train_segments": "terralearn.graph.segment_runs",
    "predict_segments": "terralearn.graph.segment_runs",
    # models
    "create_model": "terralearn.models",
    "list_models": "terralearn.models",
    # self-supervised pretraining and transfer
    "UnlabelledChips": "terralearn.ssl",
    "transfer_weights": "terralearn.runs.transfer",
    "init_encoder_from": "terralearn.runs.transfer",
    # building blocks: windows, samplers, splits, statistics
    "Window": "terralearn.geo",
    "chip_offsets": "terralearn.geo",
    "chip_windows": "terralearn.geo",
    "valid_mask": "terralearn.io",
    "NO_LABEL": "terralearn.pixels",
    "block_split": "terralearn.sampling",
    "block_kfold": "terralearn.sampling",
    "random_split": "terralearn.sampling",
    "BandStatistics": "terralearn.sampling",
    "get_sampler": "terralearn.sampling",
    # data to try it on
    "make_scene": "terralearn.datasets.synthetic",
    "sample_path": "terralearn.datasets.samples",
    "TerralearnError": "terralearn.errors",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'terralearn' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
