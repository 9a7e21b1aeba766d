"""What prediction needs of a model, whatever form it comes in (run, task, bare network).

:class:`Predictor` wraps the network as a function ``raw tiles (B, C, H, W) -> probabilities
(B, K, H, W)`` with ``K >= 2`` (a binary model's foreground sigmoid becomes two bands), plus the
facts used to check an image and to lay out tiles. It pickles, so Dask workers can run it.

Devices: a Predictor runs where its :class:`~terralearn.models.DevicePlan` says: its module as
given, in float32, until :meth:`Predictor.to` moves it (in place, like ``nn.Module.to``) and
applies that device's precision and layout. A call copies the numpy tiles to the device, runs
the forward and returns float32 numpy on the host. The device is chosen explicitly, not lazily
at the first call: a missing device fails at once, in one line, where it is chosen, and a
Predictor's fields always say where its module is. A Predictor pickles with its module on the
CPU (a GPU module is copied to the host), so a Dask worker receives a CPU Predictor and calls
:func:`on_worker_device` with the user's ``--device`` to use its own GPU.
"""

from __future__ import annotations

import copy
import inspect
import os
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from terralearn.artifacts import load_task
from terralearn.classes import ClassTable
from terralearn.data.augment import d4_inverse, d4_transform
from terralearn.errors import ConfigError, IncompatibleError
from terralearn.models.device import DevicePlan, device_plan, resolve_device
from terralearn.models.fold import (
    conv_before_upsampling,
    fold_band_std,
    fold_batch_norms,
    split_skip_concatenation,
)
from terralearn.models.unet import Span

# D4 elements used by test-time augmentation: all 8 rotations/flips
TTA_ELEMENTS = tuple(range(8))
# Dask worker threads share one scattered Predictor: one of them moves it
_MOVE_LOCK = threading.Lock()


