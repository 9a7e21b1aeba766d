"""Helpers shared by the prediction tests (and the predict CLI tests): rasters and run folders."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine

CRS = "EPSG:32633"
RES = 10.0
ORIGIN = (500_000.0, 5_000_000.0)
BANDS = ["B2", "B3", "B4"]
CLASSES = {0: "water", 1: "forest", 2: "urban"}


def transform(res: float = RES) -> Affine:
    return Affine(res, 0.0, ORIGIN[0], 0.0, -res, ORIGIN[1])


def write_image(
    path: Path,
    data: np.ndarray,
    bands: Sequence[str] = tuple(BANDS),
    nodata: float | None = None,
    res: float = RES,
    crs: str = CRS,
) -> Path:
    """Write a ``(C, H, W)`` array as a GeoTIFF with band descriptions."""
    count, height, width = data.shape
    with rasterio.open(
        path, "w", driver="GTiff", height=height, width=width, count=count, dtype=data.dtype,
        crs=crs, transform=transform(res), nodata=nodata, tiled=True, blockxsize=256,
        blockysize=256,
    ) as dst:  # fmt: skip
        dst.write(data)
        for i, name in enumerate(bands, start=1):
            dst.set_band_description(i, name)
    return path


def smooth_scene(height: int, width: int, bands: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth float32 ``(C, H, W)`` scene: low-frequency sines plus a ramp."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for _ in range(bands):
        fy, fx, phase = rng.uniform(0.005, 0.02), rng.uniform(0.005, 0.02), rng.uniform(0, 6)
        out.append(np.sin(fy * y + phase) * np.cos(fx * x) + 0.002 * (x - y))
    return np.stack(out).astype(np.float32)


def make_task(
    bands: int = 3,
    num_classes: int = 3,
    seed: int = 0,
    model_kwargs: dict | None = None,
    class_names: Sequence[str] | None = None,
):
    """A small untrained U-Net task in eval mode (seeded)."""
    from terralearn.tasks.segmentation import SegmentationTask

    torch.manual_seed(seed)
    task = SegmentationTask(
        model="unet_small", in_channels=bands, num_classes=num_classes,
        model_kwargs=model_kwargs or {"base_width": 4}, augment=False, schedule="none",
        class_names=list(class_names) if class_names else None,
    )  # fmt: skip
    return task.eval()


def make_run(
    path: Path,
    bands: Sequence[str] = tuple(BANDS),
    classes: dict[int, str] | None = None,
    resolution: float = RES,
    chip_size: int = 64,
    seed: int = 0,
    checkpoint: bool = True,
) -> Path:
    """A run directory by hand: run.json and checkpoints/best.ckpt of a small untrained U-Net."""
    from terralearn.artifacts import RunDir, RunInfo

    classes = dict(classes or CLASSES)
    task = make_task(len(bands), len(classes), seed, class_names=list(classes.values()))
    path.mkdir(parents=True, exist_ok=True)
    info = RunInfo(
        kind="segmentation", model="unet_small", in_channels=len(bands),
        num_classes=len(classes), bands=list(bands), classes=classes, chip_size=chip_size,
        resolution=resolution, crs=CRS, dtype="float32", ignore_index=255, store="n/a",
    )  # fmt: skip
    (path / "run.json").write_text(json.dumps(info.to_json()))
    if checkpoint:
        run = RunDir(path)
        run.checkpoints.mkdir(exist_ok=True)
        state = {"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)}
        torch.save(state, run.checkpoint("best"))
    return path


def as_dataarray(data: np.ndarray, bands: Sequence[str] = tuple(BANDS), res: float = RES):
    """A georeferenced in-memory ``(band, y, x)`` DataArray (pixel-centre coordinates)."""
    import rioxarray  # noqa: F401  (registers .rio)
    import xarray as xr

    _, height, width = data.shape
    coords = {
        "band": list(bands),
        "y": ORIGIN[1] - res * (np.arange(height) + 0.5),
        "x": ORIGIN[0] + res * (np.arange(width) + 0.5),
    }
    da = xr.DataArray(data, dims=("band", "y", "x"), coords=coords, name="image")
    return da.rio.write_crs(CRS).rio.write_transform(transform(res))


class BandLogits(torch.nn.Module):
    """A "model" whose logits are the input bands: the class is the brightest band."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 1.0


def band_logits_model(classes: dict[int, str] | None = None):
    """``(BandLogits(), RunInfo)``: a pair the prediction API takes like a trained run."""
    from terralearn.artifacts import RunInfo

    classes = dict(classes or CLASSES)
    info = RunInfo(
        kind="segmentation", model="band_logits", in_channels=len(BANDS),
        num_classes=len(classes), bands=list(BANDS), classes=classes, chip_size=64,
        resolution=RES, crs=CRS, dtype="float32", ignore_index=255, store="n/a",
    )  # fmt: skip
    return BandLogits().eval(), info


def blocks_scene(height: int, width: int) -> np.ndarray:
    """Three bands whose brightest band draws known class regions: class 0 left, 1 right,
    class 2 in a 10 x 10 square at rows/cols 20-29 and a 2 x 2 speck at rows/cols 50-51."""
    data = np.zeros((3, height, width), np.float32)
    data[0, :, : width // 2] = 1.0
    data[1, :, width // 2 :] = 1.0
    data[:, 20:30, 20:30] = 0.0
    data[2, 20:30, 20:30] = 1.0
    data[:, 50:52, 50:52] = 0.0
    data[2, 50:52, 50:52] = 1.0
    return data
