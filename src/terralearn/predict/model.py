"""What prediction needs of a model, whatever form it comes in (run, task, bare network).

:class:`Predictor` wraps the network as a function ``raw tiles (B, C, H, W) -> probabilities
(B, K, H, W)`` with ``K >= 2`` (a binary model's foreground sigmoid becomes two bands), plus the
facts used to check an image and to lay out tiles. It pickles, so Dask workers can run it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from terralearn.artifacts import load_task
from terralearn.classes import ClassTable
from terralearn.data.augment import d4_inverse, d4_transform
from terralearn.errors import ConfigError, IncompatibleError

# D4 elements used by test-time augmentation: all 8 rotations/flips
TTA_ELEMENTS = tuple(range(8))


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
    _proba: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.table is None:
            self.table = ClassTable.from_names(self.classes)

    def __call__(self, batch: np.ndarray, tta: bool = False) -> np.ndarray:
        """Probabilities ``(B, K, H, W)`` float32 for raw tiles ``(B, C, H, W)`` float32."""
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
            if not tta:
                return self._probabilities(x).numpy()
            total = None
            for k in TTA_ELEMENTS:
                y = d4_inverse(self._probabilities(d4_transform(x, None, k)[0]), k)
                total = y if total is None else total + y
            return (total / len(TTA_ELEMENTS)).numpy()

    def _probabilities(self, x):
        import torch

        if self._proba:
            p = self.module.predict_proba(x)
        else:
            logits = self.module(x)
            p = logits.sigmoid() if logits.shape[1] == 1 else logits.softmax(dim=1)
        if p.shape[1] == 1:  # binary: background, foreground
            p = torch.cat([1.0 - p, p], dim=1)
        return p.float()


def load_predictor(model_or_run: Any, which: str = "best") -> Predictor:
    """Build a :class:`Predictor` from a run directory, a ``(task, info)`` pair or a module.

    Args:
        model_or_run: a run directory path; a ``(task, RunInfo)`` pair as returned by
            ``terralearn.artifacts.load_task``; a task with ``predict_proba``; or a bare
            ``torch.nn.Module`` returning logits (softmax, or sigmoid for one channel); a
            :class:`Predictor` is returned as is.
        which: checkpoint of a run directory (``"best"`` or ``"last"``).

    Raises:
        NotARunError: the run directory has no run.json or no checkpoint.
        ConfigError: the object is none of the above.
    """
    from torch import nn

    if isinstance(model_or_run, Predictor):
        return model_or_run
    info = None
    source = None
    if isinstance(model_or_run, str | os.PathLike):
        task, info = load_task(model_or_run, which)
        source = f"the model of run {os.fspath(model_or_run)!r}"
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
        _proba=hasattr(task, "predict_proba"),
    )


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
