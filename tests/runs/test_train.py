"""`terralearn train` / `evaluate`: run directories, resume after SIGKILL, DDP, bad input."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from terralearn.artifacts import load_task
from terralearn.cli.main import cli

FAST = ["--model", "unet_small", "--batch-size", "8", "--quiet", "--num-workers", "0"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_train_writes_a_complete_run_and_evaluate_reports(tmp_path, tiny_store):
    out = tmp_path / "run"
    result = run("train", tiny_store, "--out", out, "--epochs", "2", *FAST)
    assert result.exit_code == 0, result.output
    for part in (
        "config.yaml",
        "run.json",
        "metrics.json",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "logs/metrics.csv",
        "figures/curves.png",
        "figures/samples.png",
    ):
        assert (out / part).is_file(), part
    checkpoint = torch.load(
        out / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True
    )
    assert checkpoint["hyper_parameters"]["model"] == "unet_small"
    info = json.loads((out / "run.json").read_text())
    assert info["bands"] == ["B2", "B3", "B4", "B8", "B11", "B12"]
    assert info["num_classes"] == 6 and info["classes"]["0"] == "water"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and 0.0 <= metrics["best_val_miou"] <= 1.0
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model"] == "unet_small" and config["batch_size"] == 8

    evaluated = run("evaluate", out, tiny_store, "--split", "test", "--quiet")
    assert evaluated.exit_code == 0, evaluated.output
    assert "mean IoU" in evaluated.output and "water" in evaluated.output
    report = json.loads((out / "eval" / "test.json").read_text())
    assert set(report["per_class"]) == {
        "water",
        "forest",
        "cropland",
        "grassland",
        "bare soil",
        "built-up",
    }
    assert report["num_pixels"] == sum(c["support"] for c in report["per_class"].values())
    assert (out / "eval" / "test_confusion.png").is_file()


def _bad_train(tmp_path, *args, message: str):
    out = tmp_path / "badrun"
    result = run("train", *args, "--out", out, *FAST)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    return lines[0]


def test_strong_augmentation_trains_and_is_recorded(tmp_path, tiny_store):
    out = tmp_path / "run"
    result = run("train", tiny_store, "--out", out, "--epochs", "1", "--augment", "strong", *FAST)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((out / "config.yaml").read_text())["augment"] == "strong"
    checkpoint = torch.load(
        out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True
    )
    assert checkpoint["hyper_parameters"]["augment"] == "strong"


def test_bad_encoder_lr_scale(tmp_path, tiny_store):
    _bad_train(tmp_path, tiny_store, "--encoder-lr-scale", "0",
               message="--encoder-lr-scale 0.0 must be positive; to keep the encoder fixed use "
               "--freeze-encoder")  # fmt: skip


def test_augment_in_a_config_file_must_be_known(tmp_path, tiny_store):
    config = tmp_path / "train.yaml"
    config.write_text("augment: mixup\n")
    _bad_train(tmp_path, tiny_store, "--config", config,
               message="--augment 'mixup' is not one of none, d4, strong")  # fmt: skip


def test_store_path_that_is_not_a_store(tmp_path):
    _bad_train(tmp_path, tmp_path, message="is not a terralearn chip store")


def test_unknown_model_lists_known_ones(tmp_path, tiny_store):
    out = tmp_path / "badrun"
    result = run("train", tiny_store, "--out", out, "--model", "resnet9000", "--quiet")
    assert result.exit_code == 2
    assert "unknown model 'resnet9000'; known models: " in result.output
    for name in ("unet", "unet_small", "vit_tiny"):
        assert name in result.output


def test_graph_model_refused_for_rasters(tmp_path, tiny_store):
    result = run("train", tiny_store, "--out", tmp_path / "r", "--model", "sage", "--quiet")
    assert result.exit_code == 2
    assert (
        "model 'sage' is a graph model but terralearn train needs a raster model" in result.output
    )


def test_store_without_labels(tmp_path, unlabelled_store):
    _bad_train(tmp_path, unlabelled_store, message="has no labels")


def test_num_classes_in_config_disagreeing_with_store(tmp_path, tiny_store):
    config = tmp_path / "train.yaml"
    config.write_text("num_classes: 3\n")
    line = _bad_train(
        tmp_path, tiny_store, "--config", config, message="num_classes 3 in the config disagrees"
    )
    assert "6 classes" in line


def test_checkpoint_from_an_incompatible_model(tmp_path, tiny_store):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run("train", tiny_store, "--out", a, "--epochs", "1", *FAST).exit_code == 0
    assert (
        run(
            "train",
            tiny_store,
            "--out",
            b,
            "--epochs",
            "1",
            *FAST,
            "--config",
            _yaml(tmp_path, model_kwargs={"base_width": 8}),
        ).exit_code
        == 0
    )
    # put b's weights into a's run: same model name, other widths
    (a / "checkpoints" / "best.ckpt").write_bytes((b / "checkpoints" / "best.ckpt").read_bytes())
    ckpt = torch.load(a / "checkpoints" / "best.ckpt", weights_only=True)
    ckpt["hyper_parameters"]["model_kwargs"] = {}
    torch.save(ckpt, a / "checkpoints" / "best.ckpt")
    result = run("evaluate", a, tiny_store, "--quiet")
    assert result.exit_code == 2
    assert "does not fit model 'unet_small'" in result.output


def _yaml(tmp_path, **values) -> Path:
    path = tmp_path / f"cfg{len(list(tmp_path.glob('cfg*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_resume_with_a_different_config_is_refused(tmp_path, tiny_store):
    out = tmp_path / "run"
    assert run("train", tiny_store, "--out", out, "--epochs", "1", *FAST).exit_code == 0
    result = run(
        "train", tiny_store, "--out", out, "--epochs", "2", *FAST, "--lr", "0.01", "--resume"
    )
    assert result.exit_code == 2
    assert "was trained with a different config (lr: 0.001 -> 0.01)" in result.output


def test_resume_reads_a_config_saved_before_named_augmentations(tmp_path, tiny_store):
    out = tmp_path / "run"
    assert run("train", tiny_store, "--out", out, "--epochs", "1", *FAST).exit_code == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["augment"] == "d4"
    (out / "config.yaml").write_text(yaml.safe_dump({**saved, "augment": True}))
    result = run("train", tiny_store, "--out", out, "--epochs", "2", *FAST, "--resume")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 2
    (out / "config.yaml").write_text(yaml.safe_dump({**saved, "augment": False}))
    result = run("train", tiny_store, "--out", out, "--epochs", "3", *FAST, "--resume")
    assert result.exit_code == 2
    assert "different config (augment: 'none' -> 'd4')" in result.output


def test_resume_without_a_checkpoint(tmp_path, tiny_store):
    out = tmp_path / "run"
    assert run("train", tiny_store, "--out", out, "--epochs", "1", *FAST).exit_code == 0
    for checkpoint in (out / "checkpoints").iterdir():
        checkpoint.unlink()
    result = run("train", tiny_store, "--out", out, "--epochs", "1", *FAST, "--resume")
    assert result.exit_code == 2
    assert "has no checkpoints/last.ckpt yet (it stopped before its first checkpoint)" in (
        result.output
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.2)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_finishes(tmp_path, tiny_store):
    out = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "terralearn.cli.main",
        "train",
        str(tiny_store),
        "--out",
        str(out),
        "--epochs",
        "6",
        *FAST,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    last = out / "checkpoints" / "last.ckpt"
    _wait_for(last, proc)
    first = torch.load(last, weights_only=True)["epoch"]
    time.sleep(0.5)  # into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # whatever the kill interrupted, every checkpoint on disk is complete
    for path in (out / "checkpoints").glob("*.ckpt"):
        torch.load(path, weights_only=True)
    resumed = subprocess.run([*args, "--resume"], capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = torch.load(last, weights_only=True)
    assert final["epoch"] == 5 and final["epoch"] > first
    task, _ = load_task(out, "best")
    assert task.hparams.model == "unet_small"
    assert not list((out / "checkpoints").glob(".*tmp*"))
    # the curves span the whole run, before and after the kill, each epoch validated once
    with open(out / "logs" / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    validated = [int(r["epoch"]) for r in rows if r.get("val_miou")]
    assert validated == list(range(6))
    assert not (out / "logs" / "metrics.before_resume.csv").exists()


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path, tiny_store):
    out = tmp_path / "ddp"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "terralearn.cli.main",
            "train",
            str(tiny_store),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--devices",
            "2",
            "--strategy",
            "ddp",
            "--accelerator",
            "cpu",
            *FAST,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (out / "checkpoints" / "best.ckpt").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 1


def test_a_pretraining_run_is_not_a_model_to_evaluate(tmp_path, tiny_store):
    run_dir = tmp_path / "pre"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"kind": "pretraining"}))
    result = run("evaluate", run_dir, tiny_store, "--quiet")
    assert result.exit_code == 2
    assert "is a pretraining run, not a segmentation run; fine-tune from it with" in result.output
