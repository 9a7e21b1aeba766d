"""Resuming a run directory from ``checkpoints/last.ckpt``: the checks, and its CSV log.

``terralearn train --resume`` and ``terralearn pretrain --resume`` use these. Before a resumed fit:

1. :func:`check_resume` refuses, in one line, a folder that is not a run of the command's kind,
   has no ``last.ckpt`` yet, or was started with other options (naming the keys);
2. :func:`clear_partial_saves` drops the temporary files of a checkpoint save that was killed;
3. :func:`carry_over_logs` keeps the rows of ``logs/metrics.csv`` logged up to the checkpoint
   (Lightning's CSV logger starts that file afresh), with the checkpoint's own epoch row if the
   kill came before Lightning wrote it (:class:`EpochCheckpoint`), and after the fit
   :func:`merge_logs` puts them back in front of the new rows, so the loss curve covers the
   whole run.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch.callbacks import ModelCheckpoint

from terralearn._fs import atomic_write_bytes
from terralearn.artifacts.layout import COMMANDS, CONFIG_FILE, RUN_FILE, RunDir
from terralearn.config import to_yaml
from terralearn.errors import ConfigError, NotARunError

METRICS_CSV = "metrics.csv"
EARLIER_CSV = "metrics.before_resume.csv"  # rows of the run before the latest resume
LOG_ROW = "log_row"  # EpochCheckpoint's key in the checkpoint's callback state


class EpochCheckpoint(ModelCheckpoint):
    """``last.ckpt`` after every training epoch, holding that epoch's row of the CSV log.

    Lightning writes an epoch's aggregated metrics (``train_loss_epoch``) to the log after the
    epoch-end callbacks, this one included: a run killed between the save and that write
    resumed after an epoch whose row the log never got. :func:`carry_over_logs` puts the row
    back from the checkpoint.
    """

    def __init__(self, dirpath: str | os.PathLike) -> None:
        # save_top_k=1 without a monitor: the latest weights (save_last alone only saves when
        # another checkpoint is saved: at the end of the fit)
        super().__init__(
            dirpath=dirpath, filename="last", monitor=None, save_top_k=1,
            save_on_train_epoch_end=True, enable_version_counter=False,
        )  # fmt: skip
        self._row: dict[str, float | int] | None = None

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # the epoch's aggregates are in callback_metrics already; the log gets them after this
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.endswith("_epoch")}
        step = trainer.global_step - 1  # the step Lightning logs an epoch's row at
        self._row = {"epoch": trainer.current_epoch, "step": step, **metrics} if metrics else None
        super().on_train_epoch_end(trainer, pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), LOG_ROW: self._row}


def is_primary() -> bool:
    """Whether this process sets up the run directory (DDP's launcher re-runs the command)."""
    return (
        int(os.environ.get("LOCAL_RANK", "0")) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0
    )


def config_changes(
    saved: Mapping[str, Any], current: Mapping[str, Any], may_change: Collection[str]
) -> list[str]:
    """``"key: old -> new"`` for every key whose value differs, except those in ``may_change``."""
    return [
        f"{k}: {saved.get(k)!r} -> {current.get(k)!r}"
        for k in sorted(set(saved) | set(current))
        if k not in may_change and saved.get(k) != current.get(k)
    ]


def check_resume(
    run: RunDir,
    config: Any,
    kind: str,
    may_change: Collection[str],
    upgrade: Mapping[str, Callable[[Any], Any]] | None = None,
) -> Path:
    """Refuse to resume ``run`` unless it is a ``kind`` run with a checkpoint and ``config``.

    Args:
        run: the run directory (``--out``).
        config: the dataclass config of this invocation.
        kind: the run kind the command makes (``run.json``'s ``kind``).
        may_change: config keys that may differ from the saved ``config.yaml``.
        upgrade: per key, a function from an older saved value to today's spelling of it.

    Returns:
        The path of ``checkpoints/last.ckpt``.

    Raises:
        NotARunError: no such folder, another kind of run, no ``config.yaml``, no checkpoint.
        ConfigError: the config differs from the saved one in keys outside ``may_change``.
    """
    path, command = str(run.path), COMMANDS.get(kind, kind)
    if not run.path.is_dir():
        raise NotARunError(f"--resume: run {path!r} does not exist; start it without --resume")
    if run.is_run():
        found = json.loads((run.path / RUN_FILE).read_text()).get("kind", "segmentation")
        if found != kind:
            other = COMMANDS.get(found, "the command that made it")
            raise NotARunError(
                f"--resume: {path!r} is a {found} run, not a {kind} run; resume it with "
                f"`{other} ... --resume` or give another --out"
            )
    saved_path = run.path / CONFIG_FILE
    if not saved_path.is_file():
        raise NotARunError(
            f"--resume: {path!r} is not a run started by `{command}` (no {CONFIG_FILE}); "
            "give the folder of such a run, or start a new run without --resume"
        )
    saved = yaml.safe_load(saved_path.read_text()) or {}
    for key, convert in (upgrade or {}).items():
        if key in saved:
            saved[key] = convert(saved[key])
    changed = config_changes(saved, yaml.safe_load(to_yaml(config)), may_change)
    if changed:
        raise ConfigError(
            f"--resume: run {path!r} was trained with a different config ({', '.join(changed)}); "
            "resume with the same options or start a new run with another --out"
        )
    last = run.checkpoint("last")
    if not last.is_file():
        raise NotARunError(
            f"--resume: run {path!r} has no checkpoints/last.ckpt yet (it stopped before its "
            "first checkpoint); start it again with --overwrite instead of --resume"
        )
    return last


def clear_partial_saves(run: RunDir) -> None:
    """Remove the temporary files of checkpoint saves that were killed (``.*.tmp-*``)."""
    for stale in run.checkpoints.glob(".*.tmp-*"):
        stale.unlink(missing_ok=True)


def checkpoint_step(path: Path) -> int:
    """The global step stored in a Lightning checkpoint (memory-mapped, weights only)."""
    return int(_load_checkpoint(path).get("global_step", 0))


def checkpoint_log_row(path: Path) -> dict[str, float | int] | None:
    """The epoch row an :class:`EpochCheckpoint` stored in a checkpoint (None if none)."""
    states = _load_checkpoint(path).get("callbacks") or {}
    rows = [s[LOG_ROW] for s in states.values() if isinstance(s, dict) and s.get(LOG_ROW)]
    return rows[0] if rows else None


def _load_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def _read_rows(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    if not path.is_file():
        return [], []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader), list(reader.fieldnames or [])


def _write_rows(path: Path, rows: list[dict[str, str]], keys: list[str]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=sorted(set(keys)), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, text.getvalue().encode())


def carry_over_logs(logs: Path, step: int, epoch_row: Mapping[str, Any] | None = None) -> None:
    """Before a resumed fit: move the rows logged before ``step`` out of ``logs/metrics.csv``.

    Rows of later steps belong to the epoch that was interrupted, which is trained again.
    ``epoch_row`` (the checkpoint's, :func:`checkpoint_log_row`) is added when the log has no
    row of its epoch with its metrics: the kill came between the save and the log's write.
    """
    earlier, earlier_keys = _read_rows(logs / EARLIER_CSV)
    rows, keys = _read_rows(logs / METRICS_CSV)
    kept = [r for r in earlier + rows if r.get("step") and int(float(r["step"])) < step]
    if epoch_row is not None:
        names = [k for k in epoch_row if k not in ("epoch", "step")]
        logged = any(
            r.get("epoch") and int(float(r["epoch"])) == epoch_row["epoch"]
            and all(r.get(k) for k in names)
            for r in kept
        )  # fmt: skip
        if not logged:
            kept.append({k: str(v) for k, v in epoch_row.items()})
            keys = keys + list(epoch_row)
    if kept or (logs / EARLIER_CSV).is_file():
        _write_rows(logs / EARLIER_CSV, kept, earlier_keys + keys)
    (logs / METRICS_CSV).unlink(missing_ok=True)


def merge_logs(logs: Path) -> None:
    """After a resumed fit: ``logs/metrics.csv`` = the carried-over rows, then the new ones."""
    if not (logs / EARLIER_CSV).is_file():
        return
    earlier, earlier_keys = _read_rows(logs / EARLIER_CSV)
    rows, keys = _read_rows(logs / METRICS_CSV)
    _write_rows(logs / METRICS_CSV, earlier + rows, earlier_keys + keys)
    (logs / EARLIER_CSV).unlink()