@dataclass
class Predictor:
    """A network in eval mode and what it expects.

    Attributes:
        module: a task with ``predict_proba`` (raw pixel values in) or a bare network (logits).
        classes: class id -> name (ids ``0..K-1``).
        bands: band names the model was trained on (None: any bands, count unchecked).
        in_channels: number of input bands, when known.
        resolution: training pixel size in CRS units (None: unchecked).
        crs: training CRS string (for messages and unit checks).
        chip_size: training chip size (for the default tile size).
        receptive_field: input pixels one output depends on (None: unknown).
        align: the network's down-sampling factor (tiles starting on multiples of it stay exact).
        global_context: every output depends on the whole input (a ViT's global attention).
        fill: per-band value put where the input is nodata (the training mean: normalises to 0).
        source: a name for messages (the run path or the module's class).
        table: code, name and colour of each class (default: code = index).
        plan: where and how the module runs (device, precision, layout). A new Predictor
            runs its module as given (float32, on the module's device, its own layout);
            :meth:`to` applies a device's plan (:func:`terralearn.models.device_plan`).
    """

    module: Any
    classes: dict[int, str]
    bands: list[str] | None = None
    in_channels: int | None = None
    resolution: float | None = None
    crs: str | None = None
    chip_size: int | None = None
    receptive_field: int | None = None
    align: int = 1
    global_context: bool = False
    fill: np.ndarray | None = None
    source: str = "the model"
    table: ClassTable | None = None
    plan: DevicePlan = field(default_factory=lambda: DevicePlan(torch.device("cpu")))
    _proba: bool = field(default=False, repr=False)
    _normalizes: bool = field(default=False, repr=False)  # forward(raw, valid, memory_format=)
    _takes_rows: bool = field(default=False, repr=False)  # forward(..., rows=)
    _activation_bytes: float | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.table is None:
            self.table = ClassTable.from_names(self.classes)

    def activation_bytes(self) -> float | None:
        """Bytes per input pixel of the tensors alive at once at the peak of one forward pass
        (float32): each tensor a module of the network takes or outputs counts from when a
        module is called with it or returns it until it is freed (a concatenation, no module's
        output, counts as the next module's input). Measured once on a small blank probe; None
        when the number of input bands is unknown or the network attends globally (its memory
        grows with the square of the tile). Sets the default ``"crop"`` tile size
        (:func:`terralearn.predict.windows.crop_tile_size`)."""
        if self._activation_bytes is not None or self.in_channels is None or self.global_context:
            return self._activation_bytes
        side = 8 * max(self.align, 8)  # 64 px for U-Nets: every level is a few pixels wide
        alive: dict[int, int] = {}  # storage address -> bytes
        now = peak = 0

        def free(address: int) -> None:
            nonlocal now
            now -= alive.pop(address, 0)

        def record(_module, inputs, output=()) -> None:
            nonlocal now, peak
            outputs = output if isinstance(output, tuple | list) else (output,)
            for t in (*inputs, *outputs):
                if not isinstance(t, torch.Tensor):
                    continue
                storage = t.untyped_storage()
                address = storage.data_ptr()
                if address in alive:  # a view, or the same tensor again (in-place ops)
                    continue
                alive[address] = storage.nbytes()
                now += alive[address]
                peak = max(peak, now)
                weakref.finalize(t, free, address)

        modules = list(self.module.modules())
        hooks = [m.register_forward_pre_hook(record) for m in modules]  # inputs from the start
        hooks += [m.register_forward_hook(record) for m in modules]
        try:
            with torch.inference_mode():
                self._logits(np.zeros((1, self.in_channels, side, side), np.float32))
        finally:
            for hook in hooks:
                hook.remove()
        self._activation_bytes = peak / side**2
        return self._activation_bytes

    @property
    def device(self) -> torch.device:
        """Where the module and the batches are."""
        return self.plan.device

    def to(self, device: str | torch.device | None = None, plan: DevicePlan | None = None):
        """Move the module to ``device`` (in place, as ``nn.Module.to``) and return ``self``.

        Args:
            device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a
                ``torch.device``; checked by :func:`terralearn.models.resolve_device`. Its
                precision and layout are :func:`terralearn.models.device_plan`'s.
            plan: an explicit plan instead (e.g. float32 on CUDA); not checked.

        Raises:
            ConfigError: the device is unknown or not available here.
        """
        if plan is None:
            plan = device_plan(resolve_device("auto" if device is None else device))
        with _MOVE_LOCK:
            if plan != self.plan:
                plan.place_module(self.module)
                self.plan = plan
        return self

    def __getstate__(self) -> dict[str, Any]:
        # a GPU module is unpicklable where there is no GPU: ship a CPU copy
        state = dict(self.__dict__)
        if self.plan.device.type != "cpu":
            state["module"] = copy.deepcopy(self.module).to("cpu", torch.contiguous_format)
            state["plan"] = DevicePlan(torch.device("cpu"))
        return state

    def __call__(
        self, batch: np.ndarray, tta: bool = False, valid: np.ndarray | None = None
    ) -> np.ndarray:
        """Probabilities ``(B, K, H, W)`` float32 on the host for raw tiles ``(B, C, H, W)``
        (any dtype; ``valid`` ``(B, H, W)`` bool: where False, the training mean is fed).

        The tiles go to the plan's device (from pinned memory, without blocking, on CUDA),
        the forward runs under its precision, and the result comes back as float32 numpy.
        """
        with torch.inference_mode(), self.plan.precision():
            if not tta:
                return _to_host(self._probabilities(batch, valid))
            x = self._place(batch, valid)  # transformed 8 times: one float32 copy for all
            total = None
            for k in TTA_ELEMENTS:
                y = d4_inverse(self._placed_probabilities(d4_transform(x, None, k)[0]), k)
                total = y if total is None else total + y
            return _to_host(total / len(TTA_ELEMENTS))

    def labels(
        self, batch: np.ndarray, valid: np.ndarray | None = None, rows: Span | None = None
    ) -> np.ndarray:
        """Class indices ``(B, H, W)`` uint8 on the host for raw tiles ``(B, C, H, W)`` (and
        ``valid`` as in :meth:`__call__`); with ``rows`` (``(start, stop)``) only those rows,
        ``(B, stop - start, W)`` (a ``"crop"`` tile's core rows: a U-Net's decoder then
        computes less).

        The class of :meth:`__call__`'s probabilities, taken from the logits (binary: logit >
        0): no softmax, and one byte per pixel back to the host instead of ``K`` floats.
        """
        with torch.inference_mode():
            with self.plan.precision():
                labels = self._labels(batch, valid, rows)
            return labels.to(torch.uint8).cpu().numpy()

    def _raw(
        self, batch: np.ndarray, valid: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``batch`` as it is (its dtype and strides) on the device, and ``valid`` there (None
        when every pixel is valid)."""
        if batch.dtype.kind not in "uif" or not batch.dtype.isnative or min(batch.strides) < 0:
            batch = np.array(batch, dtype=np.float32)  # what torch.from_numpy cannot take
        raw = torch.from_numpy(batch)
        if self.plan.device.type != "cpu":  # raw pixels over the bus: 2 bytes each for uint16
            raw = self.plan.place_batch(raw)
        keep = None
        if valid is not None and not valid.all():
            keep = torch.from_numpy(np.ascontiguousarray(valid)).to(raw.device)
        return raw, keep

    def _place(self, batch: np.ndarray, valid: np.ndarray | None = None) -> torch.Tensor:
        """A float32 copy of ``batch`` on the device, in the plan's layout, with the training
        mean (:func:`fill_values`) where ``valid`` is False: the input of a module that does not
        normalise raw pixels itself, and of test-time augmentation."""
        raw, keep = self._raw(batch, valid)
        x = torch.empty(raw.shape, dtype=torch.float32, device=raw.device,
                        memory_format=self.plan.memory_format)  # fmt: skip
        x.copy_(raw)  # one pass: dtype and layout at once
        if keep is not None:
            fill = torch.tensor(fill_values(self, x.shape[1]), dtype=x.dtype, device=x.device)
            x.permute(0, 2, 3, 1)[~keep] = fill  # in place, whatever x's layout
        return x

    def _logits(
        self, batch: np.ndarray, valid: np.ndarray | None = None, rows: Span | None = None
    ) -> torch.Tensor:
        """Logits of raw tiles (only ``rows``, if given). A task that normalises raw pixels
        (``forward(raw, valid, memory_format=)``) takes them as they are and writes its
        normalised copy in the plan's layout: conversion, layout and normalisation in one
        pass; given ``rows`` when it takes them. Another module gets :meth:`_place`'s float32
        copy."""
        if self._normalizes:
            raw, keep = self._raw(batch, valid)
            if rows is not None and self._takes_rows:
                return self.module(raw, keep, memory_format=self.plan.memory_format, rows=rows)
            logits = self.module(raw, keep, memory_format=self.plan.memory_format)
        else:
            logits = self.module(self._place(batch, valid))
        return logits if rows is None else logits[..., rows[0] : rows[1], :]

    def _labels(
        self, batch: np.ndarray, valid: np.ndarray | None, rows: Span | None = None
    ) -> torch.Tensor:
        if self._proba and not hasattr(self.module, "predict_labels"):
            labels = self._probabilities(batch, valid).argmax(dim=1)
            return labels if rows is None else labels[:, rows[0] : rows[1]]
        logits = self._logits(batch, valid, rows)
        self._check_classes(2 if logits.shape[1] == 1 else logits.shape[1])
        if logits.shape[1] == 1:
            return logits[:, 0] > 0
        return logits.max(dim=1).indices  # argmax (the first of equals), 1.4x faster on NHWC

    def _probabilities(self, batch: np.ndarray, valid: np.ndarray | None) -> torch.Tensor:
        if self._proba and not self._normalizes:
            return self._placed_probabilities(self._place(batch, valid))
        return self._class_bands(_softmax(self._logits(batch, valid)))

    def _placed_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities of float32 tiles ``x`` from :meth:`_place` (perhaps transformed)."""
        if self._proba:
            return self._class_bands(self.module.predict_proba(x))
        return self._class_bands(_softmax(self.module(x)))

    def _class_bands(self, p: torch.Tensor) -> torch.Tensor:
        if p.shape[1] == 1:  # binary: background, foreground
            p = torch.cat([1.0 - p, p], dim=1)
        self._check_classes(p.shape[1])
        return p.float()

    def _check_classes(self, count: int) -> None:
        if count != len(self.classes):
            raise IncompatibleError(
                f"{self.source} returned {count} class bands but has {len(self.classes)} "
                "class names; the run's classes do not match its checkpoint"
            )


def _softmax(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities of logits: softmax, or for one channel its sigmoid (foreground)."""
    return logits.sigmoid() if logits.shape[1] == 1 else logits.softmax(dim=1)


def _to_host(probabilities: torch.Tensor) -> np.ndarray:
    return probabilities.float().cpu().numpy()


def on_worker_device(predictor: Predictor, device: str | torch.device = "auto") -> Predictor:
    """``predictor`` on this process's ``device``: for a Dask task, on the worker's GPU.

    Call it in the task, with the user's ``--device`` string: the client pickles a CPU
    Predictor and each worker resolves ``"auto"`` to what it has (give each worker its own
    GPU with ``CUDA_VISIBLE_DEVICES``). The first call on a worker moves the module; later
    calls find it there and return at once.

    Raises:
        ConfigError: the worker has no such device.
    """
    plan = device_plan(resolve_device(device))
    if predictor.plan == plan:
        return predictor
    return predictor.to(plan=plan)


def load_predictor(
    model_or_run: Any, which: str = "best", device: str | torch.device | None = None
) -> Predictor:
    """Build a :class:`Predictor` from a run directory, a ``(task, info)`` pair or a module.

    Args:
        model_or_run: a run directory path; a ``(task, RunInfo)`` pair as returned by
            ``terralearn.artifacts.load_task``; a task with ``predict_proba``; or a bare
            ``torch.nn.Module`` returning logits (softmax, or sigmoid for one channel); a
            :class:`Predictor` is returned as is.
        which: checkpoint of a run directory (``"best"`` or ``"last"``).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or a
            ``torch.device`` (see :meth:`Predictor.to`); None runs the module where it is (a
            run's: the CPU), in float32, and leaves a given Predictor as it is.

    Raises:
        NotARunError: the run directory has no run.json or no checkpoint.
        ConfigError: the object is none of the above, or the device is not available.
    """
    predictor = _load_predictor(model_or_run, which)
    return predictor if device is None else predictor.to(device)


def _load_predictor(model_or_run: Any, which: str) -> Predictor:
    if isinstance(model_or_run, Predictor):
        return model_or_run
    info = None
    source = None
    if isinstance(model_or_run, str | os.PathLike):
        task, info = load_task(model_or_run, which)
        source = f"the model of run {os.fspath(model_or_run)!r}"
        # ours, for inference only: batch norms folded into their convolutions (faster, less
        # memory), 1x1 convs before up-sampling, up-blocks without the concatenation and the
        # band std in the input convolution; a module the caller gives is left as it is
        fold_batch_norms(task.eval())
        conv_before_upsampling(task)
        split_skip_concatenation(task)
        fold_band_std(task)
    elif isinstance(model_or_run, tuple) and len(model_or_run) == 2:
        task, info = model_or_run
    else:
        task = model_or_run
    if not isinstance(task, nn.Module):
        raise ConfigError(
            f"predict_raster takes a run directory, a (task, info) pair or a torch.nn.Module, "
            f"got {type(model_or_run).__name__}"
        )
    task.eval()
    network = getattr(task, "model", task)
    rf = getattr(network, "receptive_field", None)
    depth = getattr(network, "depth", None)
    in_channels = getattr(network, "in_channels", None)
    num_classes = getattr(network, "num_classes", None)
    fill = None
    if getattr(task, "band_mean", None) is not None:
        fill = task.band_mean.detach().reshape(-1).cpu().numpy().astype(np.float32)
    if info is not None:
        classes = {int(k): str(v) for k, v in sorted(info.classes.items())}
        bands: list[str] | None = [str(b) for b in info.bands]
        in_channels = info.in_channels
    else:
        k = max(int(num_classes or 2), 2)
        names = (
            getattr(task, "hparams", {}).get("class_names") if hasattr(task, "hparams") else None
        )
        classes = (
            {i: str(n) for i, n in enumerate(names)}
            if names
            else {i: f"class_{i}" for i in range(k)}
        )
        bands = None
    if len(classes) > 255:
        raise ConfigError(
            f"{source or 'the model'} has {len(classes)} classes; class maps hold at most 255 "
            "(value 255 is nodata)"
        )
    return Predictor(
        module=task,
        classes=classes,
        bands=bands,
        in_channels=in_channels,
        resolution=float(info.resolution) if info is not None and info.resolution else None,
        crs=str(info.crs) if info is not None and info.crs else None,
        chip_size=int(info.chip_size) if info is not None and info.chip_size else None,
        receptive_field=int(rf) if isinstance(rf, int) else None,
        align=_alignment(network, depth),
        global_context=bool(getattr(network, "global_context", False)),
        fill=fill,
        source=source or f"the model ({type(task).__name__})",
        table=info.table if info is not None else None,
        plan=DevicePlan(_module_device(task)),  # as given, until moved
        _proba=hasattr(task, "predict_proba"),
        _normalizes="memory_format" in inspect.signature(task.forward).parameters,
        _takes_rows="rows" in inspect.signature(task.forward).parameters,
    )


def _module_device(module: nn.Module) -> torch.device:
    """Where a module given by the caller already is (the CPU when it has no parameters)."""
    tensor = next(iter(module.parameters()), None)
    return torch.device("cpu") if tensor is None else tensor.device


def check_band_names(names: list[str], trained: list[str], image_name: str, model: str) -> None:
    """Raise when the image lacks a band ``model`` was trained on (one line: which, and the fix).

    Raises:
        IncompatibleError: a band of ``trained`` is not in ``names``.
    """
    missing = [b for b in trained if b not in names]
    if missing:
        raise IncompatibleError(
            f"image {image_name!r} has {len(names)} band(s) {names} but {model} "
            f"was trained on {len(trained)} band(s) {trained} "
            f"(missing {missing}); give an image with those bands, named alike"
        )


def check_image(predictor: Predictor, image, image_name: str) -> Any:
    """Select the model's bands from ``image`` and check its pixel size against training.

    Args:
        predictor: the model's expectations.
        image: a canonical ``(band, y, x)`` DataArray.
        image_name: the image's path (for messages).

    Returns:
        The image restricted to the model's bands, in training order.

    Raises:
        IncompatibleError: missing bands, a different band count, or a pixel size more than
            2x off the training data's.
    """
    names = [str(b) for b in image["band"].values]
    if predictor.bands is not None:
        check_band_names(names, predictor.bands, image_name, predictor.source)
        if names != predictor.bands:
            image = image.sel(band=list(predictor.bands))
    elif predictor.in_channels is not None and len(names) != predictor.in_channels:
        raise IncompatibleError(
            f"image {image_name!r} has {len(names)} band(s) but {predictor.source} takes "
            f"{predictor.in_channels}; select the bands it was trained on"
        )
    _check_resolution(predictor, image, image_name)
    return image


def _check_resolution(predictor: Predictor, image, image_name: str) -> None:
    if predictor.resolution is not None:
        check_pixel_size(image, image_name, predictor.resolution, predictor.crs, predictor.source)


def check_pixel_size(
    image, image_name: str, trained: float, trained_crs: str | None, model: str
) -> None:
    """Refuse an image whose pixel size is more than 2x off the training pixel size ``trained``.

    Sizes in different units (degrees vs metres, feet vs metres) are not compared.

    Raises:
        IncompatibleError: naming both sizes and a ``gdalwarp`` command that resamples.
    """
    from rasterio.crs import CRS

    crs = image.rio.crs
    if trained_crs and crs is not None:
        try:
            train = CRS.from_user_input(trained_crs)
        except Exception:
            train = None
        # pixel sizes in degrees and in metres cannot be compared
        if train is not None and (train.is_geographic != crs.is_geographic):
            return
        if train is not None and train.linear_units != crs.linear_units:
            return
    xres, yres = (abs(float(v)) for v in image.rio.resolution())
    size = max(xres, yres)
    if size > 2 * trained or size < trained / 2:
        raise IncompatibleError(
            f"image {image_name!r} has a pixel size of {_fmt(size)} but {model} was "
            f"trained at {_fmt(trained)} (more than 2x off); resample it first, e.g. "
            f"`gdalwarp -tr {_fmt(trained)} {_fmt(trained)} -r bilinear IN.tif OUT.tif`"
        )


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def fill_values(predictor: Predictor, count: int) -> Sequence[float]:
    """Per-band values for nodata input pixels (training mean, else 0)."""
    if predictor.fill is not None and predictor.fill.size == count:
        return [float(v) for v in predictor.fill]
    return [0.0] * count


def _alignment(network, depth) -> int:
    """Tile starts on multiples of this keep tiled output equal to whole-image output.

    A model may say so itself (``align``, e.g. a ViT's patch size); a U-Net's pooling grid is
    ``2 ** depth``.
    """
    align = getattr(network, "align", None)
    if isinstance(align, int) and align > 0:
        return align
    return 2 ** int(depth) if isinstance(depth, int) else 1
