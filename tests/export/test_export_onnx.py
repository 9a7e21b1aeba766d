"""ONNX export of PyTorch models, checked with onnxruntime."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="onnx/onnxruntime not installed (the [onnx] extra)")
pytest.importorskip("onnxscript", reason="onnxscript not installed (the [onnx] extra)")

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from terralearn.artifacts import RunInfo  # noqa: E402
from terralearn.cli.main import cli  # noqa: E402
from terralearn.errors import OutputExistsError  # noqa: E402
from terralearn.export.onnx import export_onnx  # noqa: E402
from terralearn.tasks.segmentation import SegmentationTask  # noqa: E402


def small_task() -> SegmentationTask:
    torch.manual_seed(0)
    return SegmentationTask(
        model="unet",
        in_channels=3,
        num_classes=3,
        model_kwargs={"depth": 2, "base_width": 8},
        band_mean=[100.0, 200.0, 300.0],
        band_std=[20.0, 30.0, 40.0],
    ).eval()


def fake_run(tmp_path) -> tuple:
    """A run directory in the format training writes (run.json + checkpoints/best.ckpt)."""
    task = small_task()
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    info = RunInfo(
        kind="segmentation", model="unet", in_channels=3, num_classes=3, bands=["B2", "B3", "B4"],
        classes={0: "a", 1: "b", 2: "c"}, chip_size=32, resolution=10.0, crs="EPSG:32632",
        dtype="uint16", ignore_index=255, store="store",
    )  # fmt: skip
    (run / "run.json").write_text(json.dumps(info.to_json()))
    torch.save(
        {"hyper_parameters": dict(task.hparams), "state_dict": task.state_dict()},
        run / "checkpoints" / "best.ckpt",
    )
    return run, task


def test_export_matches_pytorch_on_other_sizes(tmp_path):
    task = small_task()
    path, diff = export_onnx(task, tmp_path / "m.onnx", chip_size=32)
    assert diff < 1e-4
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(0, 500, (3, 3, 48, 64)).astype("float32")
    got = session.run(["logits"], {"image": x})[0]
    with torch.inference_mode():
        expected = task(torch.from_numpy(x)).numpy()
    assert got.shape == (3, 3, 48, 64)
    assert np.abs(got - expected).max() < 1e-4
    with pytest.raises(OutputExistsError):
        export_onnx(task, path)


def test_cli_export_model_from_a_run(tmp_path):
    run, task = fake_run(tmp_path)
    out = tmp_path / "model.onnx"
    result = CliRunner().invoke(cli, ["export-model", str(run), "--format", "onnx", str(out)])
    assert result.exit_code == 0, result.output
    assert "onnxruntime vs PyTorch: max abs difference" in result.output
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["bands"]) == ["B2", "B3", "B4"] and meta["chip_size"] == "32"
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.full((1, 3, 32, 32), 150.0, dtype="float32")
    with torch.inference_mode():
        expected = task(torch.from_numpy(x)).numpy()
    assert np.abs(session.run(["logits"], {"image": x})[0] - expected).max() < 1e-4


def test_cli_export_model_bad_input(tmp_path):
    result = CliRunner().invoke(cli, ["export-model", str(tmp_path), str(tmp_path / "m.onnx")])
    assert result.exit_code == 2 and "is not a terralearn run directory" in result.output
    result = CliRunner().invoke(cli, ["export-model", str(tmp_path), "x", "--format", "tflite"])
    assert result.exit_code == 2 and "'tflite' is not 'onnx'" in result.output
