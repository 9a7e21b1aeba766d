"""Where a trained ViT looks for one location: rollout and last-block head maps, as arrays.

:func:`attention_maps` reads a window of the image centred on the chosen point (clamped inside
the image), runs the network once with explicit attention weights, takes the query token (the
patch holding the point) and returns, on the window's pixel grid:

- ``rollout``: row ``q`` of the attention rollout over all blocks
  (:func:`terralearn.attention.rollout.query_rollout`);
- ``heads``: row ``q`` of each head's attention in the last block.

Values are per token (each token's weight repeated over its ``p x p`` pixels), so over the
window's tokens each map sums to 1. Attention is global, so its cost grows with the square of
the token count: the window defaults to 32 x 32 patches and is limited to 64 x 64.
:func:`write_attention_geotiff` writes the maps as a georeferenced float32 GeoTIFF and
:func:`plot_attention` draws them (with :mod:`terralearn.viz.attention`, which takes arrays).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from terralearn._fs import atomic_output
from terralearn.artifacts import load_task
from terralearn.attention.rollout import HeadFusion, query_rollout
from terralearn.errors import ConfigError, IncompatibleError
from terralearn.io import open_image, valid_mask
from terralearn.models.device import device_plan, resolve_device
from terralearn.pixels import fill_invalid
from terralearn.predict.model import check_image, fill_values, load_predictor
from terralearn.viz._figure import DEFAULT_DPI
from terralearn.viz.attention import plot_attention_panels
from terralearn.viz.colors import rgb_composite

DEFAULT_PATCHES = 32  # window side in patches when none is given
MAX_TOKENS = 64 * 64  # N^2 weights per head and block are kept in memory


@dataclass
class AttentionMaps:
    """Attention of one query location, on the pixel grid of a window of the image.

    Attributes:
        rollout: ``(H, W)`` float32 rollout weight of the token under each pixel.
        heads: ``(K, H, W)`` float32 last-block attention of each head.
        rgb: ``(H, W, 3)`` float32 display composite of the window (nodata white).
        prediction: ``(H, W)`` int16 predicted class ids (-1 on nodata).
        valid: ``(H, W)`` bool, True where every band is valid.
        classes: class id -> name.
        query: ``(row, col)`` of the point in the window.
        point: ``(row, col)`` of the point in the image.
        window: ``(row_off, col_off, height, width)`` of the window in the image.
        grid: token grid ``(g_h, g_w)`` of the (padded) window.
        query_token: index of the query token (``row * g_w + col`` on the grid).
        patch_size: pixels per token side.
        transform: affine transform of the window.
        crs: CRS of the image (WKT string).
        model: model name, for titles.
        head_fusion: how heads were fused for the rollout.
    """

    rollout: np.ndarray
    heads: np.ndarray
    rgb: np.ndarray
    prediction: np.ndarray
    valid: np.ndarray
    classes: dict[int, str]
    query: tuple[int, int]
    point: tuple[int, int]
    window: tuple[int, int, int, int]
    grid: tuple[int, int]
    query_token: int
    patch_size: int
    transform: Any
    crs: str | None
    model: str = "model"
    head_fusion: str = "mean"

    def map_xy(self, row: float, col: float) -> tuple[float, float]:
        """Map coordinates of a window position (pixel centre at ``row + 0.5, col + 0.5``)."""
        return self.transform * (col + 0.5, row + 0.5)

    def peak(self) -> tuple[int, int]:
        """``(row, col)`` in the window of the centre of the most attended token of the rollout."""
        row, col = np.unravel_index(int(np.argmax(self.rollout)), self.rollout.shape)
        p = self.patch_size
        return (
            min(row // p * p + p // 2, self.rollout.shape[0] - 1),
            min(col // p * p + p // 2, self.rollout.shape[1] - 1),
        )


def locate(image, at: tuple[float, float], pixel: bool, image_name: str) -> tuple[int, int]:
    """``(row, col)`` of a point given in map coordinates (or as pixel column, row with ``pixel``).

    Raises:
        ConfigError: the point lies outside the image.
    """
    height, width = int(image.sizes["y"]), int(image.sizes["x"])
    x, y = (float(v) for v in at)
    if pixel:
        col, row = int(np.floor(x)), int(np.floor(y))
    else:
        fcol, frow = ~image.rio.transform() * (x, y)
        col, row = int(np.floor(fcol)), int(np.floor(frow))
    if 0 <= row < height and 0 <= col < width:
        return row, col
    if pixel:
        raise ConfigError(
            f"--at {_fmt(x)} {_fmt(y)} --pixel is outside image {image_name!r} "
            f"({width} x {height} px: columns 0 to {width - 1}, rows 0 to {height - 1}); "
            "give a column and row inside it"
        )
    left, bottom, right, top = image.rio.bounds()
    raise ConfigError(
        f"--at {_fmt(x)} {_fmt(y)} is outside image {image_name!r} (x {_fmt(left)} to "
        f"{_fmt(right)}, y {_fmt(bottom)} to {_fmt(top)} in {image.rio.crs}); give map "
        "coordinates in the image's CRS, or pixel column and row with --pixel"
    )


def _fmt(value: float) -> str:
    return f"{value:.10g}"


def _window_size(window: int | None, patch: int, height: int, width: int) -> tuple[int, int]:
    if window is None:
        window = DEFAULT_PATCHES * patch
    if isinstance(window, bool) or not isinstance(window, int) or window < patch:
        raise ConfigError(
            f"--window must be an integer of at least the patch size ({patch} px), got {window!r}"
        )
    h, w = min(window, height), min(window, width)
    tokens = -(-h // patch) * -(-w // patch)
    if tokens > MAX_TOKENS:
        largest = int(np.sqrt(MAX_TOKENS)) * patch
        raise ConfigError(
            f"--window {window} makes {tokens} tokens of {patch} px; attention maps keep every "
            f"token pair in memory, so use --window {largest} or less"
        )
    return h, w


def _network(task, info, source: str):
    network = getattr(task, "model", task)
    if not hasattr(network, "forward_with_attention"):
        name = info.model if info is not None else type(network).__name__
        raise IncompatibleError(
            f"{source} uses model {name!r}, which has no attention maps; they need a "
            "transformer (vit_tiny, vit_small, vit_hybrid_tiny): train one with "
            "`terralearn train STORE --model vit_tiny --out RUN`"
        )
    return network


def attention_maps(
    run: Any,
    image: Any,
    at: tuple[float, float],
    *,
    pixel: bool = False,
    window: int | None = None,
    head_fusion: HeadFusion = "mean",
    residual: float = 0.5,
    which: str = "best",
    device: str = "auto",
) -> AttentionMaps:
    """Rollout and last-block head maps of a ViT for the location ``at`` of ``image``.

    Args:
        run: a run directory, a ``(task, RunInfo)`` pair, or a task / ViT module.
        image: an image path or DataArray (see :func:`terralearn.io.open_image`).
        at: ``(x, y)`` in the image's CRS, or ``(column, row)`` with ``pixel``.
        pixel: ``at`` is a pixel column and row (0-based, fractions floor).
        window: side in pixels of the square window the network sees (default 32 patches,
            at most 64 x 64 patches; clipped to the image).
        head_fusion: how the heads of a block are combined in the rollout.
        residual: share of the residual path in each block's flow (0.5 in the paper).
        which: checkpoint of a run directory (``"best"`` or ``"last"``).
        device: where the forward runs (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``; a
            given module is moved there). Always float32: one window costs little, and the
            maps are read as numbers.

    Returns:
        The maps and what is needed to draw or georeference them.

    Raises:
        NotARunError: ``run`` is not a run directory.
        IncompatibleError: the model has no attention (not a ViT), or the image lacks its bands.
        ConfigError: the point is outside the image, a bad window / fusion / residual, or a
            device that is unknown or not available.
    """
    import torch
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    plan = dataclasses.replace(device_plan(resolve_device(device)), autocast=None)
    info = None
    if isinstance(run, str | os.PathLike):
        task, info = load_task(run, which)
        source = f"run {os.fspath(run)!r}"
        run = (task, info)
    elif isinstance(run, tuple) and len(run) == 2:
        task, info = run
        source = "the run"
    else:
        task, source = run, f"the model ({type(run).__name__})"
    network = _network(task, info, source)
    predictor = load_predictor(run).to(plan=plan)
    name = os.fspath(image) if isinstance(image, str | os.PathLike) else "<in-memory>"
    da = check_image(predictor, open_image(image), name)
    row, col = locate(da, at, pixel, name)

    patch = int(network.patch_size)
    height, width = int(da.sizes["y"]), int(da.sizes["x"])
    win_h, win_w = _window_size(window, patch, height, width)
    row_off = int(np.clip(row - win_h // 2, 0, height - win_h))
    col_off = int(np.clip(col - win_w // 2, 0, width - win_w))
    part = da.isel(y=slice(row_off, row_off + win_h), x=slice(col_off, col_off + win_w)).load()
    valid = np.asarray(valid_mask(part).values, dtype=bool)
    # nodata enters as the training band mean, as in training and predict
    data = fill_invalid(part.values, valid, fill_values(predictor, part.sizes["band"]))

    task.eval()
    with torch.inference_mode():
        x = plan.place_batch(torch.from_numpy(data)[None])
        if hasattr(task, "normalize"):
            x = task.normalize(x, plan.place_batch(torch.from_numpy(valid)[None]))
        logits, attentions, grid = network.forward_with_attention(x)
        qr, qc = row - row_off, col - col_off
        token = (qr // patch) * grid[1] + qc // patch
        rollout = query_rollout(attentions, token, head_fusion, residual)[0].cpu()
        heads = attentions[-1][0, :, token, :].float().cpu()
    labels = (logits[0, 0] > 0).long() if logits.shape[1] == 1 else logits[0].argmax(dim=0)
    prediction = labels.cpu().numpy().astype(np.int16)
    prediction[~valid] = -1

    def to_pixels(tokens: torch.Tensor) -> np.ndarray:
        maps = tokens.reshape(-1, *grid).numpy().astype(np.float32)
        maps = maps.repeat(patch, axis=-2).repeat(patch, axis=-1)
        return maps[:, :win_h, :win_w]

    low = high = None
    if info is not None and info.display_low and len(info.display_low) == data.shape[0]:
        low, high = info.display_low, info.display_high
    bands = [str(b) for b in part["band"].values]
    rgb = rgb_composite(np.array(part.values, dtype=np.float32), bands, low, high, valid=valid)
    crs = da.rio.crs
    return AttentionMaps(
        rollout=to_pixels(rollout)[0],
        heads=to_pixels(heads),
        rgb=rgb,
        prediction=prediction,
        valid=valid,
        classes=dict(predictor.classes),
        query=(int(qr), int(qc)),
        point=(row, col),
        window=(row_off, col_off, win_h, win_w),
        grid=(int(grid[0]), int(grid[1])),
        query_token=int(token),
        patch_size=patch,
        transform=window_transform(Window(col_off, row_off, win_w, win_h), da.rio.transform()),
        crs=crs.to_wkt() if crs is not None else None,
        model=info.model if info is not None else type(network).__name__,
        head_fusion=head_fusion,
    )


def plot_attention(
    maps: AttentionMaps, out: str | os.PathLike, title: str | None = None, dpi: int = DEFAULT_DPI
) -> Path:
    """Draw :class:`AttentionMaps`: the image, the classes, the rollout and one panel per head.

    Args:
        maps: the arrays from :func:`attention_maps`.
        out: output image path (PNG unless the suffix says otherwise), written atomically.
        title: figure title (default: model, query point and window).
        dpi: resolution.

    Returns:
        ``out``.
    """
    if title is None:
        x, y = maps.map_xy(*maps.query)
        h, w = maps.rollout.shape
        title = (
            f"{maps.model}: attention of the patch at x {x:.1f}, y {y:.1f} "
            f"(pixel column {maps.point[1]}, row {maps.point[0]}); "
            f"{w} x {h} px window, {maps.patch_size} px patches"
        )
    return plot_attention_panels(
        out, rgb=maps.rgb, prediction=maps.prediction, classes=maps.classes,
        rollout=maps.rollout, heads=maps.heads, query=maps.query, patch_size=maps.patch_size,
        tokens=maps.grid[0] * maps.grid[1], title=title, head_fusion=maps.head_fusion, dpi=dpi,
    )  # fmt: skip


def write_attention_geotiff(
    maps: AttentionMaps, path: str | os.PathLike, overwrite: bool = False
) -> Path:
    """Write the maps as a float32 GeoTIFF on the window's grid.

    Bands: ``rollout``, then ``head_1`` .. ``head_K`` (last block), named in the band
    descriptions; tags record the query pixel, window and model.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    import rasterio

    stack = np.concatenate([maps.rollout[None], maps.heads]).astype(np.float32)
    names = ["rollout"] + [f"head_{i + 1}" for i in range(len(maps.heads))]
    count, height, width = stack.shape
    path = Path(path)
    with atomic_output(path, overwrite) as tmp, rasterio.open(
        tmp, "w", driver="GTiff", height=height, width=width, count=count,
        dtype="float32", crs=maps.crs, transform=maps.transform, compress="deflate",
    ) as dst:  # fmt: skip
        dst.write(stack)
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)
        dst.update_tags(
            model=maps.model,
            query_row=maps.point[0],
            query_col=maps.point[1],
            window=",".join(map(str, maps.window)),
            patch_size=maps.patch_size,
            head_fusion=maps.head_fusion,
        )
    return path
