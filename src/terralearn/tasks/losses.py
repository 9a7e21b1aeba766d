"""Segmentation losses that honour an ignore label.

All losses take logits ``(B, K, H, W)`` and a target ``(B, H, W)`` of class indices (long) in
which ``ignore_index`` marks unlabelled pixels. ``K == 1`` is binary segmentation (one logit
channel, target 0/1); it is handled as two classes with logits ``(0, x)``, since
``softmax(0, x) = (1 - sigmoid(x), sigmoid(x))``, so every loss has one code path.

Ignored pixels are removed before anything is computed, so they contribute nothing to the
loss or its gradient, and a batch with no labelled pixel gives a loss of 0 (not NaN) with a
zero gradient. Losses are averaged over labelled pixels (a weighted mean with class weights,
like ``torch.nn.functional.cross_entropy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from terralearn.errors import ConfigError
from terralearn.pixels import NO_LABEL

LossName = Literal["ce", "dice", "focal", "ce+dice"]
LOSSES: tuple[str, ...] = ("ce", "dice", "focal", "ce+dice")


def _labelled(logits: Tensor, target: Tensor, ignore_index: int) -> tuple[Tensor, Tensor]:
    """Flatten to the labelled pixels: logits ``(N, max(K, 2))`` and target ``(N,)``."""
    if logits.ndim != 4 or target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(
            f"expected logits (B, K, H, W) and target (B, H, W), got {tuple(logits.shape)} "
            f"and {tuple(target.shape)}"
        )
    if logits.shape[1] == 1:
        logits = torch.cat([torch.zeros_like(logits), logits], dim=1)
    valid = target != ignore_index
    return logits.movedim(1, -1)[valid], target[valid].long()


def _weighted_mean(per_pixel: Tensor, target: Tensor, weight: Tensor | None) -> Tensor:
    if weight is None:
        return per_pixel.sum() / max(per_pixel.numel(), 1)
    w = weight.to(per_pixel)[target]
    # the clamp only matters when there is no labelled pixel (0 / eps = 0)
    return (w * per_pixel).sum() / w.sum().clamp_min(torch.finfo(w.dtype).tiny)


def cross_entropy(
    logits: Tensor, target: Tensor, ignore_index: int = NO_LABEL, weight: Tensor | None = None
) -> Tensor:
    """Cross-entropy (binary cross-entropy when ``K == 1``) over labelled pixels.

    Args:
        logits: ``(B, K, H, W)``.
        target: ``(B, H, W)`` class indices; ``ignore_index`` marks unlabelled pixels.
        ignore_index: label of unlabelled pixels.
        weight: optional per-class weights ``(max(K, 2),)``.

    Returns:
        Scalar loss: the (weighted) mean of ``-log p[target]``.
    """
    x, t = _labelled(logits, target, ignore_index)
    return _weighted_mean(F.cross_entropy(x, t, reduction="none"), t, weight)


class CrossEntropyLoss(nn.Module):
    """Module form of :func:`cross_entropy`."""

    def __init__(self, ignore_index: int = NO_LABEL, weight: Tensor | None = None) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return cross_entropy(logits, target, self.ignore_index, self.weight)


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): ``-w[t] (1 - p_t)**gamma log p_t``, mean over labelled pixels.

    ``gamma = 0`` is the cross-entropy; larger ``gamma`` down-weights easy pixels.

    Args:
        gamma: focusing parameter (>= 0).
        ignore_index: label of unlabelled pixels.
        weight: optional per-class weights ``(max(K, 2),)`` (the ``alpha`` of the paper).
    """

    def __init__(
        self, gamma: float = 2.0, ignore_index: int = NO_LABEL, weight: Tensor | None = None
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise ConfigError(f"focal loss gamma must be >= 0, got {gamma}")
        self.gamma = gamma
        self.ignore_index = ignore_index
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        x, t = _labelled(logits, target, self.ignore_index)
        log_pt = F.log_softmax(x, dim=1).gather(1, t[:, None])[:, 0]
        loss = -log_pt
        if self.gamma:
            loss = (1 - log_pt.exp()).clamp_min(0) ** self.gamma * loss
        return _weighted_mean(loss, t, self.weight)


class DiceLoss(nn.Module):
    """Soft Dice loss, ``1 - mean_c (2 sum p_c y_c + s) / (sum p_c + sum y_c + s)``.

    Sums run over all labelled pixels of the batch. Multi-class averages over all classes (a
    class absent from the target is pushed towards predicting none of it); binary (``K == 1``)
    uses the foreground class only, as background Dice is near 1 and would dilute the signal.

    Args:
        ignore_index: label of unlabelled pixels.
        smooth: additive smoothing ``s``; keeps empty classes finite.
    """

    def __init__(self, ignore_index: int = NO_LABEL, smooth: float = 1.0) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.smooth = smooth

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        binary = logits.shape[1] == 1
        x, t = _labelled(logits, target, self.ignore_index)
        probs = x.softmax(dim=1)
        onehot = F.one_hot(t, probs.shape[1]).to(probs)
        inter = (probs * onehot).sum(0)
        total = probs.sum(0) + onehot.sum(0)
        dice = (2 * inter + self.smooth) / (total + self.smooth)
        return 1 - (dice[1] if binary else dice.mean())


class SumLoss(nn.Module):
    """Unweighted sum of several losses (``"ce+dice"``)."""

    def __init__(self, *losses: nn.Module) -> None:
        super().__init__()
        self.losses = nn.ModuleList(losses)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return sum((loss(logits, target) for loss in self.losses), logits.new_zeros(()))


def build_loss(
    name: LossName,
    num_classes: int,
    ignore_index: int = NO_LABEL,
    class_weights: Sequence[float] | Tensor | None = None,
) -> nn.Module:
    """Build a loss by name.

    Args:
        name: ``"ce"``, ``"dice"``, ``"focal"`` or ``"ce+dice"``.
        num_classes: model output channels (1 = binary).
        ignore_index: label of unlabelled pixels.
        class_weights: one weight per class (2 for binary: background, foreground); used by the
            cross-entropy and focal terms (Dice is already balanced).

    Raises:
        ConfigError: unknown name or a wrong number of class weights.
    """
    weight = None
    if class_weights is not None:
        weight = torch.as_tensor(class_weights, dtype=torch.float32).flatten()
        expected = max(num_classes, 2)
        if weight.numel() != expected:
            raise ConfigError(
                f"class_weights has {weight.numel()} values but the task has {expected} classes"
                f"{' (binary: background, foreground)' if num_classes == 1 else ''}; "
                "give one weight per class"
            )
        if not torch.isfinite(weight).all() or (weight < 0).any():
            raise ConfigError(f"class_weights must be finite and >= 0, got {weight.tolist()}")
    match name:
        case "ce":
            return CrossEntropyLoss(ignore_index, weight)
        case "dice":
            return DiceLoss(ignore_index)
        case "focal":
            return FocalLoss(2.0, ignore_index, weight)
        case "ce+dice":
            return SumLoss(CrossEntropyLoss(ignore_index, weight), DiceLoss(ignore_index))
    raise ConfigError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")


def class_weights_from_counts(counts: Sequence[int], power: float = 0.5) -> Tensor:
    """Inverse-frequency class weights ``count**-power``, normalised to mean 1.

    ``power=1`` is plain inverse frequency, ``0.5`` (default) its square root, a milder
    correction that is usually more stable. Classes with a count of 0 never occur as a target,
    so they get weight 0 and the mean is taken over the other classes.

    Args:
        counts: labelled pixels per class.
        power: exponent (>= 0).

    Returns:
        float32 tensor ``(len(counts),)``.

    Raises:
        ConfigError: negative counts, no labelled pixel at all, or a negative power.
    """
    c = torch.as_tensor(list(counts), dtype=torch.float64)
    if c.ndim != 1 or c.numel() == 0 or (c < 0).any():
        raise ConfigError(
            f"class counts must be a non-empty list of counts >= 0, got {list(counts)}"
        )
    if power < 0:
        raise ConfigError(f"class weight power must be >= 0, got {power}")
    present = c > 0
    if not present.any():
        raise ConfigError("class counts are all 0; the training chips have no labelled pixel")
    w = torch.zeros_like(c)
    w[present] = c[present] ** -power
    w[present] /= w[present].mean()
    return w.float()
