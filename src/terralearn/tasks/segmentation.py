"""Lightning task for semantic segmentation.

TorchGeo style: the constructor saves the hyperparameters and the ``configure_*`` hooks build
the model, the loss and the metrics from them, so a checkpoint alone rebuilds the task
(``SegmentationTask.load_from_checkpoint(path)``). Band normalisation happens inside the task
(buffers ``band_mean``/``band_std``), so the model takes raw pixel values and prediction needs
nothing but the checkpoint.

Batches are dicts ``{"image": (B, C, H, W) float, raw values, "mask": (B, H, W) long}`` with
``ignore_index`` (255) marking unlabelled pixels, and optionally ``"valid": (B, H, W) bool``;
other keys are ignored. Invalid pixels (``valid`` False, NaN) are set to 0 after
normalisation, i.e. to the training band mean: the value prediction fills nodata with, so
training, evaluation and prediction see the same input there (see
:func:`terralearn.data.augment.normalize_bands`). Their mask is 255, so they count in no loss
and no metric.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, Literal

import lightning
import torch
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from terralearn.data.augment import Normalize, build_augment, normalize_bands
from terralearn.errors import ConfigError
from terralearn.models import create_model
from terralearn.pixels import NO_LABEL
from terralearn.tasks.losses import build_loss
from terralearn.tasks.schedules import restore_scheduled_lr

Schedule = Literal["cosine", "onecycle", "none"]
ONECYCLE_WARMUP = 0.3  # share of training spent rising to the peak (torch's OneCycleLR default)
ONECYCLE_START = 1 / 25  # start and end factors of the peak (torch's div_factor, final_div_factor)
ONECYCLE_END = ONECYCLE_START / 1e4


def schedule_factor(schedule: Schedule, progress: float) -> float:
    """Learning-rate factor of the peak at ``progress`` (0 at the start, 1 at the end).

    ``cosine`` decays from 1 to 0 along half a cosine; ``onecycle`` rises from 1/25 to 1 over
    the first 30 % (cosine) and anneals to 1/250000 over the rest; ``none`` is 1.
    """
    p = min(max(progress, 0.0), 1.0)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * p))
    if schedule == "onecycle":
        if p < ONECYCLE_WARMUP:
            rise = 0.5 * (1 - math.cos(math.pi * p / ONECYCLE_WARMUP))
            return ONECYCLE_START + (1 - ONECYCLE_START) * rise
        fall = 0.5 * (1 + math.cos(math.pi * (p - ONECYCLE_WARMUP) / (1 - ONECYCLE_WARMUP)))
        return ONECYCLE_END + (1 - ONECYCLE_END) * fall
    return 1.0


class SegmentationTask(lightning.LightningModule):
    """Train, validate and predict a segmentation model.

    Args:
        model: registered model name (see ``terralearn.models.list_models()``).
        in_channels: number of input bands.
        num_classes: 1 for binary (one logit, sigmoid), >= 2 for multi-class (softmax).
        model_kwargs: options passed to ``create_model`` (e.g. ``{"norm": "group"}``).
        loss: ``"ce"``, ``"dice"``, ``"focal"`` or ``"ce+dice"``.
        class_weights: per-class loss weights (2 for binary), e.g. from
            :func:`~terralearn.tasks.losses.class_weights_from_counts`.
        ignore_index: mask value of unlabelled pixels.
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay.
        schedule: ``"cosine"`` (cosine decay over the training), ``"onecycle"`` or ``"none"``
            (see :func:`schedule_factor`). The schedule follows :attr:`schedule_progress` when
            set (``terralearn.runs.train`` sets it from its step and time budget), else the
            share of ``trainer.estimated_stepping_batches`` done.
        class_names: names for reports (default ``class_0``, ...); binary has 2 (background first).
        band_mean: per-band mean of the raw pixel values; None skips normalisation.
        band_std: per-band standard deviation (with ``band_mean``).
        augment: ``"d4"`` (random rotation/flip of each training chip, also ``True``),
            ``"strong"`` (D4, random resized crops and band jitter; see
            :class:`~terralearn.data.augment.StrongAugment`) or ``"none"`` (also ``False``).
        encoder_lr_scale: learning-rate factor of ``model.encoder`` (e.g. 0.1 to fine-tune a
            pretrained encoder more gently than the new decoder); 1 trains all alike.

    Metrics: ``{val,test}_loss``, ``{val,test}_miou`` (Jaccard, macro over classes present),
    ``{val,test}_acc`` (overall pixel accuracy); ``train_loss`` per step and epoch. Monitor
    ``val_miou``.
    """

    def __init__(
        self,
        model: str = "unet",
        in_channels: int = 3,
        num_classes: int = 2,
        model_kwargs: dict[str, Any] | None = None,
        loss: str = "ce",
        class_weights: list[float] | None = None,
        ignore_index: int = NO_LABEL,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        schedule: Schedule = "cosine",
        class_names: list[str] | None = None,
        band_mean: list[float] | None = None,
        band_std: list[float] | None = None,
        augment: bool | str = "d4",
        encoder_lr_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if schedule not in ("cosine", "onecycle", "none"):
            raise ConfigError(
                f"unknown schedule {schedule!r}; choose one of 'cosine', 'onecycle', 'none'"
            )
        if class_names is not None and len(class_names) != self.metric_classes:
            raise ConfigError(
                f"class_names has {len(class_names)} names but the task has "
                f"{self.metric_classes} classes; give one name per class"
            )
        self.configure_models()
        self.configure_losses()
        self.configure_metrics()
        self.augmenter = build_augment(augment)
        # training progress in [0, 1] from the optimiser step: drives the schedule when set
        self.schedule_progress: Callable[[int], float] | None = None
        if encoder_lr_scale <= 0:
            raise ConfigError(
                f"encoder_lr_scale {encoder_lr_scale} must be positive (to keep the encoder "
                "fixed, freeze it instead)"
            )

    @property
    def metric_classes(self) -> int:
        """Number of classes as the metrics see them (2 for binary)."""
        return max(int(self.hparams["num_classes"]), 2)

    # ---- builders (called by __init__) ----------------------------------------------------

    def configure_models(self) -> None:
        """Build the network and the normalisation buffers."""
        hp = self.hparams
        self.model = create_model(
            hp["model"], hp["in_channels"], hp["num_classes"], **(hp["model_kwargs"] or {})
        )
        mean, std = hp["band_mean"], hp["band_std"]
        if (mean is None) != (std is None):
            raise ConfigError("give both band_mean and band_std, or neither")
        if mean is None:
            mean, std = [0.0] * hp["in_channels"], [1.0] * hp["in_channels"]
        norm = Normalize(mean, std)
        if norm.mean.numel() != hp["in_channels"]:
            raise ConfigError(
                f"band_mean/band_std have {norm.mean.numel()} values but in_channels is "
                f"{hp['in_channels']}; give one value per band"
            )
        self.register_buffer("band_mean", norm.mean.view(1, -1, 1, 1))
        self.register_buffer("band_std", norm.std.view(1, -1, 1, 1))

    def configure_losses(self) -> None:
        """Build the loss from ``loss``, ``class_weights`` and ``ignore_index``."""
        hp = self.hparams
        self.criterion = build_loss(
            hp["loss"], hp["num_classes"], hp["ignore_index"], hp["class_weights"]
        )

    def configure_metrics(self) -> None:
        """Build the validation and test metric collections."""
        k, ignore = self.metric_classes, self.hparams["ignore_index"]
        metrics = MetricCollection(
            {
                "miou": MulticlassJaccardIndex(k, average="macro", ignore_index=ignore),
                "acc": MulticlassAccuracy(k, average="micro", ignore_index=ignore),
            }
        )
        self.val_metrics = metrics.clone(prefix="val_")
        self.test_metrics = metrics.clone(prefix="test_")

    # ---- inference ------------------------------------------------------------------------

    def normalize(
        self,
        image: Tensor,
        valid: Tensor | None = None,
        memory_format: torch.memory_format | None = None,
    ) -> Tensor:
        """Raw pixel values ``(B, C, H, W)`` of any dtype -> normalised float32, 0 where
        ``valid`` ``(B, H, W)`` is False or the value is NaN (the band mean: the fill value),
        in ``memory_format`` (None: ``image``'s layout)."""
        return normalize_bands(image, self.band_mean, self.band_std, valid, memory_format)

    def forward(
        self,
        image: Tensor,
        valid: Tensor | None = None,
        memory_format: torch.memory_format | None = None,
        rows: tuple[int, int] | None = None,
    ) -> Tensor:
        """Logits ``(B, num_classes, H, W)`` for raw (unnormalised) images ``(B, C, H, W)`` of
        any dtype; the network's input is normalised in ``memory_format`` (its layout: the raw
        pixels are converted, laid out and normalised in one pass). With ``rows`` (``(start,
        stop)``) only those rows of the logits: a network that takes ``rows`` (the U-Net)
        computes less for them."""
        x = self.normalize(image, valid, memory_format)
        if rows is None:
            return self.model(x)
        if "rows" in inspect.signature(self.model.forward).parameters:
            return self.model(x, rows=rows)
        return self.model(x)[..., rows[0] : rows[1], :]

    def predict_proba(self, image: Tensor, valid: Tensor | None = None) -> Tensor:
        """Class probabilities for raw images: softmax ``(B, K, H, W)``, or for binary the
        foreground sigmoid ``(B, 1, H, W)``. Call under ``torch.no_grad()`` in eval mode."""
        logits = self(image, valid)
        return logits.sigmoid() if logits.shape[1] == 1 else logits.softmax(dim=1)

    def predict_labels(self, logits: Tensor) -> Tensor:
        """Class indices ``(B, H, W)`` from logits (binary: logit > 0)."""
        if logits.shape[1] == 1:
            return (logits[:, 0] > 0).long()
        return logits.argmax(dim=1)

    # ---- steps ----------------------------------------------------------------------------

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        # augment normalised images: photometric jitter is in standard deviations of each band
        valid = batch.get("valid")
        batch = {"image": self.normalize(batch["image"], valid), "mask": batch["mask"]}
        if valid is not None:
            batch["valid"] = valid
        if self.augmenter is not None:
            batch = self.augmenter(batch)
        logits = self.model(batch["image"])
        loss = self.criterion(logits, batch["mask"])
        self.log(
            "train_loss", loss, on_step=True, on_epoch=True, prog_bar=True,
            batch_size=logits.shape[0],
        )  # fmt: skip
        return loss

    def _eval_step(self, batch: dict[str, Any], stage: str) -> Tensor:
        logits = self(batch["image"], batch.get("valid"))
        mask = batch["mask"]
        loss = self.criterion(logits, mask)
        metrics = self.val_metrics if stage == "val" else self.test_metrics
        metrics.update(self.predict_labels(logits), mask)
        batch_size = logits.shape[0]
        self.log(f"{stage}_loss", loss, on_epoch=True, batch_size=batch_size)
        self.log_dict(metrics, on_epoch=True, prog_bar=stage == "val", batch_size=batch_size)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self._eval_step(batch, "test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self.predict_proba(batch["image"], batch.get("valid"))

    # ---- optimisation ---------------------------------------------------------------------

    def on_train_start(self) -> None:
        restore_scheduled_lr(self.trainer)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The optimiser's groups: the encoder at ``lr * encoder_lr_scale``, the rest at ``lr``."""
        scale = self.hparams.get("encoder_lr_scale", 1.0)
        encoder = getattr(self.model, "encoder", None)
        if scale == 1.0 or encoder is None:
            return [{"params": list(self.parameters())}]
        inside = {id(p) for p in encoder.parameters()}
        rest = [p for p in self.parameters() if id(p) not in inside]
        return [
            {"params": list(encoder.parameters()), "lr": self.hparams["lr"] * scale},
            {"params": rest},
        ]

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        optimizer = torch.optim.AdamW(
            self.parameter_groups(), lr=hp["lr"], weight_decay=hp["weight_decay"]
        )
        if hp["schedule"] == "none":
            return optimizer
        progress = self.schedule_progress
        if progress is None:
            steps = float(self.trainer.estimated_stepping_batches)
            total = max(steps, 1.0) if math.isfinite(steps) else math.inf
            progress = lambda step: step / total  # noqa: E731
        schedule = hp["schedule"]
        # a closure, not an object: LambdaLR saves no state of it in checkpoints
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: schedule_factor(schedule, progress(step))
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
