"""``train``: a chip store -> a run directory with checkpoints, logs, metrics and figures."""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from terralearn._fs import check_output
from terralearn.artifacts import CONFIG_FILE, METRICS_FILE, RUN_FILE, RunDir, RunInfo, load_task
from terralearn.config import to_yaml
from terralearn.data.augment import AUGMENTS, augment_name
from terralearn.data.datasets import ChipDataModule
from terralearn.errors import ConfigError, IncompatibleError
from terralearn.models import create_model
from terralearn.models.registry import require_kind
from terralearn.runs import resume as resuming
from terralearn.runs.callbacks import StepEarlyStopping, TrainingBudget, TrainThroughput
from terralearn.runs.report import write_training_figures
from terralearn.runs.trainer import build_trainer, fit, write_text
from terralearn.runs.transfer import FrozenEncoder, freeze, init_encoder_from, read_pretrained
from terralearn.tasks.losses import class_weights_from_counts
from terralearn.tasks.segmentation import SegmentationTask

log = logging.getLogger(__name__)

INIT_FILE = "init_from.json"  # the encoder transfer report of --init-from
RESUMABLE_CHANGES = {
    "epochs",
    "max_time",
    "min_steps",
    "devices",
    "strategy",
    "accelerator",
    "num_workers",
    "progress",
}  # options that may change when a run is resumed; every other key must match the saved config


@dataclass
class TrainConfig:
    """Options of ``terralearn train`` (also the keys of its YAML config)."""

    store: str = ""
    out: str = ""
    model: str = "unet"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    num_classes: int | None = None  # optional check against the store
    # None: DEFAULT_EPOCHS within [min_steps, max_steps] steps, or until max_time when given
    epochs: int | None = None
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    loss: str = "ce"
    class_weights: bool = False
    schedule: str = "cosine"
    # none | d4 | strong (see terralearn.data.augment); true/false: d4/none (the older spelling)
    augment: str | bool = "d4"
    patience: int | None = 10  # validation checks without improvement (None/0: no early stop)
    max_time: float | None = None  # minutes of training; the schedule spans them
    min_steps: int = 1000  # optimiser steps before early stopping may stop the run
    max_steps: int = 2000  # without --epochs and --max-time: the run's longest default length
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str | None = None  # default: 16-mixed on GPU, 32-true on CPU
    num_workers: int = 0
    label_fraction: float = 1.0
    seed: int = 0
    progress: bool = True
    init_from: str | None = None  # a `terralearn pretrain` run: start from its encoder
    freeze_encoder: bool = False  # with init_from: train only the decoder and head
    encoder_lr_scale: float = 1.0  # learning-rate factor of the encoder (e.g. 0.1 with init_from)

    def validate(self) -> None:
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"--epochs {self.epochs} must be at least 1")
        if self.max_time is not None and self.max_time <= 0:
            raise ConfigError(f"--max-time {self.max_time} must be a positive number of minutes")
        if self.min_steps < 0:
            raise ConfigError(f"--min-steps {self.min_steps} must be 0 or more")
        if self.max_steps < 1:
            raise ConfigError(f"--max-steps {self.max_steps} must be at least 1")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size {self.batch_size} must be at least 1")
        if self.lr <= 0:
            raise ConfigError(f"--lr {self.lr} must be positive")
        self.augment = augment_name(self.augment)
        if self.augment not in AUGMENTS:
            raise ConfigError(
                f"--augment {self.augment!r} is not one of {', '.join(AUGMENTS)}; "
                "pick one (d4 is the default)"
            )
        if self.encoder_lr_scale <= 0:
            raise ConfigError(
                f"--encoder-lr-scale {self.encoder_lr_scale} must be positive; to keep the "
                "encoder fixed use --freeze-encoder"
            )
        if not 0 < self.label_fraction <= 1:
            raise ConfigError(f"--label-fraction {self.label_fraction} must lie in (0, 1]")
        if self.freeze_encoder and not self.init_from:
            raise ConfigError(
                "--freeze-encoder needs --init-from PRETRAIN_RUN (a frozen random encoder "
                "learns nothing); add --init-from or drop --freeze-encoder"
            )


