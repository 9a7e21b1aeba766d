"""A run directory: what training writes and what evaluation and prediction read.

```
RUN/
  config.yaml          resolved training config
  run.json             what the model expects: bands, classes (index -> name), class_table (code,
                       name, colour per class), chip size, resolution, CRS, model
  checkpoints/         best.ckpt (highest val mIoU) and last.ckpt, saved atomically
  logs/metrics.csv     per-epoch log (CSVLogger); logs/tensorboard when installed
  metrics.json         summary: best score and epoch, timing, validation report
  figures/             curves.png, samples.png
  eval/<split>.json    reports of `terralearn evaluate`, with confusion-matrix PNGs
```
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from terralearn._fs import load_weights
from terralearn.classes import ClassTable
from terralearn.errors import IncompatibleError, NotARunError

RUN_FILE = "run.json"
CONFIG_FILE = "config.yaml"
CHECKPOINTS_DIR = "checkpoints"
METRICS_FILE = "metrics.json"
FIGURES_DIR = "figures"
EVAL_DIR = "eval"
LOGS_DIR = "logs"


@dataclass
class RunInfo:
    """What a trained model expects of its input (``run.json``)."""

    kind: str
    model: str
    in_channels: int
    num_classes: int
    bands: list[str]
    classes: dict[int, str]
    chip_size: int
    resolution: float
    crs: str
    dtype: str
    ignore_index: int
    store: str
    display_low: list[float] = field(default_factory=list)  # per-band p2, for RGB figures
    display_high: list[float] = field(default_factory=list)  # per-band p98
    # [{index, code, name, color[, values]}, ...] (terralearn.classes.ClassTable.to_json);
    # None in runs trained before class tables (code = index then)
    class_table: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["classes"] = {str(k): v for k, v in self.classes.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunInfo:
        data = dict(data)
        data["classes"] = {int(k): v for k, v in data["classes"].items()}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def table(self) -> ClassTable:
        """Code, name and colour of each class (code = index for runs without a class table)."""
        if self.class_table:
            return ClassTable.from_json(self.class_table)
        return ClassTable.from_names(self.classes)


class RunDir:
    """Paths inside a run directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    def checkpoint(self, which: str = "best") -> Path:
        return self.checkpoints / f"{which}.ckpt"

    @property
    def figures(self) -> Path:
        return self.path / FIGURES_DIR

    @property
    def logs(self) -> Path:
        return self.path / LOGS_DIR

    @property
    def eval_dir(self) -> Path:
        return self.path / EVAL_DIR

    def is_run(self) -> bool:
        return (self.path / RUN_FILE).is_file()

    def info(self, kind: str | None = "segmentation") -> RunInfo:
        """The run's ``run.json``; ``kind`` (when given) must match the run's kind."""
        if not self.is_run():
            raise NotARunError(
                f"{str(self.path)!r} is not a terralearn run directory (no {RUN_FILE}); "
                "train one with `terralearn train STORE --out RUN`"
            )
        data = json.loads((self.path / RUN_FILE).read_text())
        found = data.get("kind", "segmentation")
        if kind is not None and found != kind:
            hint = (
                "fine-tune from it with `terralearn train STORE --init-from RUN`"
                if found == "pretraining"
                else f"give a {kind} run"
            )
            raise NotARunError(f"{str(self.path)!r} is a {found} run, not a {kind} run; {hint}")
        return RunInfo.from_json(data)


def load_task(run: str | os.PathLike, which: str = "best"):
    """The trained segmentation task of a run, in eval mode on the CPU.

    Checkpoints are read with ``torch.load(weights_only=True)`` (no pickled code is executed).
    """
    from terralearn.tasks.segmentation import SegmentationTask

    run_dir = RunDir(run)
    info = run_dir.info()
    path = run_dir.checkpoint(which)
    if not path.is_file():
        fallback = run_dir.checkpoint("last")
        if which == "best" and fallback.is_file():
            path = fallback
        else:
            raise NotARunError(
                f"run {str(run_dir.path)!r} has no checkpoint {path.name} in {CHECKPOINTS_DIR}/; "
                "train it first (or finish it with `terralearn train ... --resume`)"
            )
    checkpoint = load_weights(path)
    hparams = checkpoint.get("hyper_parameters", {})
    task = SegmentationTask(**hparams)
    try:
        missing, unexpected = task.load_state_dict(checkpoint.get("state_dict", {}), strict=False)
    except RuntimeError as exc:  # tensors of the wrong shape
        first = str(exc).strip().splitlines()[-1].strip()
        raise IncompatibleError(
            f"checkpoint {str(path)!r} does not fit model {hparams.get('model', info.model)!r}: "
            f"{first}; it comes from a different model configuration"
        ) from None
    if missing or unexpected:
        raise IncompatibleError(
            f"checkpoint {str(path)!r} does not fit model {hparams.get('model', info.model)!r}: "
            f"{len(missing)} missing and {len(unexpected)} unexpected tensors "
            f"(e.g. {(missing or unexpected)[0]}); it comes from a different model"
        )
    task.eval()
    return task, info
