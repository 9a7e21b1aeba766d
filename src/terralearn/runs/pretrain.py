"""``pretrain``: unlabelled rasters (or chip stores) -> a pretraining run directory.

```
RUN/
  config.yaml          resolved PretrainConfig
  run.json             kind "pretraining": model, bands, chip size, ... (RunInfo)
  checkpoints/         last.ckpt (encoder.* + the method's heads), saved atomically each epoch
  logs/metrics.csv     train_loss per step and epoch (the whole run, also across resumes)
  metrics.json         final loss, epochs, steps, chips per epoch, devices, time
  figures/             loss.png; reconstructions.png (MAE)
```
``terralearn train STORE --init-from RUN`` then starts from the encoder in ``last.ckpt``;
``terralearn pretrain ... --out RUN --resume`` continues a run that was killed (or extends it
with more ``--epochs``). With DDP every rank reads its own share of the chips
(:class:`~terralearn.ssl.data.UnlabelledChips`) and makes the same number of steps.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch

from terralearn._fs import check_output
from terralearn.artifacts import CONFIG_FILE, METRICS_FILE, RUN_FILE, RunDir, RunInfo
from terralearn.config import to_yaml
from terralearn.errors import ConfigError
from terralearn.models import model_info
from terralearn.pixels import NO_LABEL
from terralearn.runs import resume as resuming
from terralearn.runs.trainer import build_trainer, fit, write_text
from terralearn.ssl.data import UnlabelledChips, UnlabelledDataModule
from terralearn.ssl.figures import plot_loss_curve, plot_reconstructions, read_losses
from terralearn.ssl.mae import reconstruct
from terralearn.ssl.masking import check_ratio, mask_pixels
from terralearn.tasks.pretrain import PretrainTask

RECONSTRUCTION_PANELS = 4
# Options that may change when a run is resumed; every other key must match the saved config.
# Not `devices`: the step's batch (devices x batch size) and the steps per epoch, hence the
# learning-rate schedule by step, depend on it.
RESUMABLE_CHANGES = {"out", "epochs", "max_time", "strategy", "accelerator", "num_workers",
                     "progress"}  # fmt: skip


@dataclass
class PretrainConfig:
    """Options of ``terralearn pretrain`` (also the keys of its YAML config)."""

    images: list[str] = field(default_factory=list)
    out: str = ""
    method: str = "mae"
    model: str = "vit_tiny"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    bands: list[str] | None = None
    chip_size: int = 64
    chips_per_epoch: int | None = None
    shuffle_buffer: int = 512
    mask_ratio: float = 0.75
    decoder_width: int = 128
    decoder_depth: int = 2
    decoder_heads: int = 4
    projection_dim: int = 128
    temperature: float = 0.2
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1.5e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    max_time: float | None = None  # minutes
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str | None = None
    num_workers: int = 0
    seed: int = 0
    progress: bool = True

    def validate(self) -> None:
        if not self.images:
            raise ConfigError("give at least one unlabelled IMAGE (raster or chip store)")
        if self.method not in ("mae", "contrastive"):
            raise ConfigError(
                f"--method {self.method!r} is unknown; choose 'mae' (ViT) or 'contrastive'"
            )
        for option, value in (("--epochs", self.epochs), ("--batch-size", self.batch_size),
                              ("--chip-size", self.chip_size)):  # fmt: skip
            if value < 1:
                raise ConfigError(f"{option} {value} must be at least 1")
        if self.method == "contrastive" and self.batch_size < 2:
            raise ConfigError("--batch-size must be at least 2 for --method contrastive")
        if self.lr <= 0:
            raise ConfigError(f"--lr {self.lr} must be positive")
        family = model_info(self.model)["family"]
        if self.method == "mae" and family != "vit":
            raise ConfigError(
                f"--method mae needs a ViT model (vit_tiny, vit_small, vit_hybrid_tiny), got "
                f"{self.model!r}; use --method contrastive for U-Nets"
            )
        if self.method == "mae":
            check_ratio(self.mask_ratio)


def pretrain(config: PretrainConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """Pretrain an encoder on unlabelled chips; returns the run directory.

    ``resume=True`` continues ``config.out`` from ``checkpoints/last.ckpt``: weights, optimizer,
    schedule, epoch and step, and the stream goes on with the epoch after the checkpoint's (the
    chips an uninterrupted run would have drawn). Only options in :data:`RESUMABLE_CHANGES` may
    differ from the saved config. Checkpoints are written at the end of every epoch, so a kill
    loses at most the epoch in progress (``chips_per_epoch`` sets how long that is).
    """
    config.validate()
    if resume and overwrite:
        raise ConfigError(
            "--resume continues the run in --out and --overwrite replaces it; give only one"
        )
    run = RunDir(config.out)
    primary = resuming.is_primary()
    ckpt_path = None
    if resume:
        ckpt_path = resuming.check_resume(run, config, "pretraining", RESUMABLE_CHANGES)
    elif primary:
        check_output(run.path, overwrite, option="--out")
    data = UnlabelledChips(
        config.images, config.chip_size, config.chips_per_epoch, config.shuffle_buffer,
        config.seed, config.bands, batch_size=config.batch_size,
    )  # fmt: skip
    mean, std = data.band_mean_std(seed=config.seed)

    checkpoint = resuming.EpochCheckpoint(run.checkpoints)  # the latest weights, every epoch
    trainer = build_trainer(
        run, config, [checkpoint],
        ignore_warnings=(
            r".*does not have many workers.*",
            # the stream's length is exact per process (see UnlabelledChips.quota)
            r".*`IterableDataset` has `__len__` defined.*",
            # a resumed run writes into its own folders again
            r".*Experiment logs directory .* exists.*",
            r".*Checkpoint directory .* exists and is not empty.*",
        ),
        max_epochs=config.epochs,
        max_time={"minutes": config.max_time} if config.max_time else None,
        limit_val_batches=0, num_sanity_val_steps=0,
    )  # fmt: skip
    # every rank serves the same whole batches (UnlabelledChips.rank_quota): one schedule for all
    steps_per_epoch = max(1, math.ceil(data.rank_quota(trainer.world_size) / config.batch_size))
    trainer.log_every_n_steps = max(1, min(10, steps_per_epoch))
    L.seed_everything(config.seed, workers=True, verbose=False)  # before the weights are drawn
    task = PretrainTask(
        method=config.method, model=config.model, in_channels=len(data.bands),
        model_kwargs=config.model_kwargs, mask_ratio=config.mask_ratio,
        decoder_width=config.decoder_width, decoder_depth=config.decoder_depth,
        decoder_heads=config.decoder_heads, projection_dim=config.projection_dim,
        temperature=config.temperature, lr=config.lr, weight_decay=config.weight_decay,
        warmup_steps=round(config.warmup_epochs * steps_per_epoch),
        total_steps=steps_per_epoch * config.epochs, band_mean=mean, band_std=std,
    )  # fmt: skip

    resumed_at = None
    if primary:
        if ckpt_path is not None:
            resuming.clear_partial_saves(run)
            step = resuming.checkpoint_step(ckpt_path)
            resuming.carry_over_logs(run.logs, step, resuming.checkpoint_log_row(ckpt_path))
            resumed_at = step
        else:
            if run.path.exists():
                shutil.rmtree(run.path)
            run.path.mkdir(parents=True)
        write_text(run.path / CONFIG_FILE, to_yaml(config))
        write_text(run.path / RUN_FILE, json.dumps(_run_info(config, data).to_json(), indent=2))

    elapsed = fit(trainer, task, UnlabelledDataModule(data, config.num_workers), ckpt_path)
    if trainer.global_rank != 0:
        return run.path
    resuming.merge_logs(run.logs)
    _finish(run, trainer, task, data, config, elapsed, steps_per_epoch, resumed_at)
    return run.path


def _run_info(config: PretrainConfig, data) -> RunInfo:
    first = data.sources[0]
    if hasattr(first, "rio"):
        resolution = float(abs(first.rio.resolution()[0]))
        crs = str(first.rio.crs)
    else:
        resolution, crs = float(first.meta.resolution[0]), first.meta.crs[0]
    return RunInfo(
        kind="pretraining", model=config.model, in_channels=len(data.bands), num_classes=0,
        bands=data.bands, classes={}, chip_size=config.chip_size, resolution=resolution,
        crs=crs, dtype=data.dtype, ignore_index=NO_LABEL, store=", ".join(data.names),
    )  # fmt: skip


def _finish(
    run: RunDir, trainer, task, data, config: PretrainConfig, elapsed: float,
    steps_per_epoch: int, resumed_at: int | None,
) -> None:  # fmt: skip
    """metrics.json and figures."""
    metrics_csv = run.logs / "metrics.csv"
    epoch_losses = read_losses(metrics_csv)[1] if metrics_csv.is_file() else []
    logged = trainer.callback_metrics
    loss = logged.get("train_loss_epoch", logged.get("train_loss"))
    if epoch_losses:  # the log covers the whole run, also when resumed after the last epoch
        loss = epoch_losses[-1][1]
    metrics: dict[str, Any] = {
        "method": config.method,
        "final_train_loss": None if loss is None else float(loss),
        "epochs": int(trainer.current_epoch),
        "steps": int(trainer.global_step),
        "chips_per_epoch": data.chips_per_epoch,
        "steps_per_epoch": steps_per_epoch,
        "devices": int(trainer.world_size),
        "train_seconds": round(elapsed, 2),
        "resumed_at_step": resumed_at,
        "checkpoint": "checkpoints/last.ckpt",
    }
    run.figures.mkdir(exist_ok=True)
    figures = []
    if metrics_csv.is_file():
        figures.append(plot_loss_curve(metrics_csv, run.figures / "loss.png"))
    if config.method == "mae":
        figures.append(
            write_reconstructions(task.cpu().eval(), data, run.figures / "reconstructions.png")
        )
    metrics["figures"] = [str(p.relative_to(run.path)) for p in figures]
    write_text(run.path / METRICS_FILE, json.dumps(metrics, indent=2))


def write_reconstructions(task, data, out: Path, count: int = RECONSTRUCTION_PANELS) -> Path:
    """MAE reconstructions (input | masked | reconstruction) of the first chips of the stream."""
    data.set_epoch(0)
    chips = [c["image"] for c in itertools.islice(iter(data), count)]
    raw = torch.stack(chips)
    with torch.no_grad():
        x = task.normalize(raw)
        p = task.mae.patch_size
        h, w = x.shape[-2:]
        x = x[..., : h - h % p, : w - w % p]  # whole patches only, for a clean figure
        output = task.mae(x, generator=torch.Generator().manual_seed(0))
        recon = reconstruct(output, x, p)
        hidden = mask_pixels(torch.ones_like(x[:, :1]), ~output.mask.mask, p, output.grid)
        masked = torch.where(hidden.bool(), torch.nan, x)
    to_raw = lambda t: (t * task.band_std + task.band_mean).numpy()  # noqa: E731
    return plot_reconstructions(to_raw(x), to_raw(masked), to_raw(recon), data.bands, out)
