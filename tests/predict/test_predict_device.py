"""The Predictor on a device: the GPU code path run on the CPU, pickling, worker devices."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from predict_helpers import make_task, smooth_scene

from terralearn.errors import ConfigError
from terralearn.models import DevicePlan, device_plan
from terralearn.predict import load_predictor
from terralearn.predict.model import on_worker_device


@pytest.fixture
def batch() -> np.ndarray:
    data = smooth_scene(64, 96, seed=2)
    return np.stack([data[:, :, :64], data[:, :, 32:]])  # (2, 3, 64, 64)


def reference(task, batch: np.ndarray) -> np.ndarray:
    """Probabilities the way prediction computed them before devices: CPU tensors, float32."""
    with torch.inference_mode():
        return task.predict_proba(torch.from_numpy(batch)).float().numpy()


def test_the_device_path_on_the_cpu_equals_the_plain_forward(batch) -> None:
    task = make_task()
    expected = reference(task, batch)
    predictor = load_predictor(task)
    assert predictor.device == torch.device("cpu")
    assert predictor.plan == DevicePlan(torch.device("cpu"))  # as given until moved
    assert np.array_equal(predictor(batch), expected)
    # the GPU path's code: to() places the module, the call places the batch; float32 NCHW
    fp32 = DevicePlan(torch.device("cpu"), pin_memory=False)
    assert predictor.to(plan=fp32) is predictor
    out = predictor(batch)
    assert out.dtype == np.float32 and out.shape == (2, 3, 64, 64)
    assert np.array_equal(out, expected)
    # the CPU's default plan: channels-last, another summation order, the same classes
    assert predictor.to(torch.device("cpu")).plan == device_plan("cpu")
    assert first_conv(task).weight.is_contiguous(memory_format=torch.channels_last)
    out = predictor(batch)
    assert np.abs(out - expected).max() < 1e-6
    assert np.array_equal(out.argmax(axis=1), expected.argmax(axis=1))
    assert np.array_equal(load_predictor(make_task(), device="cpu")(batch), out)


def test_autocast_and_channels_last_run_through_the_same_call(batch) -> None:
    task = make_task()
    expected = reference(task, batch)
    plan = DevicePlan(torch.device("cpu"), autocast=torch.bfloat16, channels_last=True)
    predictor = load_predictor(task).to(plan=plan)
    assert predictor.plan is plan
    assert first_conv(task).weight.is_contiguous(memory_format=torch.channels_last)
    out = predictor(batch)
    assert out.dtype == np.float32 and out.shape == expected.shape  # bf16 inside, fp32 out
    assert np.abs(out - expected).max() < 0.02
    assert np.allclose(out.sum(axis=1), 1.0, atol=4e-3)  # CPU autocast: softmax in bf16 too
    tta = predictor(batch, tta=True)
    tta_fp32 = load_predictor(make_task())(batch, tta=True)  # the same seeded weights
    assert tta.dtype == np.float32 and np.abs(tta - tta_fp32).max() < 0.02
    # back to float32 and contiguous: the exact result again
    assert np.array_equal(predictor.to(plan=DevicePlan(torch.device("cpu")))(batch), expected)
    assert first_conv(task).weight.is_contiguous()


def first_conv(task) -> torch.nn.Conv2d:
    return next(m for m in task.modules() if isinstance(m, torch.nn.Conv2d))


def test_pickled_predictor_runs_alike_and_takes_the_workers_device(batch) -> None:
    predictor = load_predictor(make_task(), device="cpu")
    expected = predictor(batch)
    copy = pickle.loads(pickle.dumps(predictor))
    assert copy.plan == device_plan("cpu") and copy.classes == predictor.classes
    assert first_conv(copy.module).weight.is_contiguous(memory_format=torch.channels_last)
    assert np.array_equal(copy(batch), expected)
    assert on_worker_device(copy, "auto") is copy  # this machine: the CPU, nothing to move
    assert np.array_equal(on_worker_device(copy, "cpu")(batch), expected)
    # a Predictor as loaded (not yet moved) takes the worker's plan at the first task
    plain = pickle.loads(pickle.dumps(load_predictor(make_task())))
    assert plain.plan == DevicePlan(torch.device("cpu"))
    assert on_worker_device(plain, "auto").plan == device_plan("cpu")
    assert np.array_equal(plain(batch), expected)
    with pytest.raises(ConfigError, match=r"^--device cuda: no CUDA device is visible"):
        on_worker_device(copy, "cuda")


def test_load_predictor_refuses_a_missing_device(run_dir) -> None:
    assert load_predictor(run_dir, device="cpu").device == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"^--device gpu is not a device; choose one of"):
        load_predictor(run_dir, device="gpu")