DEFAULT_EPOCHS = (
    20  # length of a run given neither --epochs nor --max-time (within --min/max-steps)
)
VAL_STEPS = 50  # without --epochs: validate every epoch, at most once per this many steps


@dataclass(frozen=True)
class TrainingPlan:
    """How long a run trains and how often it validates, from the config and the store size.

    Attributes:
        epochs: epochs of the run (None: no epoch budget).
        at_least_steps: with ``epochs``, the run lasts at least this many steps...
        at_most_steps: ...and at most this many (None: no cap).
        steps_per_epoch: training batches per epoch (one device).
        max_seconds: time budget (None: none).
        val_interval: optimiser steps between validation checks (and checkpoints): one epoch
            with ``--epochs``, else one epoch but at least :data:`VAL_STEPS` steps (a small
            store's epoch is a few steps); early-stopping patience counts these checks.
    """

    epochs: int | None
    at_least_steps: int
    max_seconds: float | None
    val_interval: int
    at_most_steps: int | None = None
    steps_per_epoch: int = 1

    def describe(self) -> str:
        """One line for the log: how long the run will train."""
        if self.epochs is None:
            return f"training for {self.max_seconds / 60:g} minutes (--max-time)"
        if self.at_most_steps is None:
            return f"training {self.epochs} epochs of {self.steps_per_epoch:,} steps (--epochs)"
        epochs_steps = self.epochs * self.steps_per_epoch
        steps = min(max(epochs_steps, self.at_least_steps), self.at_most_steps)
        if steps == epochs_steps:
            why = f"{self.epochs} epochs"
        elif steps > epochs_steps:
            why = f"at least --min-steps {self.at_least_steps:,}"
        else:
            why = f"{steps / self.steps_per_epoch:.1f} of {self.epochs} epochs: --max-steps; --epochs N trains N epochs"
        return f"training {steps:,} steps of {self.steps_per_epoch:,} per epoch ({why})"


def training_plan(config: TrainConfig, train_chips: int) -> TrainingPlan:
    """The run's budget: ``--epochs`` as given; without it, until ``--max-time``, or (neither)
    :data:`DEFAULT_EPOCHS` epochs but at least ``--min-steps`` and at most ``--max-steps``
    steps: a small store trains long enough to learn rather than stopping after a few dozen
    steps, and a large one does not run for hours on a CPU unless asked to."""
    steps_per_epoch = max(1, math.ceil(train_chips / config.batch_size))
    max_seconds = None if config.max_time is None else config.max_time * 60.0
    epochs, at_least, at_most = config.epochs, 0, None
    if epochs is None and max_seconds is None:
        epochs, at_least = DEFAULT_EPOCHS, config.min_steps
        at_most = max(config.max_steps, config.min_steps)
    val_interval = steps_per_epoch if config.epochs else max(steps_per_epoch, VAL_STEPS)
    return TrainingPlan(epochs, at_least, max_seconds, val_interval, at_most, steps_per_epoch)


def _set_up_run_dir(run: RunDir, config: TrainConfig, resume: bool, overwrite: bool) -> None:
    if resume:
        resuming.check_resume(
            run, config, "segmentation", RESUMABLE_CHANGES, upgrade={"augment": augment_name}
        )
        resuming.clear_partial_saves(run)
    else:
        check_output(run.path, overwrite, option="--out")
        if run.path.exists():
            shutil.rmtree(run.path)
    run.path.mkdir(parents=True, exist_ok=True)
    write_text(run.path / CONFIG_FILE, to_yaml(config))


