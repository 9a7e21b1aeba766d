"""Lightning task for self-supervised pretraining: masked autoencoder or contrastive.

As with :class:`~terralearn.tasks.segmentation.SegmentationTask`, the constructor saves the
hyperparameters and builds everything from them, so a checkpoint alone rebuilds the task, and
band normalisation lives in the task (buffers ``band_mean``/``band_std``).

The network is the ``encoder`` of a registered model (the decoder and head of the segmentation
model are not built: unused parameters would stall DDP), held as ``self.encoder`` so checkpoint
names are ``encoder.*``, the names :mod:`terralearn.runs.transfer` reads. Method heads live beside
it (``self.mae`` shares the encoder; ``self.contrastive`` likewise).

Batches are dicts ``{"image": (B, C, H, W) raw values}``; other keys are ignored.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import lightning
import torch
from torch import Tensor

from terralearn.data.augment import normalize_bands
from terralearn.errors import ConfigError
from terralearn.models import create_model, model_info
from terralearn.models.unet import UNet
from terralearn.models.vit import ViT
from terralearn.ssl.augment import MultispectralViews
from terralearn.ssl.contrastive import ContrastiveModel
from terralearn.ssl.mae import MaskedAutoencoder
from terralearn.ssl.masking import check_ratio
from terralearn.tasks.schedules import restore_scheduled_lr

Method = Literal["mae", "contrastive"]


class PretrainTask(lightning.LightningModule):
    """Pretrain the encoder of a registered model without labels.

    Args:
        method: ``"mae"`` (ViT models) or ``"contrastive"`` (SimCLR; U-Net or ViT).
        model: registered model name whose encoder is pretrained.
        in_channels: input bands.
        model_kwargs: options for ``create_model`` (must match the fine-tuning model's).
        mask_ratio: MAE share of hidden patches.
        decoder_width: MAE decoder width.
        decoder_depth: MAE decoder blocks.
        decoder_heads: MAE decoder heads.
        projection_dim: contrastive projection width.
        temperature: NT-Xent temperature.
        lr: peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps, then cosine decay to 0 at ``total_steps``.
        total_steps: optimisation steps of the whole run (None: constant after warm-up).
        band_mean: per-band mean of the raw values (None: no normalisation).
        band_std: per-band standard deviation.
    """

    def __init__(
        self,
        method: Method = "mae",
        model: str = "vit_tiny",
        in_channels: int = 3,
        model_kwargs: dict[str, Any] | None = None,
        mask_ratio: float = 0.75,
        decoder_width: int = 128,
        decoder_depth: int = 2,
        decoder_heads: int = 4,
        projection_dim: int = 128,
        temperature: float = 0.2,
        lr: float = 1.5e-3,
        weight_decay: float = 0.05,
        warmup_steps: int = 0,
        total_steps: int | None = None,
        band_mean: list[float] | None = None,
        band_std: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.configure_models()

    def configure_models(self) -> None:
        """Build the encoder, the method's head and the normalisation buffers."""
        hp = self.hparams
        family = model_info(hp["model"])["family"]
        if family not in ("unet", "vit"):
            raise ConfigError(
                f"model {hp['model']!r} ({family}) cannot be pretrained; choose a U-Net or ViT model"
            )
        net = create_model(hp["model"], hp["in_channels"], 1, **(hp["model_kwargs"] or {}))
        self.encoder = net.encoder
        if hp["method"] == "mae":
            if not isinstance(net, ViT):
                raise ConfigError(
                    f"--method mae needs a ViT model (vit_tiny, vit_small, vit_hybrid_tiny), got "
                    f"{hp['model']!r}; use --method contrastive for U-Nets"
                )
            check_ratio(hp["mask_ratio"])
            self.mae = MaskedAutoencoder(
                self.encoder, hp["in_channels"], hp["mask_ratio"], hp["decoder_width"],
                hp["decoder_depth"], hp["decoder_heads"],
            )  # fmt: skip
        elif hp["method"] == "contrastive":
            multiple = 2**net.depth if isinstance(net, UNet) else net.patch_size
            self.contrastive = ContrastiveModel(
                self.encoder, multiple, hp["projection_dim"], hp["temperature"]
            )
        else:
            raise ConfigError(
                f"unknown --method {hp['method']!r}; choose 'mae' (ViT) or 'contrastive'"
            )
        mean, std = hp["band_mean"], hp["band_std"]
        if mean is None:
            mean, std = [0.0] * hp["in_channels"], [1.0] * hp["in_channels"]
        if len(mean) != hp["in_channels"] or len(std) != hp["in_channels"]:
            raise ConfigError(
                f"band_mean/band_std have {len(mean)}/{len(std)} values but in_channels is "
                f"{hp['in_channels']}; give one value per band"
            )
        self.register_buffer("band_mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("band_std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.views = MultispectralViews()

    def normalize(self, image: Tensor, valid: Tensor | None = None) -> Tensor:
        """Raw pixel values -> standardised float32, 0 (the band mean) at invalid pixels.

        The streams skip chips with nodata (:mod:`terralearn.ssl.data`), so ``valid`` is
        normally None; NaN still becomes 0, the rule of
        :func:`terralearn.data.augment.normalize_bands` that every task follows.
        """
        return normalize_bands(image, self.band_mean, self.band_std, valid)

    def loss(self, image: Tensor) -> Tensor:
        """The self-supervised loss of a batch of raw images."""
        x = self.normalize(image)
        if self.hparams["method"] == "mae":
            return self.mae(x).loss
        return self.contrastive(self.views(x), self.views(x))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        loss = self.loss(batch["image"])
        self.log(
            "train_loss", loss, on_step=True, on_epoch=True, prog_bar=True,
            batch_size=batch["image"].shape[0], sync_dist=True,
        )  # fmt: skip
        return loss

    def on_train_epoch_start(self) -> None:
        # streamed datasets draw a new grid shift and order per epoch
        loader = self.trainer.train_dataloader
        dataset = getattr(loader, "dataset", None)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(self.current_epoch)

    def on_train_start(self) -> None:
        restore_scheduled_lr(self.trainer)

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        # no weight decay on norms, biases and positions (the usual ViT/MAE recipe)
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            (
                no_decay if p.ndim <= 1 or name.endswith(("pos_embed", "mask_token")) else decay
            ).append(p)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": hp["weight_decay"]},
             {"params": no_decay, "weight_decay": 0.0}],
            lr=hp["lr"], betas=(0.9, 0.95),
        )  # fmt: skip
        warmup, total = int(hp["warmup_steps"]), hp["total_steps"]

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            if not total or total <= warmup:
                return 1.0
            progress = min((step - warmup) / (total - warmup), 1.0)
            return 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
