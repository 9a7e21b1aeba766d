"""terralearn: deep learning on geospatial data.

The public API is re-exported here and imported lazily, so ``import terralearn`` stays cheap
(torch loads only when a model or a task is used).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "create_model": "terralearn.models",
    "list_models": "terralearn.models",
    "predict_raster": "terralearn.predict",
    "predict_array": "terralearn.predict",
    "TerralearnError": "terralearn.errors",
    "make_scene": "terralearn.datasets.synthetic",
    "sample_path": "terralearn.datasets.samples",
    "open_image": "terralearn.io",
    "open_labels": "terralearn.io",
    "valid_mask": "terralearn.io",
    "IGNORE_INDEX": "terralearn.io",
    "Window": "terralearn.geo",
    "chip_offsets": "terralearn.geo",
    "chip_windows": "terralearn.geo",
    "block_split": "terralearn.sampling",
    "block_kfold": "terralearn.sampling",
    "random_split": "terralearn.sampling",
    "BandStatistics": "terralearn.sampling",
    "get_sampler": "terralearn.sampling",
    "rgb_composite": "terralearn.viz",
    "class_colormap": "terralearn.viz",
    "plot_training_curves": "terralearn.viz",
    "plot_confusion_matrix": "terralearn.viz",
    "plot_sample_panels": "terralearn.viz",
    "plot_class_map": "terralearn.viz",
    "plot_scalar_map": "terralearn.viz",
    "attention_maps": "terralearn.attention",
    "attention_rollout": "terralearn.attention",
    "plot_attention": "terralearn.attention",
    "export_store": "terralearn.export",
    "read_points": "terralearn.graph",
    "knn_graph": "terralearn.graph",
    "GraphLearner": "terralearn.graph",
    "cross_validate": "terralearn.graph",
    "SegmentClassifier": "terralearn.graph.objects",
    "superpixels": "terralearn.graph.objects",
    "train_segments": "terralearn.graph.segment_runs",
    "predict_segments": "terralearn.graph.segment_runs",
    "UnlabelledChips": "terralearn.ssl",
    "transfer_weights": "terralearn.ssl",
    "init_encoder_from": "terralearn.ssl",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'terralearn' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
