"""``resolve_device`` and ``device_plan``: which device, and how inference runs on it.

This machine has no GPU: CUDA and MPS are simulated by patching what torch reports, so the
choices per device type are asserted exactly without one.
"""

from __future__ import annotations

import pytest
import torch

from terralearn.errors import ConfigError
from terralearn.models import DevicePlan, device_plan, resolve_device


@pytest.fixture
def cpu_only(monkeypatch):
    """torch as a CPU-only build sees it: no CUDA, no MPS."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_is_the_cpu_without_cuda_or_mps(cpu_only) -> None:
    assert resolve_device() == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_auto_prefers_cuda_then_mps(monkeypatch, two_gpus) -> None:
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    assert resolve_device("mps") == torch.device("mps")


def test_missing_cuda_is_one_line_with_what_is_there_and_the_fix(cpu_only) -> None:
    with pytest.raises(ConfigError) as error:
        resolve_device("cuda")
    assert str(error.value) == (
        f"--device cuda: no CUDA device is visible to torch {torch.__version__} (a CPU-only "
        "build); available here: cpu; use --device cpu or auto, or install a CUDA build of torch"
    )


def test_cuda_build_without_a_visible_gpu_names_the_driver(monkeypatch, cpu_only) -> None:
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    with pytest.raises(ConfigError) as error:
        resolve_device("cuda:0")
    assert str(error.value) == (
        f"--device cuda:0: no CUDA device is visible to torch {torch.__version__} (built for "
        "CUDA 12.4; check the NVIDIA driver and CUDA_VISIBLE_DEVICES); available here: cpu; "
        "use --device cpu or auto"
    )


def test_a_gpu_index_past_the_last_one(two_gpus) -> None:
    with pytest.raises(ConfigError) as error:
        resolve_device("cuda:2")
    assert str(error.value) == (
        "--device cuda:2: torch sees 2 CUDA device(s); available here: cpu, cuda:0, cuda:1; "
        "use one of those (CUDA_VISIBLE_DEVICES renumbers them from 0)"
    )


def test_missing_mps(cpu_only) -> None:
    with pytest.raises(ConfigError, match=r"^--device mps: MPS is not available to torch .*; "
                       r"available here: cpu; use --device cpu or auto$"):  # fmt: skip
        resolve_device("mps")


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "meta", ""])
def test_unknown_names_list_the_choices(spec: str) -> None:
    with pytest.raises(ConfigError) as error:
        resolve_device(spec)
    assert str(error.value) == (
        f"--device {spec} is not a device; choose one of auto, cpu, cuda, cuda:N, mps (e.g. cuda:1)"
    )


def test_cpu_plan_is_float32_channels_last_without_pinning() -> None:
    plan = device_plan("cpu")  # measured: benchmarks/README.md, "Prediction on a device"
    assert plan == DevicePlan(torch.device("cpu"), None, True, False)
    assert plan.describe() == "cpu, float32, channels-last"
    assert plan.memory_format == torch.channels_last
    assert DevicePlan(torch.device("cpu")).describe() == "cpu, float32"
    assert DevicePlan(torch.device("cpu")).memory_format == torch.contiguous_format


@pytest.mark.parametrize(
    ("bf16", "dtype", "described"),
    [
        (True, torch.bfloat16, "cuda:0, bfloat16 autocast, channels-last"),
        (False, torch.float16, "cuda:0, float16 autocast, channels-last"),
    ],
)
def test_cuda_plan_autocasts_bf16_where_supported_else_fp16(
    monkeypatch, bf16: bool, dtype, described: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    plan = device_plan(torch.device("cuda", 0))
    assert plan == DevicePlan(torch.device("cuda", 0), dtype, True, True)
    assert plan.describe() == described
    assert plan.memory_format == torch.channels_last


def test_mps_plan_is_float32() -> None:
    assert device_plan("mps") == DevicePlan(torch.device("mps"), None, False, False)


def test_place_batch_and_precision_on_the_cpu() -> None:
    plan = DevicePlan(torch.device("cpu"), autocast=torch.bfloat16, channels_last=True)
    batch = plan.place_batch(torch.ones(2, 3, 4, 5))
    assert batch.is_contiguous(memory_format=torch.channels_last)
    assert plan.place_batch(torch.ones(2, 4, 5)).shape == (2, 4, 5)  # masks keep their layout
    conv = plan.place_module(torch.nn.Conv2d(3, 2, 1))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), plan.precision():
        assert conv(batch).dtype == torch.bfloat16
    with torch.inference_mode(), DevicePlan(torch.device("cpu")).precision():
        assert conv(batch).dtype == torch.float32
