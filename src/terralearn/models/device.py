"""Which device a network runs on, and how: precision and memory layout per device type.

:func:`resolve_device` turns ``--device auto|cpu|cuda|cuda:N|mps`` into a ``torch.device``
(``auto``: CUDA, else MPS, else the CPU) and refuses, in one line, a device torch cannot see.
:func:`device_plan` says how inference runs there (:class:`DevicePlan`): autocast dtype,
channels-last layout, pinned host memory. Prediction, evaluation and attention maps all go
through the plan, so the GPU path is the CPU path with another device.

What each device gets, and why (``benchmarks/README.md``, "Prediction on a device"):

- **cpu**: float32, channels-last. Measured on a 2-core Xeon (AVX-512, AMX-BF16): channels-last
  is 1.2-1.4x faster for both U-Nets and changes no pixel's class; bfloat16 autocast (1.8-2.6x
  with channels-last) changes the class of up to 0.5 % of pixels, so it is left to the user
  (an explicit :class:`DevicePlan`); ``torch.compile`` compiles for minutes per batch shape.
- **cuda**: bfloat16 autocast where ``torch.cuda.is_bf16_supported()`` (Ampere and newer),
  else float16; channels-last (tensor cores want NHWC); batches copied from pinned host memory
  without blocking. Standard practice, not measured here: this machine has no GPU.
- **mps**: float32, contiguous. Autocast and channels-last on MPS are recent in torch and
  untested here; float32 is the safe choice.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from terralearn.errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


@dataclass(frozen=True)
class DevicePlan:
    """How a network runs on one device.

    Attributes:
        device: where the module and the batches live.
        autocast: dtype of ``torch.autocast`` around the forward (None: float32 throughout).
        channels_last: module weights and 4-D inputs in NHWC memory layout.
        pin_memory: batches are copied to the device from pinned (page-locked) host memory,
            without blocking the host (CUDA only).
    """

    device: torch.device
    autocast: torch.dtype | None = None
    channels_last: bool = False
    pin_memory: bool = False

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def describe(self) -> str:
        """``cuda:0, bfloat16 autocast, channels-last``: for logs and reports."""
        parts = [str(self.device)]
        parts.append(f"{_dtype_name(self.autocast)} autocast" if self.autocast else "float32")
        if self.channels_last:
            parts.append("channels-last")
        return ", ".join(parts)

    def place_module(self, module: nn.Module) -> nn.Module:
        """Move ``module`` (in place, as ``nn.Module.to`` does) to the device and layout."""
        return module.to(self.device, memory_format=self.memory_format)

    def place_batch(self, batch: torch.Tensor) -> torch.Tensor:
        """A host tensor on the device: from pinned memory without blocking on CUDA, in the
        plan's layout when it is a 4-D image batch."""
        if self.pin_memory and batch.device.type == "cpu":
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        else:
            batch = batch.to(self.device)
        if batch.ndim == 4:
            batch = batch.contiguous(memory_format=self.memory_format)
        return batch

    @contextlib.contextmanager
    def precision(self) -> Iterator[None]:
        """The autocast of the plan around a forward pass (nothing for float32)."""
        if self.autocast is None:
            yield
            return
        with torch.autocast(self.device.type, dtype=self.autocast):
            yield


def device_plan(device: torch.device | str) -> DevicePlan:
    """The :class:`DevicePlan` for inference on ``device`` (a resolved device, see module doc).

    Args:
        device: a ``torch.device`` or a string torch accepts (``"cpu"``, ``"cuda:1"``); it is
            not checked for availability (see :func:`resolve_device`).
    """
    device = torch.device(device)
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return DevicePlan(device, autocast=dtype, channels_last=True, pin_memory=True)
    if device.type == "cpu":
        return DevicePlan(device, channels_last=True)
    return DevicePlan(device)


def available_devices() -> list[str]:
    """Devices torch can use here: ``["cpu"]``, plus ``cuda:0 .. cuda:N-1`` and ``mps``."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        found.append("mps")
    return found


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """The device for ``--device SPEC``: ``auto`` (CUDA, else MPS, else CPU), ``cpu``, ``cuda``,
    ``cuda:N`` or ``mps``.

    Raises:
        ConfigError: ``spec`` is not a device name, or names a device torch cannot see (one
            line: what was asked, what is available, how to fix).
    """
    text = str(spec).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(
            f"--device {spec!s} is not a device; choose one of {', '.join(DEVICE_CHOICES)} "
            "(e.g. cuda:1)"
        )
    if device.type == "cpu":
        return torch.device("cpu")
    available = ", ".join(available_devices())
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device {text}: no CUDA device is visible to torch {torch.__version__} "
                f"({_cuda_build()}); available here: {available}; use --device cpu or auto"
                + ("" if torch.version.cuda else ", or install a CUDA build of torch")
            )
        count = torch.cuda.device_count()
        index = torch.cuda.current_device() if device.index is None else device.index
        if index >= count:
            raise ConfigError(
                f"--device {text}: torch sees {count} CUDA device(s); available here: "
                f"{available}; use one of those (CUDA_VISIBLE_DEVICES renumbers them from 0)"
            )
        return torch.device("cuda", index)
    if not _mps_available():
        raise ConfigError(
            f"--device {text}: MPS is not available to torch {torch.__version__} on "
            f"{platform.system()} (it needs Apple silicon and macOS 12.3+); available here: "
            f"{available}; use --device cpu or auto"
        )
    return torch.device("mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _cuda_build() -> str:
    if torch.version.cuda is None:
        return "a CPU-only build"
    return f"built for CUDA {torch.version.cuda}; check the NVIDIA driver and CUDA_VISIBLE_DEVICES"


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
