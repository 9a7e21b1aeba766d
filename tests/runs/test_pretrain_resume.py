"""`terralearn pretrain --resume`: continue after SIGKILL or with more epochs; refusals."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from terralearn.cli.main import cli

FAST = ["--method", "contrastive", "--model", "unet_small", "--chip-size", "32",
        "--batch-size", "4", "--quiet"]  # fmt: skip


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    from terralearn.datasets.synthetic import make_scene

    root = tmp_path_factory.mktemp("pretrain_resume")
    # 96 x 96 px: 9 chips of 32 px, 2 whole batches of 4 per epoch
    return make_scene(root / "u.tif", root / "l.tif", size=(96, 96), seed=1, progress=False).image


@pytest.fixture(scope="module")
def one_epoch(image, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "pre"
    result = run("pretrain", image, "--out", out, "--epochs", "1", *FAST)
    assert result.exit_code == 0, result.output
    return out


def _epoch_losses(out: Path) -> list[int]:
    with open(out / "logs" / "metrics.csv", newline="") as fh:
        return [int(r["epoch"]) for r in csv.DictReader(fh) if r["train_loss_epoch"]]


def test_resume_with_more_epochs_continues_the_run(image, one_epoch, tmp_path, monkeypatch):
    from terralearn.ssl.data import UnlabelledChips

    drawn = []  # the epochs whose chips the stream served
    iterate = UnlabelledChips._iter
    monkeypatch.setattr(
        UnlabelledChips, "_iter", lambda self: (drawn.append(self.epoch), iterate(self))[1]
    )
    out = tmp_path / "pre"
    shutil.copytree(one_epoch, out)
    result = run("pretrain", image, "--out", out, "--epochs", "3", *FAST, "--resume")
    assert result.exit_code == 0, result.output
    assert drawn == [1, 2]  # the epochs after the checkpoint's, not epoch 0 again
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["global_step"] == 3 * 2
    # the optimizer went on: its step count covers all 6 steps
    assert all(int(s["step"]) == 6 for s in ckpt["optimizer_states"][0]["state"].values())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["steps"] == 6 and metrics["resumed_at_step"] == 2
    assert _epoch_losses(out) == [0, 1, 2]  # the log of epoch 0 is kept
    assert not (out / "logs" / "metrics.before_resume.csv").exists()


def test_an_epoch_row_the_kill_kept_from_the_log_comes_back_from_the_checkpoint(
    image, one_epoch, tmp_path
):
    # Lightning writes an epoch's row after its epoch-end callbacks: a kill between the save of
    # last.ckpt and that write left the log without the row of the checkpoint's epoch
    out = tmp_path / "pre"
    shutil.copytree(one_epoch, out)
    log = out / "logs" / "metrics.csv"
    with open(log, newline="") as fh:
        reader = csv.DictReader(fh)
        rows, keys = list(reader), reader.fieldnames
    (epoch_row,) = [r for r in rows if r["train_loss_epoch"]]
    with open(log, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(r for r in rows if r is not epoch_row)
    (out / "metrics.json").unlink()
    result = run("pretrain", image, "--out", out, "--epochs", "2", *FAST, "--resume")
    assert result.exit_code == 0, result.output
    assert _epoch_losses(out) == [0, 1]
    with open(log, newline="") as fh:
        (restored, _) = [r for r in csv.DictReader(fh) if r["train_loss_epoch"]]
    assert (
        (restored["epoch"], restored["step"])
        == (epoch_row["epoch"], epoch_row["step"])
        == ("0", "1")
    )
    assert float(restored["train_loss_epoch"]) == pytest.approx(
        float(epoch_row["train_loss_epoch"])
    )


def _one_line_error(result, message: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    return lines[0]


def test_resume_with_other_options_names_the_keys(image, one_epoch):
    before = (one_epoch / "checkpoints" / "last.ckpt").read_bytes()
    result = run("pretrain", image, "--out", one_epoch, "--epochs", "2", *FAST, "--lr", "0.01",
                 "--chip-size", "16", "--devices", "2", "--resume")  # fmt: skip
    line = _one_line_error(
        result,
        f"--resume: run {str(one_epoch)!r} was trained with a different config (chip_size: 32 "
        "-> 16, devices: 1 -> 2, lr: 0.0015 -> 0.01); resume with the same options",
    )
    assert "start a new run with another --out" in line
    assert (one_epoch / "checkpoints" / "last.ckpt").read_bytes() == before


def test_resume_refusals(image, one_epoch, tmp_path):
    missing = tmp_path / "missing"
    _one_line_error(
        run("pretrain", image, "--out", missing, *FAST, "--resume"),
        f"--resume: run {str(missing)!r} does not exist; start it without --resume",
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(
        run("pretrain", image, "--out", empty, *FAST, "--resume"),
        f"--resume: {str(empty)!r} is not a run started by `terralearn pretrain` (no config.yaml)",
    )
    seg = tmp_path / "seg"
    shutil.copytree(one_epoch, seg)
    info = json.loads((seg / "run.json").read_text()) | {"kind": "segmentation"}
    (seg / "run.json").write_text(json.dumps(info))
    _one_line_error(
        run("pretrain", image, "--out", seg, *FAST, "--resume"),
        f"--resume: {str(seg)!r} is a segmentation run, not a pretraining run; resume it with "
        "`terralearn train ... --resume`",
    )
    fresh = tmp_path / "fresh"
    shutil.copytree(one_epoch, fresh)
    (fresh / "checkpoints" / "last.ckpt").unlink()
    _one_line_error(
        run("pretrain", image, "--out", fresh, "--epochs", "1", *FAST, "--resume"),
        f"--resume: run {str(fresh)!r} has no checkpoints/last.ckpt yet",
    )
    _one_line_error(
        run("pretrain", image, "--out", fresh, *FAST, "--resume", "--overwrite"),
        "--resume continues the run in --out and --overwrite replaces it; give only one",
    )
    assert sorted(p.name for p in fresh.iterdir()) == sorted(p.name for p in one_epoch.iterdir())


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.1)


@pytest.mark.slow
def test_sigkill_mid_pretraining_then_resume_finishes(image, tmp_path):
    out = tmp_path / "pre"
    epochs, steps = 6, 16  # epochs of 64 chips (new grid shifts of the 9-chip image)
    args = [sys.executable, "-m", "terralearn.cli.main", "pretrain", str(image), "--out",
            str(out), "--epochs", str(epochs), "--chips-per-epoch", "64", *FAST]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    last = out / "checkpoints" / "last.ckpt"
    _wait_for(last, proc)
    time.sleep(0.3)  # into a later epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "metrics.json").exists()  # killed before the end
    first = torch.load(last, weights_only=True)  # complete, whatever the kill interrupted
    assert first["epoch"] < epochs - 1
    resumed = subprocess.run([*args, "--resume"], capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = torch.load(last, weights_only=True)
    assert final["epoch"] == epochs - 1 and final["global_step"] == epochs * steps
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == epochs and metrics["steps"] == epochs * steps
    assert metrics["resumed_at_step"] == first["global_step"] == (first["epoch"] + 1) * steps
    # one epoch loss per epoch: kept from before the kill, the interrupted epoch trained again
    assert _epoch_losses(out) == list(range(epochs))
    assert (out / "figures" / "loss.png").is_file()
    assert not list((out / "checkpoints").glob(".*tmp*"))


def test_the_same_seed_gives_the_same_weights(image, one_epoch, tmp_path):
    out = tmp_path / "again"
    assert run("pretrain", image, "--out", out, "--epochs", "1", *FAST).exit_code == 0
    first = torch.load(one_epoch / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    again = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
