"""``predict_raster`` (streamed to COG / Zarr / PNG files) and ``predict_array`` (in memory).

Pictures without a CRS (JPEG, PNG; TIFFs with ``pixel_grid=True``) are predicted on their pixel
grid; their class map goes to a PNG in the class colours or to a TIFF without a CRS.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from terralearn._fs import atomic_output, check_output
from terralearn._memory import retained_memory
from terralearn._progress import progress_bar
from terralearn.artifacts import RUN_FILE
from terralearn.errors import ConfigError, IncompatibleError
from terralearn.geo import gdal_env
from terralearn.io import open_image
from terralearn.io.readers import PIXEL_GRID_ATTR, is_pixel_grid
from terralearn.pixels import NO_LABEL
from terralearn.predict.dask_ import dask_client, dask_runner, parse_dask
from terralearn.predict.engine import class_map, entropy, iter_predictions
from terralearn.predict.model import Predictor, check_image, load_predictor
from terralearn.predict.vectorize import polygons, read_class_map, write_polygons
from terralearn.predict.windows import (
    Blend,
    TileLayout,
    check_tiling,
    default_overlap,
    default_tile_size,
)
from terralearn.predict.writers import (
    GEOTIFF_SUFFIXES,
    PNG_SUFFIX,
    WRITE_MODES,
    GeoTiffWriter,
    Grid,
    PngWriter,
    ZarrWriter,
    class_legend,
    output_paths,
    write_category_names,
)


@dataclass
class PredictionResult:
    """What :func:`predict_raster` wrote.

    Attributes:
        paths: output kind (``class``, ``probabilities``, ``uncertainty``, ``vectors``) -> path.
        height: raster rows.
        width: raster columns.
        tile_size: tile side used.
        overlap: overlap used.
        tiles: number of tiles in the layout.
        seconds: wall time.
        class_counts: class id -> number of pixels.
    """

    paths: dict[str, Path]
    height: int
    width: int
    tile_size: int
    overlap: int
    tiles: int
    seconds: float
    class_counts: dict[int, int] = field(default_factory=dict)


def _prepare(
    model_or_run: Any,
    image: Any,
    tile_size: int | None,
    overlap: int | None,
    blend: Blend,
    pixel_grid: bool = False,
) -> tuple[Predictor, Any, TileLayout]:
    if tile_size is not None and overlap is not None:
        check_tiling(tile_size, overlap)  # before loading anything
    predictor = load_predictor(model_or_run)
    name = os.fspath(image) if isinstance(image, str | os.PathLike) else "<in-memory>"
    # no dask for files: each band of rows is one windowed read through one dataset handle,
    # a third of the CPU of dask's threads and their per-thread handles (duplicate cached blocks)
    opened = open_image(image, chunks=None, pixel_grid=pixel_grid)
    _check_grid_kind(predictor, _run_value(model_or_run, "crs"), opened, name)
    da = check_image(predictor, opened, name)
    tile = tile_size if tile_size is not None else default_tile_size(predictor.chip_size)
    if overlap is None:
        overlap = default_overlap(predictor.receptive_field, tile, predictor.align)
    layout = TileLayout(int(da.sizes["y"]), int(da.sizes["x"]), tile, overlap, blend)
    return predictor, da, layout


def _check_grid_kind(predictor: Predictor, run_crs: Any, image: Any, image_name: str) -> None:
    """Refuse a picture without a CRS for a model trained on georeferenced imagery, and a
    georeferenced image for a model trained on pictures (run CRS ``""``)."""
    if predictor.crs and is_pixel_grid(image):
        raise IncompatibleError(
            f"image {image_name!r} has no CRS (pixel grid) but {predictor.source} was trained on "
            f"georeferenced imagery ({predictor.crs}); give a georeferenced image of that kind"
        )
    if run_crs == "" and not is_pixel_grid(image):
        raise IncompatibleError(
            f"image {image_name!r} is georeferenced but {predictor.source} was trained on "
            "pictures without a CRS; give a picture (JPEG/PNG, or a TIFF with --pixel-grid)"
        )


def _run_value(model_or_run: Any, key: str) -> Any:
    """``key`` of a run's ``run.json`` (or of the ``info`` of a ``(task, info)`` pair); None
    when absent or for bare modules."""
    if isinstance(model_or_run, tuple) and len(model_or_run) == 2:
        return getattr(model_or_run[1], key, None)
    if isinstance(model_or_run, str | os.PathLike):
        path = Path(model_or_run) / RUN_FILE
        with contextlib.suppress(OSError, ValueError, AttributeError):
            return json.loads(path.read_text()).get(key)
    return None


def predict_array(
    model_or_run: Any,
    image: Any,
    *,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int = 8,
    tta: bool = False,
    blend: Blend = "smooth",
    pixel_grid: bool = False,
):
    """Class probabilities of a (small) image, in memory.

    Args:
        model_or_run: a run directory, a ``(task, info)`` pair, or a ``torch.nn.Module``.
        image: an image path or a DataArray (see :func:`terralearn.io.open_image`).
        tile_size: tile side in pixels (default 512, or 4x the training chip size).
        overlap: pixels shared by neighbouring tiles (default: the receptive field rounded up
            to 32, at most a quarter of the tile).
        batch_size: tiles per forward pass.
        tta: average the 8 D4 rotations/flips.
        blend: ``"smooth"`` (cross-fade, no seams) or ``"constant"`` (each pixel from one tile).
        pixel_grid: read a raster file without a CRS (e.g. a TIFF) on its pixel grid.

    Returns:
        DataArray ``(class, y, x)`` float32 on the image grid (CRS and transform set; no CRS
        and ``attrs["pixel_grid"]`` for a pixel-grid image), class names as the ``class``
        coordinate, NaN where the input has no valid value.
    """
    import xarray as xr

    predictor, da, layout = _prepare(model_or_run, image, tile_size, overlap, blend, pixel_grid)
    out = np.empty((len(predictor.classes), layout.height, layout.width), dtype=np.float32)
    with gdal_env(), retained_memory():
        for y0, x0, probabilities, _ in iter_predictions(predictor, da, layout, batch_size, tta):
            h, w = probabilities.shape[1:]
            out[:, y0 : y0 + h, x0 : x0 + w] = probabilities
    names = [predictor.classes[i] for i in sorted(predictor.classes)]
    result = xr.DataArray(
        out, dims=("class", "y", "x"),
        coords={"class": names, "y": da["y"].values, "x": da["x"].values}, name="probabilities",
    )  # fmt: skip
    if is_pixel_grid(da):
        result.attrs[PIXEL_GRID_ATTR] = True
    else:
        result = result.rio.write_crs(da.rio.crs)
    return result.rio.write_transform(da.rio.transform())


def predict_raster(
    model_or_run: Any,
    image: Any,
    output: str | os.PathLike,
    *,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int = 8,
    tta: bool = False,
    probabilities: bool = False,
    uncertainty: bool = False,
    vectorize: bool = False,
    min_area: float = 0.0,
    blend: Blend = "smooth",
    dask: Any = None,
    overwrite: bool = False,
    progress: bool = True,
    pixel_grid: bool = False,
    write: str = "codes",
) -> PredictionResult:
    """Predict a raster of any size tile by tile and write a georeferenced class map.

    Memory does not grow with the raster: tiles are read, predicted and blended one block of
    tiles (a tile row, a few thousand columns wide) at a time and finished windows go straight
    to disk. Every output is written under a temporary
    name and renamed at the end, so an interrupted run leaves nothing at ``output``.

    Args:
        model_or_run: a run directory, a ``(task, info)`` pair, or a ``torch.nn.Module``.
        image: an image path or a DataArray; it needs the bands the model was trained on.
        output: ``*.tif`` (Cloud-Optimized GeoTIFF: class map with a colour table, class names
            in the tags and as category names in ``*.tif.aux.xml``; no CRS for a pixel-grid
            image), ``*.zarr`` (arrays ``class``/``probabilities``/``uncertainty``, CRS in
            ``spatial_ref``) or ``*.png`` (RGB in the class colours of the run, black where the
            input has no valid value; the class map alone, held in memory until written).
        tile_size: tile side in pixels (default 512, or 4x the training chip size).
        overlap: pixels shared by neighbouring tiles (default: receptive field rounded up to 32,
            at most a quarter of the tile).
        batch_size: tiles per forward pass.
        tta: test-time augmentation, the mean over the 8 D4 rotations/flips.
        probabilities: also write per-class probabilities (``NAME_probabilities.tif``).
        uncertainty: also write the entropy of the mean prediction (``NAME_uncertainty.tif``).
        vectorize: also write class polygons to ``NAME.gpkg``.
        min_area: smallest polygon kept, in square CRS units.
        blend: ``"smooth"`` or ``"constant"`` (see :mod:`terralearn.predict.windows`).
        dask: ``"local:N"``, a scheduler address, or a ``distributed.Client``: predict tiles in
            parallel on Dask workers (same output).
        overwrite: replace existing outputs.
        progress: show a progress bar.
        pixel_grid: read a raster file without a CRS (e.g. a TIFF) on its pixel grid; JPEG/PNG
            pictures are read so anyway.
        write: ``"codes"``: the class codes of the training labels (e.g. NLCD 11..95; uint8 with
            nodata 255, or uint16 with nodata 65535 for codes above 254); ``"indices"``: the
            model's class indices 0..K-1 (uint8, nodata 255). See
            :func:`terralearn.predict.writers.class_legend`.

    Returns:
        A :class:`PredictionResult` with the output paths.

    Raises:
        ConfigError: unsupported output extension, overlap >= tile size, bad options.
        NotARunError: the run has no run.json or no checkpoint.
        IncompatibleError: the image's bands or pixel size do not fit the model.
        OutputExistsError: an output exists and ``overwrite`` is False.
    """
    start = time.perf_counter()
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    if min_area < 0:
        raise ConfigError(f"--min-area must be >= 0, got {min_area}")
    if isinstance(dask, str):
        parse_dask(dask)  # a typo fails before the model loads
    if write not in WRITE_MODES:
        raise ConfigError(f"--write {write!r} is unknown; use one of {', '.join(WRITE_MODES)}")
    finals = output_paths(output, probabilities, uncertainty, vectorize)
    for path in finals.values():
        check_output(path, overwrite)
    predictor, da, layout = _prepare(model_or_run, image, tile_size, overlap, blend, pixel_grid)
    legend = class_legend(predictor.table, write)
    to_values = legend.lookup()
    grid = Grid(layout.height, layout.width, da.rio.crs, da.rio.transform())
    is_tiff = finals["class"].suffix.lower() in GEOTIFF_SUFFIXES
    is_png = finals["class"].suffix.lower() == PNG_SUFFIX
    counts = np.zeros(256, dtype=np.int64)
    with contextlib.ExitStack() as stack:
        stack.enter_context(gdal_env())
        stack.enter_context(retained_memory())  # half the forward time (see terralearn._memory)
        # entered first, renamed last: OUTPUT appears only when everything else is in place
        temps = {
            kind: stack.enter_context(
                atomic_output(
                    path, overwrite, directory=kind == "class" and not (is_tiff or is_png)
                )
            )
            for kind, path in finals.items()
        }
        if is_png:
            colors = {i: predictor.table.rgb(i) for i in predictor.classes}
            writer: Any = PngWriter(temps["class"], grid, colors)
        elif is_tiff:
            writer = GeoTiffWriter(temps, grid, predictor.classes, legend)
        else:
            writer = ZarrWriter(
                temps["class"], grid, predictor.classes, probabilities, uncertainty, legend
            )
        runner = None
        if dask is not None:
            runner = dask_runner(stack.enter_context(dask_client(dask)))
        try:
            total = layout.height * layout.width
            with progress_bar(total, "predict", enabled=progress, unit="px") as bar:
                done = 0
                for y0, x0, probs, valid in iter_predictions(
                    predictor, da, layout, batch_size, tta, runner
                ):
                    classes = class_map(probs, valid, NO_LABEL)
                    counts += np.bincount(classes.ravel(), minlength=256)
                    writer.write(
                        y0, x0, to_values[classes],
                        probs if probabilities else None,
                        entropy(probs) if uncertainty else None,
                    )  # fmt: skip
                    done += classes.size
                    rate = done / max(time.perf_counter() - start, 1e-9)
                    bar.update(description=f"predict {rate / 1e6:.2f} Mpx/s")
                    bar.advance(classes.size)
            writer.close()
        except BaseException:
            writer.abort()
            raise
        if vectorize:
            array, transform, crs = read_class_map(temps["class"])
            write_polygons(
                polygons(array, transform, crs, legend.by_value, min_area, legend.nodata),
                temps["vectors"],
            )
    if is_tiff:  # category names for GDAL / QGIS, beside the renamed map
        write_category_names(finals["class"], legend)
    return PredictionResult(
        paths=finals,
        height=layout.height,
        width=layout.width,
        tile_size=layout.tile_size,
        overlap=layout.overlap,
        tiles=layout.num_tiles,
        seconds=time.perf_counter() - start,
        class_counts={i: int(counts[i]) for i in predictor.classes if counts[i]},
    )
