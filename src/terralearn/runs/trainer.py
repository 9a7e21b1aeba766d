"""The one Lightning Trainer of terralearn runs (``train`` and ``pretrain``), and fitting it.

Both drivers get the same logger (a CSV log flushed every step, so a killed run keeps its
curves; TensorBoard beside it when asked and installed), precision rule (16-bit mixed on a
GPU, 32-bit on the CPU unless ``precision`` is given), atomic checkpoint writer, learning-rate
monitor, progress bar and warning filters; each adds its own callbacks and loop options.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger

from terralearn._fs import atomic_write_bytes
from terralearn._memory import retained_memory
from terralearn.artifacts import RunDir
from terralearn.runs.callbacks import RunProgressBar
from terralearn.runs.checkpoint_io import AtomicCheckpointIO

LOGS_NAME = "logs"  # logs/metrics.csv
# a deprecation inside Lightning's own code, not actionable by our users
LIGHTNING_WARNINGS = (r".*isinstance\(treespec, LeafSpec\)",)


class DeviceOptions(Protocol):
    """The options of a run config the Trainer takes (TrainConfig, PretrainConfig)."""

    accelerator: str
    devices: int | str
    strategy: str
    precision: str | None
    progress: bool


def default_precision(accelerator: str, precision: str | None = None) -> str:
    """``precision`` when given, else 16-bit mixed on a GPU and 32-bit on the CPU."""
    gpu = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    return precision or ("16-mixed" if gpu else "32-true")


def build_trainer(
    run: RunDir,
    config: DeviceOptions,
    callbacks: Sequence[L.Callback],
    *,
    tensorboard_logs: bool = False,
    ignore_warnings: Sequence[str] = (),
    **loop: Any,
) -> L.Trainer:
    """A Lightning Trainer writing into ``run``.

    Args:
        run: the run directory (logs go to ``run/logs``).
        config: accelerator, devices, strategy, precision and progress of the run.
        callbacks: the driver's callbacks; a learning-rate monitor and (with ``progress``)
            :class:`RunProgressBar` are added.
        tensorboard_logs: also log to ``logs/tensorboard`` when tensorboard is installed.
        ignore_warnings: message patterns of warnings the run cannot act on.
        **loop: the driver's loop options (``max_epochs``, ``val_check_interval``, ...).
    """
    callbacks = [*callbacks, LearningRateMonitor(logging_interval="epoch")]
    if config.progress:
        callbacks.append(RunProgressBar(leave=True))
    # flushed every step: a killed run keeps its curves up to the kill
    loggers = [CSVLogger(save_dir=run.path, name=LOGS_NAME, version="", flush_logs_every_n_steps=1)]
    if tensorboard_logs:
        try:
            import tensorboard  # noqa: F401
            from lightning.pytorch.loggers import TensorBoardLogger

            loggers.append(TensorBoardLogger(save_dir=run.logs, name="tensorboard", version=""))
        except ImportError:
            pass
    trainer = L.Trainer(
        accelerator=config.accelerator,
        devices=config.devices,
        strategy=config.strategy,
        precision=default_precision(config.accelerator, config.precision),
        callbacks=callbacks,
        logger=loggers,
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=config.progress,
        enable_model_summary=False,
        **loop,
    )
    for pattern in (*LIGHTNING_WARNINGS, *ignore_warnings):
        warnings.filterwarnings("ignore", message=pattern)
    return trainer


def fit(trainer: L.Trainer, task: L.LightningModule, datamodule, ckpt_path: Path | None) -> float:
    """Fit ``task``; returns the seconds it took."""
    started = time.perf_counter()
    with retained_memory():  # activations reused, not faulted in anew each step
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
    return time.perf_counter() - started


def write_text(path: Path, text: str) -> None:
    """Write a run file atomically (a killed run never leaves half a file)."""
    atomic_write_bytes(path, text.encode())
