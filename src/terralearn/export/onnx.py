"""ONNX export of trained PyTorch segmentation models (``terralearn export-model``).

The exported graph is the whole task forward: raw pixel values ``image`` float32
``(B, C, H, W)`` -> band normalisation -> network -> ``logits`` ``(B, K, H, W)``, with batch,
height and width dynamic (H and W multiples of the network's down-sampling factor). Bands,
classes and chip size of the run are stored as ONNX metadata. Nodata pixels: fill them with the
run's band mean before calling (0 after normalisation, what training fed there); the graph does
not know the image's nodata value (e.g. -99999). After export the graph is run with
onnxruntime on a random input and compared with PyTorch (max abs difference < ``tolerance``).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from terralearn._extras import require
from terralearn._fs import atomic_output
from terralearn.artifacts import load_task
from terralearn.errors import ConfigError, IncompatibleError

TOLERANCE = 1e-4


def _import_onnx() -> tuple[Any, Any]:
    require("onnxscript", "onnx")  # torch.onnx.export's exporter
    return require("onnx", "onnx"), require("onnxruntime", "onnx")


def export_onnx(
    model_or_run: Any,
    out: str | os.PathLike,
    which: str = "best",
    chip_size: int | None = None,
    overwrite: bool = False,
    tolerance: float = TOLERANCE,
    opset: int = 18,
) -> tuple[Path, float]:
    """Export a run's model (or a task / ``nn.Module`` taking raw images) to ONNX.

    Args:
        model_or_run: a run directory, a ``SegmentationTask``, or any module ``(B,C,H,W) -> logits``.
        out: the ``.onnx`` file to write.
        which: checkpoint of a run, ``best`` or ``last``.
        chip_size: side of the example input (default: the run's chip size, else 64).
        overwrite: replace an existing ``out``.
        tolerance: largest accepted difference between onnxruntime and PyTorch outputs.
        opset: ONNX opset version.

    Returns:
        The output path and the max abs difference measured.

    Raises:
        NotARunError, IncompatibleError: a bad run or an export that does not match PyTorch.
    """
    import torch

    onnx, ort = _import_onnx()
    meta: dict[str, str] = {"producer": "terralearn"}
    if isinstance(model_or_run, str | os.PathLike):
        module, info = load_task(model_or_run, which)
        in_channels, size = info.in_channels, chip_size or info.chip_size
        meta.update(
            bands=json.dumps(info.bands),
            classes=json.dumps({str(k): v for k, v in info.classes.items()}),
            chip_size=str(info.chip_size),
            model=info.model,
        )
    else:
        module = model_or_run
        hparams = getattr(module, "hparams", {}) or {}
        in_channels = int(hparams.get("in_channels", 0)) or _in_channels(module)
        size = chip_size or 64
    module = module.eval().to("cpu")
    example = torch.rand(2, in_channels, size, size, generator=torch.Generator().manual_seed(0))
    example = example * 1000.0
    batch, height, width = (torch.export.Dim.AUTO,) * 3
    # the exporter logs a warning per torchvision op it cannot register; not ours to show
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with atomic_output(out, overwrite) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                module,
                (example,),
                input_names=["image"],
                output_names=["logits"],
                dynamic_shapes=({0: batch, 2: height, 3: width},),
                opset_version=opset,
                dynamo=True,
                verbose=False,
            )
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise IncompatibleError(
                f"the model cannot be exported to ONNX: {first[:200]}"
            ) from None
        proto = program.model_proto
        for key, value in meta.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.save_model(proto, str(tmp))
        diff = _compare(module, tmp, example, ort)
        if not diff <= tolerance:
            raise IncompatibleError(
                f"the ONNX export differs from PyTorch by {diff:.2e} (> {tolerance:g}); "
                "try another --opset"
            )
    return Path(out), diff


def _in_channels(module) -> int:
    for param in module.parameters():
        if param.ndim == 4:
            return int(param.shape[1])
    raise ConfigError("cannot tell the model's input bands; pass a task with in_channels")


def _compare(module, path: Path, example, ort) -> float:
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        expected = module(example).numpy()
    got = session.run(["logits"], {"image": example.numpy()})[0]
    if got.shape != expected.shape:
        raise IncompatibleError(
            f"the ONNX export gives shape {got.shape}, PyTorch {expected.shape}"
        )
    return float(np.abs(got - expected).max())
