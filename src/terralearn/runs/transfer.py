"""Encoder weights from a pretraining run into a model, matched by name, with a report.

A pretraining checkpoint holds the encoder under ``encoder.*`` (plus the heads that only
pretraining needs); a segmentation model holds it under ``encoder.*`` too. Each tensor of the
target encoder is then:

- **loaded**: the same name and shape in the checkpoint;
- **resized**: a ViT's positional grid ``(1, dim, g, g)`` of another size, interpolated
  bicubically (pretraining on smaller chips than the fine-tuning ``img_size``);
- **did not fit**: the same name, another shape (e.g. a wider U-Net); it keeps its initial value;
- **new**: absent from the checkpoint; it keeps its initial value.

Checkpoint tensors the target does not have are **unused** (the pretraining heads are not
counted: only ``encoder.*`` entries are considered).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import Tensor, nn

from terralearn.artifacts import RunDir, load_run
from terralearn.errors import IncompatibleError, NotARunError

ENCODER_PREFIX = "encoder."
PRETRAINING_KIND = "pretraining"


@dataclass
class TransferReport:
    """Which target tensors got pretrained values (names relative to the encoder)."""

    loaded: list[str] = field(default_factory=list)
    resized: list[str] = field(default_factory=list)
    mismatched: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)
    new: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def total(self) -> int:
        """Tensors in the target encoder."""
        return len(self.loaded) + len(self.resized) + len(self.mismatched) + len(self.new)

    def lines(self, limit: int = 5) -> list[str]:
        """A human-readable report, one item per line (long lists shortened to ``limit``)."""

        def names(items: list[str]) -> str:
            more = f", ... (+{len(items) - limit})" if len(items) > limit else ""
            return ", ".join(items[:limit]) + more

        out = [
            f"encoder weights from {self.source}: {len(self.loaded) + len(self.resized)} of "
            f"{self.total} tensors loaded"
        ]
        if self.resized:
            out.append(f"  resized (positions interpolated): {names(self.resized)}")
        if self.mismatched:
            shown = [f"{k} {tuple(a)} -> {tuple(b)}" for k, (a, b) in list(self.mismatched.items())]
            out.append(f"  did not fit (checkpoint -> model shape): {names(shown)}")
        if self.new:
            out.append(f"  new (not in the checkpoint): {names(self.new)}")
        if self.unused:
            out.append(f"  unused checkpoint tensors: {names(self.unused)}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "loaded": self.loaded,
            "resized": self.resized,
            "did_not_fit": {
                k: {"checkpoint": a, "model": b} for k, (a, b) in self.mismatched.items()
            },
            "new": self.new,
            "unused": self.unused,
        }


def _resize_positions(value: Tensor, shape: torch.Size) -> Tensor:
    return F.interpolate(value, size=tuple(shape[-2:]), mode="bicubic", align_corners=False)


def transfer_weights(
    target: nn.Module, source: Mapping[str, Tensor], name: str = "checkpoint"
) -> TransferReport:
    """Copy the tensors of ``source`` into ``target`` where names and shapes agree.

    Args:
        target: the module to fill (e.g. ``model.encoder``); its state-dict names are matched.
        source: tensors by the same relative names (e.g. a checkpoint's ``encoder.*`` entries
            with the prefix removed).
        name: what the source is, for the report.

    Returns:
        The :class:`TransferReport`; ``target`` holds the loaded values.
    """
    report = TransferReport(source=name)
    state = target.state_dict()
    for key, current in state.items():
        value = source.get(key)
        if value is None:
            report.new.append(key)
        elif value.shape == current.shape:
            state[key] = value.to(current.dtype)
            report.loaded.append(key)
        elif key.endswith("pos_embed") and value.ndim == 4 and value.shape[:2] == current.shape[:2]:
            state[key] = _resize_positions(value.float(), current.shape).to(current.dtype)
            report.resized.append(key)
        else:
            report.mismatched[key] = (list(value.shape), list(current.shape))
    report.unused = [k for k in source if k not in state]
    target.load_state_dict(state)
    return report


@dataclass
class Pretrained:
    """The encoder tensors and description of a pretraining run."""

    encoder: dict[str, Tensor]
    model: str
    in_channels: int
    bands: list[str]
    path: Path


def read_pretrained(run: str | os.PathLike, option: str = "--init-from") -> Pretrained:
    """Encoder weights of a pretraining run directory (``checkpoints/last.ckpt``).

    Read with ``torch.load(weights_only=True)``.

    Raises:
        NotARunError: not a run directory, not a pretraining run, or no checkpoint yet.
        IncompatibleError: the checkpoint cannot be read or holds no encoder.
    """
    try:
        loaded = load_run(run)
    except NotARunError:
        raise NotARunError(
            f"{option} {str(run)!r} is not a terralearn run directory (no run.json); "
            "give the --out of `terralearn pretrain`"
        ) from None
    if loaded.kind != PRETRAINING_KIND:
        raise NotARunError(
            f"{option} {str(run)!r} is a {loaded.kind} run, not a pretraining run; "
            "give the --out of `terralearn pretrain`"
        )
    info = loaded.info
    path = RunDir(run).checkpoint("last")
    if not path.is_file():
        raise NotARunError(
            f"{option} {str(run)!r} has no checkpoints/last.ckpt; let `terralearn pretrain` "
            "finish at least one epoch"
        )
    checkpoint = loaded.checkpoint_dict("last")
    encoder = {
        k.removeprefix(ENCODER_PREFIX): v
        for k, v in checkpoint.get("state_dict", {}).items()
        if k.startswith(ENCODER_PREFIX)
    }
    if not encoder:
        raise IncompatibleError(
            f"checkpoint {str(path)!r} holds no encoder tensors; pretrain again with "
            "`terralearn pretrain`"
        )
    return Pretrained(encoder, info.model, info.in_channels, list(info.bands), path)


def init_encoder_from(
    model: nn.Module,
    run: str | os.PathLike,
    bands: list[str],
    option: str = "--init-from",
    pretrained: Pretrained | None = None,
) -> TransferReport:
    """Load a pretraining run's encoder into ``model.encoder``.

    Args:
        model: a model from the registry with an ``encoder`` submodule.
        run: the pretraining run directory.
        bands: the bands the model will be trained on (checked against the run's).
        option: the option name for messages.
        pretrained: the run's weights when already read (:func:`read_pretrained`).

    Raises:
        NotARunError, IncompatibleError: see :func:`read_pretrained`; also a different band
            count, or no tensor that fits (another model family).
    """
    pretrained = pretrained or read_pretrained(run, option)
    if pretrained.in_channels != len(bands):
        raise IncompatibleError(
            f"{option} {str(run)!r} was pretrained on {pretrained.in_channels} bands "
            f"({', '.join(pretrained.bands)}) but the store has {len(bands)} "
            f"({', '.join(bands)}); pretrain on images with the store's bands"
        )
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, nn.Module):
        raise IncompatibleError(
            f"{option}: model {type(model).__name__} has no encoder to initialise"
        )
    report = transfer_weights(encoder, pretrained.encoder, name=str(run))
    state = encoder.state_dict()
    # shape-free tensors (batch-norm step counters) fit anything: they do not count as a fit
    if not report.resized and all(state[k].ndim == 0 for k in report.loaded):
        raise IncompatibleError(
            f"{option} {str(run)!r}: none of its encoder tensors fit this model (pretrained "
            f"model {pretrained.model!r}); fine-tune the same model family that was pretrained"
        )
    return report


def freeze(module: nn.Module) -> int:
    """Stop gradients to every parameter of ``module``; returns how many were frozen."""
    params = list(module.parameters())
    for p in params:
        p.requires_grad_(False)
    return len(params)


class FrozenEncoder(Callback):
    """Keep ``model.encoder`` of a task in eval mode while training (linear probing).

    Frozen weights are not enough: batch-norm layers in train mode would still move their
    running statistics, so the "frozen" encoder would change. Lightning switches the whole
    module to train mode at the start of fitting; this puts the encoder back.
    """

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        pl_module.model.encoder.eval()
