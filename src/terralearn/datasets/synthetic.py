"""Synthetic Sentinel-2-like benchmark scenes with exact land-cover labels.

The scene is SYNTHETIC: a procedurally generated landscape (see
:mod:`terralearn.datasets.landscape`) rendered as 6-band surface reflectance (see
:mod:`terralearn.datasets.spectra`). It exists for accuracy and speed benchmarks, where the
ground truth must be exact and the scene size free; it is not real imagery.

Every random quantity is a function of the seed and of global pixel / world coordinates, so the
pixels do not depend on ``block_size``; the scene is written block by block into tiled,
deflate-compressed GeoTIFFs and never held in memory, whatever its size.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from terralearn._fs import atomic_output, check_output
from terralearn.datasets import landscape as ls
from terralearn.datasets import spectra
from terralearn.errors import ConfigError
from terralearn.pixels import NO_LABEL

MIN_SIZE, MAX_SIZE = 64, 100_000
CLASS_COLORS: dict[int, tuple[int, int, int, int]] = {
    ls.WATER: (30, 90, 200, 255),
    ls.FOREST: (20, 100, 40, 255),
    ls.CROP: (235, 210, 60, 255),
    ls.GRASS: (140, 210, 100, 255),
    ls.BARE: (150, 100, 60, 255),
    ls.BUILT: (200, 40, 40, 255),
    NO_LABEL: (0, 0, 0, 0),
}
_EDGE_TAN = 0.2  # slope of the nodata scene edges (about 11 degrees from north)


@dataclass(frozen=True)
class SceneInfo:
    """What :func:`make_scene` wrote."""

    image: Path
    labels: Path
    height: int
    width: int
    crs: str
    transform: tuple[float, ...]
    seed: int
    bands: tuple[str, ...] = spectra.BANDS
    class_names: dict[int, str] = field(default_factory=dict)
    class_counts: dict[int, int] = field(default_factory=dict)  # label id -> pixels, 255 included

    def class_shares(self) -> dict[str, float]:
        """Share of each class among the labelled pixels."""
        total = sum(n for k, n in self.class_counts.items() if k != NO_LABEL) or 1
        return {name: self.class_counts.get(k, 0) / total for k, name in self.class_names.items()}


def _validate(size: tuple[int, int], block_size: int, resolution: float) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ConfigError(
            f"size {size!r} must be two integers HEIGHT WIDTH, e.g. --size 2048 2048"
        ) from None
    if not (MIN_SIZE <= h <= MAX_SIZE and MIN_SIZE <= w <= MAX_SIZE):
        raise ConfigError(
            f"size {h} x {w} is out of range: --size takes HEIGHT WIDTH between "
            f"{MIN_SIZE} and {MAX_SIZE} pixels"
        )
    if block_size < 32:
        raise ConfigError(f"block_size {block_size} is too small; use at least 32 (e.g. 1024)")
    if not resolution > 0:
        raise ConfigError(f"resolution {resolution} must be a positive pixel size in CRS units")
    return h, w


def nodata_edge(rows: np.ndarray, cols: np.ndarray, height: int, width: int) -> np.ndarray:
    """Mask of the slanted scene-edge strips (a path edge: two parallel lines ~11 degrees off north)."""
    r = np.asarray(rows, np.float64)[:, None] - height / 2
    c = np.asarray(cols, np.float64)[None, :]
    shifted = c - r * _EDGE_TAN
    return (shifted < 0.06 * width) | (shifted > 0.94 * width)


def make_scene(
    out: str | os.PathLike,
    labels: str | os.PathLike,
    size: tuple[int, int] = (2048, 2048),
    seed: int = 0,
    clouds: bool = False,
    nodata_edges: bool = False,
    resolution: float = 10.0,
    crs: str = "EPSG:32633",
    origin: tuple[float, float] = (500000.0, 5000000.0),
    block_size: int = 1024,
    overwrite: bool = False,
    progress: bool = True,
) -> SceneInfo:
    """Write a synthetic Sentinel-2-like scene and its exact land-cover labels.

    The scene is generated, not observed: use it for accuracy benchmarks with exact ground truth.

    Args:
        out: image GeoTIFF: 6 bands (B2 B3 B4 B8 B11 B12) of surface reflectance x 10000,
            uint16, nodata 0.
        labels: label GeoTIFF on the same grid: uint8 class ids (0 water, 1 forest, 2 cropland,
            3 grassland, 4 bare soil, 5 built-up; 255 no label), with a colour table and a
            ``class_names`` tag (JSON). Under clouds the label stays the ground class.
        size: ``(height, width)`` in pixels, each in [64, 100000].
        seed: random seed; the same seed gives the same pixels whatever ``block_size`` is.
        clouds: add bright, partly transparent clouds and their shadows.
        nodata_edges: add slanted nodata strips along the scene edges (0 in the image,
            255 in the labels).
        resolution: pixel size in CRS units (features have fixed sizes in metres).
        crs: coordinate reference system of the grid.
        origin: ``(x, y)`` of the upper-left corner.
        block_size: rows and columns generated at once (memory only; not the pixels).
        overwrite: replace existing outputs.
        progress: show a progress bar.

    Returns:
        A :class:`SceneInfo` with the paths, grid and per-class pixel counts.

    Raises:
        ConfigError: bad size, block size or resolution.
        OutputExistsError: an output exists and ``overwrite`` is false.
    """
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    height, width = _validate(size, block_size, resolution)
    out, labels = Path(out), Path(labels)
    if out.resolve() == labels.resolve():
        raise ConfigError(f"image and labels are the same file {str(out)!r}; give two paths")
    check_output(out, overwrite, "output image")
    check_output(labels, overwrite, "--labels")
    try:
        crs_obj = CRS.from_user_input(crs)
    except Exception as exc:
        raise ConfigError(f"crs {crs!r} is not a valid CRS ({exc}); use e.g. EPSG:32633") from None
    transform = from_origin(origin[0], origin[1], resolution, resolution)
    towns = ls.make_towns(seed, height * resolution, width * resolution)
    common = {
        "driver": "GTiff",
        "height": height,
        "width": width,
        "crs": crs_obj,
        "transform": transform,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "zlevel": 3,  # noise does not compress: level 3 is as small as 6, and faster
        "BIGTIFF": "IF_SAFER",
    }
    img_profile = {
        **common,
        "count": len(spectra.BANDS),
        "dtype": "uint16",
        "nodata": 0,
        "predictor": 2,
        "interleave": "pixel",
    }
    lab_profile = {**common, "count": 1, "dtype": "uint8", "nodata": NO_LABEL}
    windows = [
        (r0, c0, min(block_size, height - r0), min(block_size, width - c0))
        for r0 in range(0, height, block_size)
        for c0 in range(0, width, block_size)
    ]
    counts = np.zeros(256, np.int64)
    with (
        atomic_output(out, overwrite) as tmp_img,
        atomic_output(labels, overwrite) as tmp_lab,
        rasterio.open(tmp_img, "w", **img_profile) as img,
        rasterio.open(tmp_lab, "w", **lab_profile) as lab,
        _progress(progress, len(windows), height, width) as advance,
    ):
        for r0, c0, h, w in windows:
            image, cls = _render(
                seed, towns, r0, c0, h, w, height, width, resolution, clouds, nodata_edges
            )
            img.write(image, window=Window(c0, r0, w, h))
            lab.write(cls, 1, window=Window(c0, r0, w, h))
            counts += np.bincount(cls.ravel(), minlength=256)
            advance()
        for i, name in enumerate(spectra.BANDS, start=1):
            img.set_band_description(i, name)
        img.update_tags(
            synthetic="true",
            generator="terralearn.datasets.synthetic.make_scene",
            seed=str(seed),
            clouds=str(clouds).lower(),
            scale_factor="0.0001",
            description="SYNTHETIC Sentinel-2-like surface reflectance x 10000 (not real imagery)",
        )
        lab.set_band_description(1, "land_cover")
        lab.update_tags(
            synthetic="true",
            seed=str(seed),
            class_names=json.dumps({str(i): n for i, n in enumerate(ls.CLASS_NAMES)}),
            no_label=str(NO_LABEL),
        )
        lab.write_colormap(1, {k: CLASS_COLORS.get(k, (0, 0, 0, 0)) for k in range(256)})
    return SceneInfo(
        image=out,
        labels=labels,
        height=height,
        width=width,
        crs=crs_obj.to_string(),
        transform=tuple(transform)[:6],
        seed=seed,
        class_names=dict(enumerate(ls.CLASS_NAMES)),
        class_counts={int(k): int(n) for k, n in enumerate(counts) if n},
    )


def _render(
    seed: int,
    towns: ls.Towns,
    r0: int,
    c0: int,
    h: int,
    w: int,
    height: int,
    width: int,
    resolution: float,
    clouds: bool,
    nodata_edges: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Image ``(6, h, w)`` uint16 and labels ``(h, w)`` uint8 of one window."""
    # one-pixel halo so the edge blur sees the neighbours of the window
    rows = np.arange(r0 - 1, r0 + h + 1)
    cols = np.arange(c0 - 1, c0 + w + 1)
    patch = ls.landscape(seed, towns, rows, cols, resolution)
    image = spectra.blur(spectra.reflectance(patch))
    rows, cols = rows[1:-1], cols[1:-1]
    if clouds:
        ys, xs = (rows + 0.5) * resolution, (cols + 0.5) * resolution
        spectra.add_clouds(image, seed, ys, xs)
    spectra.add_noise(image, spectra.sensor_noise(seed, rows, cols))
    out = spectra.to_uint16(image)
    cls = np.ascontiguousarray(patch.cls[1:-1, 1:-1])
    if nodata_edges:
        edge = nodata_edge(rows, cols, height, width)
        out[:, edge] = 0
        cls[edge] = NO_LABEL
    return out, cls


class _progress:
    """A rich progress bar over the blocks (or a no-op)."""

    def __init__(self, enabled: bool, total: int, height: int, width: int) -> None:
        self.enabled, self.total = enabled, total
        self.label = f"synthetic scene {height} x {width}"

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("blocks"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._bar.__enter__()
        task = self._bar.add_task(self.label, total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)
