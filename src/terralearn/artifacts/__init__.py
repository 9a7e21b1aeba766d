"""Run folders: one format for raster, pretraining, graph and segment runs, and loading them.

What predict, export, attention and transfer import to get a trained model.

- :func:`load_run`: any run folder -> :class:`Run` (kind, ``run.json``, ``config.yaml``,
  weights), also graph and segment runs of the older ``config.json`` + ``model.pt`` format.
- :func:`load_task`: the trained segmentation task of a raster run and its :class:`RunInfo`.
- :class:`RunDir`: the paths inside a run folder; :func:`write_run`: a finished run, atomically.
"""

from terralearn.artifacts.layout import (
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    EVAL_DIR,
    FIGURES_DIR,
    LOGS_DIR,
    METRICS_FILE,
    RUN_FILE,
    Run,
    RunDir,
    RunInfo,
    load_run,
    write_run,
)
from terralearn.artifacts.models import load_task

__all__ = [
    "CHECKPOINTS_DIR",
    "CONFIG_FILE",
    "EVAL_DIR",
    "FIGURES_DIR",
    "LOGS_DIR",
    "METRICS_FILE",
    "RUN_FILE",
    "Run",
    "RunDir",
    "RunInfo",
    "load_run",
    "load_task",
    "write_run",
]
