"""``evaluate``: metrics of a trained run on a split of a chip store."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from terralearn._fs import atomic_write_bytes
from terralearn._progress import progress_bar
from terralearn.artifacts import RunDir, load_task
from terralearn.data.datasets import ChipDataset
from terralearn.errors import ConfigError, IncompatibleError
from terralearn.models.device import device_plan, resolve_device
from terralearn.runs.report import predict_chips
from terralearn.runs.train import check_compatible
from terralearn.store.reader import ChipStore
from terralearn.tasks.metrics import segmentation_report
from terralearn.viz.confusion import plot_confusion_matrix


def evaluate(
    run: str | os.PathLike,
    store_path: str | os.PathLike,
    split: str = "test",
    batch_size: int = 32,
    progress: bool = True,
    device: str = "auto",
) -> dict[str, Any]:
    """Confusion matrix and scores of the run's best model on ``split`` of a chip store.

    The forward runs on ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``) with the
    precision and layout ``predict`` uses there (:func:`terralearn.models.device_plan`), so the
    scores are those of the maps ``predict`` makes on that device.

    Writes ``RUN/eval/<split>.json`` and ``RUN/eval/<split>_confusion.png``; returns the report
    (``device`` says where and how it ran, e.g. ``cpu, float32``).

    Raises:
        ConfigError: the device is unknown or not available (before anything is loaded).
    """
    plan = device_plan(resolve_device(device))
    run_dir = RunDir(run)
    task, info = load_task(run_dir.path)
    plan.place_module(task)
    store = ChipStore(store_path)
    check_compatible(info, store.bands, f"store {str(store_path)!r}")
    if not store.has_labels:
        raise ConfigError(f"store {str(store_path)!r} has no labels to evaluate against")
    if store.class_names != [info.classes[k] for k in sorted(info.classes)]:
        raise IncompatibleError(
            f"store {str(store_path)!r} has classes {store.class_names}, the model "
            f"{[info.classes[k] for k in sorted(info.classes)]}; evaluate on a store with the same classes"
        )
    ids = store.split_ids(split)
    if len(ids) == 0:
        raise ConfigError(
            f"split {split!r} of store {str(store_path)!r} has no chips "
            f"(splits: {store.meta.splits}); choose --split train, val or test"
        )
    dataset = ChipDataset(store, ids)
    num_classes = max(info.num_classes, 2)
    confmat = MulticlassConfusionMatrix(num_classes=num_classes, ignore_index=info.ignore_index)
    with progress_bar(len(dataset), f"evaluating {split}", enabled=progress) as bar:
        for start in range(0, len(dataset), batch_size):
            batch = dataset.__getitems__(list(range(start, min(start + batch_size, len(dataset)))))
            predicted = torch.from_numpy(
                predict_chips(task, batch["image"], batch["valid"], plan=plan).astype("int64")
            )
            confmat.update(predicted, batch["mask"])
            bar.advance(len(batch["image"]))
    matrix = confmat.compute()
    class_names = [info.classes[k] for k in sorted(info.classes)]
    report = segmentation_report(matrix, class_names)
    report.update({
        "split": split, "chips": len(dataset), "store": str(Path(store_path).resolve()),
        "device": plan.describe(),
    })  # fmt: skip
    run_dir.eval_dir.mkdir(exist_ok=True)
    atomic_write_bytes(
        run_dir.eval_dir / f"{split}.json", json.dumps(_jsonable(report), indent=2).encode()
    )
    plot_confusion_matrix(matrix.numpy(), class_names, run_dir.eval_dir / f"{split}_confusion.png")
    return report


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
