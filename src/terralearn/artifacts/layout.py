"""One run-folder format for every kind of trained model, and reading it back.

```
RUN/
  run.json             what the model expects, with its ``kind``: segmentation and pretraining
                       runs hold a RunInfo (bands, classes, class table, chip size, resolution,
                       CRS, model); graph and graph-segments runs their features/bands, classes,
                       CRS, normalisation and the learner's options
  config.yaml          the resolved training options
  checkpoints/         best.ckpt and/or last.ckpt: dicts with a ``state_dict``, read with
                       ``torch.load(weights_only=True)`` (no pickled code runs); saved atomically
  metrics.json         summary scores of training
  logs/metrics.csv     per-epoch log (CSVLogger); logs/tensorboard when installed (raster runs)
  figures/             curves.png, samples.png (raster runs)
  eval/<split>.json    reports of `terralearn evaluate`, with confusion-matrix PNGs
```
Kinds: ``segmentation`` (``terralearn train``), ``pretraining`` (``terralearn pretrain``),
``graph`` (``terralearn graph train``) and ``graph-segments`` (``terralearn graph segments``).

Graph and segment runs written before this format (``config.json`` + ``model.pt``) still load:
:func:`load_run` reads ``config.json`` as their ``run.json`` and ``model.pt`` as their weights.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from terralearn._fs import atomic_output, load_weights
from terralearn.classes import ClassTable
from terralearn.config import load_yaml, to_yaml
from terralearn.errors import NotARunError

RUN_FILE = "run.json"
CONFIG_FILE = "config.yaml"
CHECKPOINTS_DIR = "checkpoints"
METRICS_FILE = "metrics.json"
FIGURES_DIR = "figures"
EVAL_DIR = "eval"
LOGS_DIR = "logs"
# graph and segment runs written before the one format
LEGACY_CONFIG_FILE, LEGACY_MODEL_FILE = "config.json", "model.pt"

# the command that makes each kind of run
COMMANDS = {
    "segmentation": "terralearn train",
    "pretraining": "terralearn pretrain",
    "graph": "terralearn graph train",
    "graph-segments": "terralearn graph segments",
}
RASTER_KINDS = ("segmentation", "pretraining")  # runs.json holds a RunInfo


@dataclass
class RunInfo:
    """What a trained raster model expects of its input (``run.json``)."""

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
        """The run's ``run.json``; ``kind`` (when given) must match the run's kind.

        Raises:
            NotARunError: no ``run.json``, another kind than ``kind``, or a graph run (whose
                ``run.json`` is no RunInfo).
        """
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
        if found not in RASTER_KINDS:
            raise NotARunError(
                f"{str(self.path)!r} is a {found} run, not a raster run; use it with "
                f"the `terralearn graph` commands"
            )
        return RunInfo.from_json(data)


@dataclass
class Run:
    """A run folder of any kind, read back (see the module docstring).

    Attributes:
        path: the folder.
        kind: ``segmentation``, ``pretraining``, ``graph`` or ``graph-segments``.
        meta: the contents of ``run.json`` (what the model expects).
        config: the training options of ``config.yaml`` (empty for runs of the older format).
        legacy: a graph or segment run of the older ``config.json`` + ``model.pt`` format.
    """

    path: Path
    kind: str
    meta: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    legacy: bool = False

    @property
    def info(self) -> RunInfo:
        """The RunInfo of a segmentation or pretraining run."""
        return RunDir(self.path).info(kind=self.kind)

    def checkpoint(self, which: str = "best") -> Path:
        """The weights file: ``checkpoints/<which>.ckpt``, ``last`` when there is no ``best``.

        Raises:
            NotARunError: no such checkpoint.
        """
        if self.legacy:
            return self.path / LEGACY_MODEL_FILE
        run_dir = RunDir(self.path)
        path = run_dir.checkpoint(which)
        if not path.is_file():
            fallback = run_dir.checkpoint("last")
            if which == "best" and fallback.is_file():
                return fallback
            raise NotARunError(
                f"run {str(self.path)!r} has no checkpoint {path.name} in {CHECKPOINTS_DIR}/; "
                f"train it first (or finish it with `{COMMANDS.get(self.kind, 'terralearn train')}"
                " ... --resume`)"
            )
        return path

    def checkpoint_dict(self, which: str = "best") -> dict[str, Any]:
        """The whole checkpoint (``state_dict`` and, for Lightning runs, ``hyper_parameters``)."""
        data = load_weights(self.checkpoint(which))
        return {"state_dict": data} if self.legacy else data

    def weights(self, which: str = "best") -> dict[str, torch.Tensor]:
        """The model's tensors by name (the checkpoint's ``state_dict``)."""
        return dict(self.checkpoint_dict(which).get("state_dict", {}))


def _not_a_run(path: Path) -> NotARunError:
    return NotARunError(
        f"{str(path)!r} is not a terralearn run directory (no {RUN_FILE}); train one with "
        "`terralearn train STORE --out RUN` (or `terralearn graph train`)"
    )


def load_run(path: str | os.PathLike, kind: str | None = None) -> Run:
    """Read a run folder of any kind (``kind``, when given, must match).

    Graph and segment runs of the older format (``config.json`` + ``model.pt``) load as well.

    Raises:
        NotARunError: not a run folder, or a run of another kind than ``kind``.
    """
    path = Path(path)
    if (path / RUN_FILE).is_file():
        meta = json.loads((path / RUN_FILE).read_text())
        config_path = path / CONFIG_FILE
        config = load_yaml(config_path) if config_path.is_file() else {}
        run = Run(path, meta.get("kind", "segmentation"), meta, config)
    elif (path / LEGACY_CONFIG_FILE).is_file() and (path / LEGACY_MODEL_FILE).is_file():
        meta = json.loads((path / LEGACY_CONFIG_FILE).read_text())
        run = Run(path, meta.get("kind", "unknown"), meta, legacy=True)
    else:
        raise _not_a_run(path)
    if kind is not None and run.kind != kind:
        raise NotARunError(
            f"{str(path)!r} is a {run.kind} run, not a {kind} run; give the --out folder of "
            f"`{COMMANDS.get(kind, kind)}`"
        )
    return run


def write_run(
    out: str | os.PathLike,
    meta: dict[str, Any],
    config: dict[str, Any],
    weights: dict[str, torch.Tensor],
    metrics: dict[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write a finished run folder atomically (graph and segment runs; raster runs are written
    as they train).

    Args:
        meta: ``run.json``; must hold the run's ``kind``.
        config: the training options (``config.yaml``).
        weights: the model's tensors, saved as ``checkpoints/last.ckpt``'s ``state_dict``.
        metrics: ``metrics.json``.
    """
    if "kind" not in meta:
        raise ValueError("run.json needs a 'kind'")
    with atomic_output(out, overwrite, directory=True) as tmp:
        (tmp / RUN_FILE).write_text(json.dumps(meta, indent=2))
        (tmp / CONFIG_FILE).write_text(to_yaml(config))
        (tmp / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
        RunDir(tmp).checkpoints.mkdir()
        torch.save({"state_dict": weights}, RunDir(tmp).checkpoint("last"))
    return Path(out)
