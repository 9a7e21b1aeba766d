"""Segmentation accuracy report from a confusion matrix.

The evaluate command accumulates a ``torchmetrics`` ``MulticlassConfusionMatrix`` (rows = true
class, columns = predicted class, ignored pixels left out) over the test chips and turns it into
numbers with :func:`segmentation_report`. Definitions (per class ``c``, ``N`` labelled pixels)::

    precision = TP / (TP + FP)     recall = TP / (TP + FN)     F1 = 2 TP / (2 TP + FP + FN)
    IoU = TP / (TP + FP + FN)      overall accuracy = trace / N
    kappa = (p_o - p_e) / (1 - p_e),  p_o = trace / N,  p_e = sum_c row_c * col_c / N**2

Mean IoU and mean F1 average over the classes that occur in the target or the prediction
(as ``MulticlassJaccardIndex(average="macro")`` does). A value whose denominator is 0 is
None (JSON ``null``), never NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from terralearn.errors import ConfigError


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def segmentation_report(
    confmat: Tensor, class_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Summarise a ``(K, K)`` confusion matrix (rows true, columns predicted).

    Args:
        confmat: counts, any numeric dtype.
        class_names: one unique name per class; defaults to ``class_0``, ``class_1``, ...

    Returns:
        ``{"num_pixels", "overall_accuracy", "mean_iou", "mean_f1", "kappa", "per_class"}``
        where ``per_class`` maps class name to ``{"iou", "f1", "precision", "recall",
        "support", "predicted"}`` (support = true pixels, predicted = predicted pixels).

    Raises:
        ConfigError: the matrix is not square, or the names do not match its size.
    """
    if confmat.ndim != 2 or confmat.shape[0] != confmat.shape[1]:
        raise ConfigError(f"a confusion matrix must be square (K, K), got {tuple(confmat.shape)}")
    k = confmat.shape[0]
    names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(k)]
    if len(names) != k or len(set(names)) != k:
        raise ConfigError(
            f"class_names has {len(names)} names ({len(set(names))} unique) for {k} classes; "
            "give one unique name per class"
        )
    cm = confmat.detach().to("cpu", torch.float64)
    tp = cm.diag()
    support = cm.sum(1)  # true pixels per class
    predicted = cm.sum(0)
    n = float(cm.sum())
    per_class: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        t, s, p = float(tp[i]), float(support[i]), float(predicted[i])
        per_class[name] = {
            "iou": _ratio(t, s + p - t),
            "f1": _ratio(2 * t, s + p),
            "precision": _ratio(t, p),
            "recall": _ratio(t, s),
            "support": int(s),
            "predicted": int(p),
        }
    p_o = _ratio(float(tp.sum()), n)
    kappa = None
    if n > 0 and p_o is not None:
        p_e = float((support * predicted).sum()) / n**2
        kappa = _ratio(p_o - p_e, 1 - p_e)
    return {
        "num_pixels": int(n),
        "overall_accuracy": p_o,
        "mean_iou": _mean([c["iou"] for c in per_class.values()]),
        "mean_f1": _mean([c["f1"] for c in per_class.values()]),
        "kappa": kappa,
        "per_class": per_class,
    }