def train(
    config: TrainConfig,
    resume: bool = False,
    overwrite: bool = False,
    echo: Callable[[str], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> Path:
    """Train a segmentation model on a chip store; returns the run directory.

    ``resume=True`` continues ``config.out`` from ``checkpoints/last.ckpt`` (same config required).
    With ``config.init_from`` the encoder starts from a pretraining run; the transfer report goes
    to ``echo`` (default: the log) and to ``init_from.json`` in the run directory.

    The run lasts ``--epochs``, else until ``--max-time`` (the learning-rate schedule spans the
    time), else :data:`DEFAULT_EPOCHS` epochs within ``--min-steps`` .. ``--max-steps`` optimiser steps; early
    stopping (``--patience`` validation checks) never stops it before ``--min-steps`` steps
    (see :func:`training_plan`). ``clock`` (seconds, default ``time.monotonic``) measures the
    time budget; tests inject one.
    """
    config.validate()
    run = RunDir(config.out)
    data = ChipDataModule(
        config.store,
        batch_size=config.batch_size,
        num_workers=config.num_workers,
        label_fraction=config.label_fraction,
        seed=config.seed,
    )
    store = data.store
    if not store.has_labels:
        raise ConfigError(
            f"store {config.store!r} has no labels; prepare it with --labels to train a segmentation model"
        )
    if config.num_classes is not None and config.num_classes != store.num_classes:
        raise ConfigError(
            f"num_classes {config.num_classes} in the config disagrees with store {config.store!r}, "
            f"which has {store.num_classes} classes ({', '.join(store.class_names)}); "
            "remove num_classes or fix it"
        )
    if len(store.split_ids("train")) == 0 or len(store.split_ids("val")) == 0:
        raise ConfigError(
            f"store {config.store!r} needs chips in both the train and val splits "
            f"(has {store.meta.splits}); prepare it again with other --val/--block-size"
        )
    require_kind(config.model, "raster", "terralearn train")
    probe = create_model(
        config.model, in_channels=len(store.bands), num_classes=2, **config.model_kwargs
    )
    pretrained = None
    if config.init_from and not resume:  # read and check before anything is written
        pretrained = read_pretrained(config.init_from)
        init_encoder_from(probe, config.init_from, store.bands, pretrained=pretrained)

    # DDP's launcher re-runs this command for ranks > 0: only rank 0 sets up the run directory.
    primary = resuming.is_primary()
    ckpt_path = run.checkpoint("last") if resume else None
    if primary:
        _set_up_run_dir(run, config, resume, overwrite)
        if ckpt_path is not None:  # keep the curves of the epochs before the kill
            resuming.carry_over_logs(run.logs, resuming.checkpoint_step(ckpt_path))
    mean, std = store.band_mean_std()
    counts = store.class_counts("train")
    info = RunInfo(
        kind="segmentation",
        model=config.model,
        in_channels=len(store.bands),
        num_classes=store.num_classes,
        bands=store.bands,
        classes=dict(enumerate(store.class_names)),
        chip_size=store.meta.chip_size,
        resolution=float(store.meta.resolution[0]),
        crs=store.meta.crs[0],
        dtype=store.meta.dtype,
        ignore_index=store.meta.ignore_index,
        store=str(Path(config.store).resolve()),
        display_low=[float(store.stats[b]["p2"]) for b in store.bands],
        display_high=[float(store.stats[b]["p98"]) for b in store.bands],
        class_table=store.class_table.to_json() if store.class_table is not None else None,
    )
    if primary:
        write_text(run.path / RUN_FILE, json.dumps(info.to_json(), indent=2))

    L.seed_everything(config.seed, workers=True, verbose=False)
    weights = class_weights_from_counts(counts).tolist() if config.class_weights else None
    task = SegmentationTask(
        model=config.model,
        in_channels=len(store.bands),
        num_classes=store.num_classes,
        model_kwargs=config.model_kwargs,
        loss=config.loss,
        class_weights=weights,
        ignore_index=store.meta.ignore_index,
        lr=config.lr,
        weight_decay=config.weight_decay,
        schedule=config.schedule,
        class_names=store.class_names,
        band_mean=mean,
        band_std=std,
        augment=config.augment,
        encoder_lr_scale=config.encoder_lr_scale,
    )
    if pretrained is not None:
        report = _init_encoder(task, config, store.bands, pretrained)
        if primary:
            write_text(run.path / INIT_FILE, json.dumps(report.to_json(), indent=2))
        for line in report.lines():
            (echo or log.info)(line)
    plan = training_plan(config, len(data.dataset("train")))
    (echo or log.info)(plan.describe())
    budget = TrainingBudget(
        epochs=plan.epochs,
        at_least_steps=plan.at_least_steps,
        at_most_steps=plan.at_most_steps,
        max_seconds=plan.max_seconds,
        clock=clock or time.monotonic,
    )
    task.schedule_progress = budget.progress
    throughput = TrainThroughput()
    callbacks = [
        throughput,
        budget,
        ModelCheckpoint(
            dirpath=run.checkpoints,
            filename="best",
            monitor="val_miou",
            mode="max",
            save_top_k=1,
            enable_version_counter=False,
        ),
        # last.ckpt after every validation: Lightning's save_last only rewrites it when best.ckpt
        # is saved too, so a run whose score stopped improving would resume from an old step
        ModelCheckpoint(
            dirpath=run.checkpoints,
            filename="last",
            monitor=None,
            save_top_k=1,
            enable_version_counter=False,
        ),
    ]
    if config.freeze_encoder:
        callbacks.append(FrozenEncoder())
    early_stopping = None
    if config.patience:
        early_stopping = StepEarlyStopping(
            monitor="val_miou", mode="max", patience=config.patience, min_steps=config.min_steps
        )
        callbacks.append(early_stopping)
    trainer = build_trainer(
        run,
        config,
        callbacks,
        tensorboard_logs=True,
        # the budget callback stops the run (steps, epochs or time); an exact --epochs is also
        # Lightning's cap (and its progress bar's "Epoch i/N")
        max_epochs=plan.epochs if plan.epochs and not plan.at_least_steps else -1,
        val_check_interval=plan.val_interval,
        check_val_every_n_epoch=None,  # validation counted in steps, across epochs
        log_every_n_steps=max(1, min(10, len(data.dataset("train")) // config.batch_size)),
        deterministic=False,
    )
    elapsed = fit(trainer, task, data, ckpt_path)
    if trainer.global_rank != 0:
        return run.path
    resuming.merge_logs(run.logs)
    stop_reason = "early_stopping" if early_stopping and early_stopping.stopped_step else None
    _finish(run, trainer, data, elapsed, throughput.median(), stop_reason or budget.stop_reason)
    return run.path


def _init_encoder(task, config: TrainConfig, bands: list[str], pretrained):
    """Load the pretrained encoder into ``task.model``; freeze it if asked."""
    report = init_encoder_from(task.model, config.init_from, bands, pretrained=pretrained)
    if config.freeze_encoder:
        freeze(task.model.encoder)
    return report


def _finish(
    run: RunDir, trainer, data, elapsed: float, train_rate: float | None, stop_reason: str | None
) -> None:
    """metrics.json and figures, from the best checkpoint."""
    checkpoint_cb = trainer.checkpoint_callback
    best_score = checkpoint_cb.best_model_score
    train_chips = len(data.dataset("train"))
    metrics = {
        "best_val_miou": None if best_score is None else float(best_score),
        "best_checkpoint": "checkpoints/best.ckpt",
        "epochs": int(trainer.current_epoch),
        "steps": int(trainer.global_step),
        "train_chips": train_chips,
        "train_seconds": round(elapsed, 2),
        "train_chips_per_second": None if train_rate is None else round(train_rate, 2),
        "stopped_early": stop_reason == "early_stopping",
        "stop_reason": stop_reason,  # early_stopping, steps (the step/epoch budget) or max_time
    }
    task, _ = load_task(run.path, "best")
    metrics["figures"] = [
        str(p.relative_to(run.path)) for p in write_training_figures(run, task, data)
    ]
    write_text(run.path / METRICS_FILE, json.dumps(metrics, indent=2))


def check_compatible(info: RunInfo, bands: list[str], source: str) -> None:
    """Fail when an image or store does not have the bands the model was trained on."""
    if list(bands) != list(info.bands):
        raise IncompatibleError(
            f"{source} has bands {list(bands)} but the model was trained on {info.bands}; "
            "select the same bands in the same order"
        )
