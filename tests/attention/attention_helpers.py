"""Helpers of the attention tests (and the attention CLI tests): rasters, hand-set ViTs, runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine

CRS = "EPSG:32633"
RES = 10.0
ORIGIN = (500_000.0, 5_000_000.0)
TRANSFORM = Affine(RES, 0.0, ORIGIN[0], 0.0, -RES, ORIGIN[1])
UNIQUE = (16, 40)  # top-left pixel (row, col) of the one bright 8 x 8 patch
UNIQUE_TOKEN = 2 * 8 + 5  # on the 8 x 8 token grid of a 64 x 64 image


def write_image(path: Path, data: np.ndarray, bands: list[str] | None = None) -> Path:
    """Write a ``(C, H, W)`` float32 array as a GeoTIFF on the fixed test grid."""
    count, height, width = data.shape
    with rasterio.open(
        path, "w", driver="GTiff", height=height, width=width, count=count, dtype="float32",
        crs=CRS, transform=TRANSFORM,
    ) as dst:  # fmt: skip
        dst.write(data.astype(np.float32))
        for i, name in enumerate(bands or [f"B{i}" for i in range(1, count + 1)], start=1):
            dst.set_band_description(i, name)
    return path


def unique_patch_image(bands: int = 1, size: int = 64) -> np.ndarray:
    """Zeros except one bright 8 x 8 patch at :data:`UNIQUE`: one token unlike all others."""
    data = np.zeros((bands, size, size), dtype=np.float32)
    r, c = UNIQUE
    data[:, r : r + 8, c : c + 8] = 10.0
    return data


def unique_patch_vit(sharpness: float = 40.0):
    """A one-block ViT whose attention, hand-set, goes to the brightest patch from everywhere.

    Token = (mean of band 0 over the patch, 1, 0, ...) with zero positions. Queries are constant
    and keys are ``sharpness`` times the layer-normed first feature, which is largest for the
    bright patch, so every query's softmax concentrates on it.
    """
    from terralearn.models.vit import ViT

    model = ViT(1, 2, patch_size=8, embed_dim=8, depth=1, num_heads=2, img_size=64,
                drop_path=0.0, decoder_width=16, levels=1)  # fmt: skip
    with torch.no_grad():
        stem = model.encoder.stem.proj
        stem.weight.zero_()
        stem.bias.zero_()
        stem.weight[0, 0] = 1.0 / 64  # mean over the 8 x 8 patch
        stem.bias[1] = 1.0
        model.encoder.pos_embed.zero_()
        qkv = model.encoder.blocks[0].attn.qkv
        qkv.weight.zero_()
        qkv.bias.zero_()
        for head in range(2):  # head_dim 4: q rows 0-7, k rows 8-15
            qkv.bias[4 * head] = 1.0
            qkv.weight[8 + 4 * head, 0] = sharpness
    return model.eval()


def make_run(path: Path, model: str = "vit_tiny", bands: int = 3, seed: int = 0) -> Path:
    """A run directory by hand: run.json and best.ckpt of an untrained task (eval mode)."""
    from terralearn.artifacts import RunDir, RunInfo
    from terralearn.tasks.segmentation import SegmentationTask

    torch.manual_seed(seed)
    kwargs = {"img_size": 64} if model.startswith("vit") else {"base_width": 4}
    task = SegmentationTask(
        model=model, in_channels=bands, num_classes=3, model_kwargs=kwargs, augment=False,
        schedule="none", class_names=["water", "forest", "urban"],
    )  # fmt: skip
    path.mkdir(parents=True, exist_ok=True)
    info = RunInfo(
        kind="segmentation", model=model, in_channels=bands, num_classes=3,
        bands=[f"B{i}" for i in range(1, bands + 1)],
        classes={0: "water", 1: "forest", 2: "urban"}, chip_size=64, resolution=RES, crs=CRS,
        dtype="float32", ignore_index=255, store="n/a",
    )  # fmt: skip
    (path / "run.json").write_text(json.dumps(info.to_json()))
    run = RunDir(path)
    run.checkpoints.mkdir(exist_ok=True)
    state = {"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)}
    torch.save(state, run.checkpoint("best"))
    return path
