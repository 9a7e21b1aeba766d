"""``evaluate --device``: the device code path on the CPU, and a missing device in one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predict"))

from predict_helpers import make_run  # noqa: E402

from terralearn.artifacts import load_task  # noqa: E402
from terralearn.cli.main import cli  # noqa: E402
from terralearn.data.datasets import ChipDataset  # noqa: E402
from terralearn.models import DevicePlan, device_plan  # noqa: E402
from terralearn.runs.evaluate import evaluate  # noqa: E402
from terralearn.runs.report import predict_chips  # noqa: E402
from terralearn.store.reader import ChipStore  # noqa: E402

STORE_BANDS = ["B2", "B3", "B4", "B8", "B11", "B12"]


def store_run(tmp_path: Path, store) -> Path:
    """An untrained run with the bands and classes of ``tiny_store``."""
    names = ChipStore(store).class_names
    return make_run(tmp_path / "run", bands=STORE_BANDS, classes=dict(enumerate(names)))


def test_predict_chips_through_a_cpu_plan_equals_the_plain_forward(tmp_path, tiny_store):
    task, _ = load_task(store_run(tmp_path, tiny_store))
    store = ChipStore(tiny_store)
    batch = ChipDataset(store, store.split_ids("test")).__getitems__([0, 1, 2])
    with torch.no_grad():
        plain = task.predict_proba(batch["image"], batch["valid"]).argmax(1).numpy()
    fp32 = DevicePlan(torch.device("cpu"))  # float32, contiguous: today's path
    labels = predict_chips(task, batch["image"], batch["valid"], plan=fp32)
    assert labels.dtype == np.uint8 and np.array_equal(labels, plain)
    default = device_plan("cpu")  # channels-last: other summation order, same classes here
    default.place_module(task)
    assert np.array_equal(predict_chips(task, batch["image"], batch["valid"], plan=default), plain)


def test_evaluate_on_the_cpu_reports_the_device(tmp_path, tiny_store):
    run = store_run(tmp_path, tiny_store)
    report = evaluate(run, tiny_store, split="test", progress=False, device="cpu")
    assert report["device"] == "cpu, float32, channels-last"
    written = json.loads((run / "eval" / "test.json").read_text())
    assert written["device"] == "cpu, float32, channels-last"
    assert written["num_pixels"] == sum(c["support"] for c in written["per_class"].values())
    result = CliRunner().invoke(cli, ["evaluate", str(run), str(tiny_store), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "device: cpu, float32, channels-last" in result.output  # auto on this GPU-less machine


def test_evaluate_on_a_missing_gpu_is_one_line_and_exit_2(tmp_path, tiny_store, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only build of torch
    monkeypatch.setattr(torch.version, "cuda", None)
    run = store_run(tmp_path, tiny_store)
    result = CliRunner().invoke(
        cli, ["evaluate", str(run), str(tiny_store), "--device", "cuda", "--quiet"]
    )
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"error: --device cuda: no CUDA device is visible to torch {torch.__version__} "
        "(a CPU-only build); available here: cpu; use --device cpu or auto, or install a CUDA "
        "build of torch"
    ]
    assert not (run / "eval").exists()
    result = CliRunner().invoke(cli, ["evaluate", str(run), str(tiny_store), "--device", "gpu"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "error: --device gpu is not a device; choose one of auto, cpu, cuda, cuda:N, mps "
        "(e.g. cuda:1)"
    ]
