"""Figures a run directory carries: training curves and validation sample panels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from terralearn.artifacts import RunDir
from terralearn.models.device import DevicePlan
from terralearn.viz.curves import plot_training_curves
from terralearn.viz.panels import plot_sample_panels

SAMPLE_PANELS = 6


@torch.no_grad()
def predict_chips(
    task,
    images: torch.Tensor,
    valid: torch.Tensor | None = None,
    batch_size: int = 32,
    plan: DevicePlan | None = None,
) -> np.ndarray:
    """Class ids (N, H, W) for raw chips (N, C, H, W) with their valid masks (N, H, W)
    (invalid pixels enter the network as the band mean, as in training).

    ``plan`` says where and how the forward runs (:func:`terralearn.models.device_plan`; the
    task must already be on its device, see ``DevicePlan.place_module``); default: the CPU in
    float32, the task as it is. Chips go to the device batch by batch; class ids come back to
    the host.
    """
    plan = plan or DevicePlan(torch.device("cpu"))
    out = []
    for start in range(0, len(images), batch_size):
        part = slice(start, start + batch_size)
        x = plan.place_batch(images[part])
        mask = None if valid is None else plan.place_batch(valid[part])
        with plan.precision():
            probs = task.predict_proba(x, mask)
        labels = probs[:, 0] > 0.5 if probs.shape[1] == 1 else probs.argmax(1)
        out.append(labels.to(torch.uint8).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0,), np.uint8)


def write_training_figures(run: RunDir, task, data) -> list[Path]:
    """``figures/curves.png`` and ``figures/samples.png`` (RGB | label | prediction)."""
    run.figures.mkdir(exist_ok=True)
    written = []
    metrics_csv = run.logs / "metrics.csv"
    if metrics_csv.is_file():
        written.append(plot_training_curves(metrics_csv, run.figures / "curves.png"))
    dataset = data.dataset("val")
    if len(dataset):
        picks = _pick_samples(dataset, SAMPLE_PANELS)
        batch = dataset.__getitems__(picks)
        predictions = predict_chips(task, batch["image"], batch["valid"])
        info = run.info()
        written.append(
            plot_sample_panels(
                batch["image"].numpy(),
                batch["mask"].numpy(),
                predictions,
                bands=info.bands,
                classes=info.classes,
                colors={c.index: info.table.rgb(c.index) for c in info.table},
                out=run.figures / "samples.png",
                ignore_index=info.ignore_index,
                stats_low=info.display_low or None,
                stats_high=info.display_high or None,
            )
        )
    return written


def _pick_samples(dataset, count: int) -> list[int]:
    """Evenly spaced chips, preferring ones with many labelled pixels."""
    n = len(dataset)
    if n <= count:
        return list(range(n))
    return [int(i) for i in np.linspace(0, n - 1, count).round()]
