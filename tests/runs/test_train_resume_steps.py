"""`terralearn train --resume` continues at the saved step and epoch (fast, in-process)."""

from __future__ import annotations

import csv
import json

import torch
from click.testing import CliRunner

from terralearn.cli.main import cli
from terralearn.tasks.segmentation import SegmentationTask

FAST = ["--model", "unet_small", "--batch-size", "8", "--quiet", "--num-workers", "0"]


def _train(*args) -> None:
    result = CliRunner().invoke(cli, ["train", *map(str, args), *FAST])
    assert result.exit_code == 0, result.output


def test_resume_continues_from_the_saved_global_step(tmp_path, tiny_store, monkeypatch):
    out = tmp_path / "run"
    _train(tiny_store, "--out", out, "--epochs", "1")
    saved = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    steps_per_epoch = saved["global_step"]
    assert saved["epoch"] == 0 and steps_per_epoch > 0

    # record where each optimiser step of the resumed run stands
    seen: list[tuple[int, int]] = []
    original = SegmentationTask.training_step

    def recording_step(self, batch, batch_idx):
        seen.append((self.current_epoch, self.global_step))
        return original(self, batch, batch_idx)

    monkeypatch.setattr(SegmentationTask, "training_step", recording_step)
    _train(tiny_store, "--out", out, "--epochs", "2", "--resume")

    # only the second epoch is trained, starting at the checkpoint's step (not 0)
    assert seen == [(1, steps_per_epoch + i) for i in range(steps_per_epoch)]
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["epochs"], metrics["steps"]) == (2, 2 * steps_per_epoch)
    # the curves hold each epoch's validation once: the first run's, then the resumed one's
    with open(out / "logs" / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows if r.get("val_miou")] == [0, 1]


def test_last_checkpoint_follows_every_validation_even_without_improvement(tmp_path, tiny_store):
    # a learning rate too small to change any prediction: the score never beats the first
    # validation, so best.ckpt stays at epoch 0 while last.ckpt must keep up with the run
    out = tmp_path / "run"
    _train(tiny_store, "--out", out, "--epochs", "3", "--lr", "1e-12", "--patience", "0")
    metrics = json.loads((out / "metrics.json").read_text())
    last = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    best = torch.load(out / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == metrics["steps"] == 3 * best["global_step"]
    assert best["epoch"] == 0
