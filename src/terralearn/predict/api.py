"""``predict_raster`` (streamed to COG / Zarr / PNG files) and ``predict_array`` (in memory).

Pictures without a CRS (JPEG, PNG; TIFFs with ``pixel_grid=True``) are predicted on their pixel
grid; their class map goes to a PNG in the class colours or to a TIFF without a CRS.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
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
from terralearn.models.device import resolve_device
from terralearn.pixels import NO_LABEL
from terralearn.predict.dask_ import DEFAULT_TIMEOUT, dask_client, parse_dask
from terralearn.predict.engine import (
    class_map,
    count_classes,
    entropy,
    iter_predictions,
    to_values,
)
from terralearn.predict.model import Predictor, check_image, load_predictor
from terralearn.predict.vectorize import polygons, read_class_map, write_polygons
from terralearn.predict.windows import (
    BLENDS,
    Blend,
    TileLayout,
    check_tiling,
    default_batch_size,
    default_blend,
    default_overlap,
    default_tile_size,
)
from terralearn.predict.workers import Job, predict_on_workers, worker_source
from terralearn.predict.writers import (
    GEOTIFF_SUFFIXES,
    PNG_SUFFIX,
    WRITE_MODES,
    GeoTiffWriter,
    Grid,
    PngWriter,
    ZarrWriter,
    class_legend,
    copy_zarr_windows,
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
        blend: how overlapping tiles were combined.
        batch_size: tiles per forward pass.
    """

    paths: dict[str, Path]
    height: int
    width: int
    tile_size: int
    overlap: int
    tiles: int
    seconds: float
    class_counts: dict[int, int] = field(default_factory=dict)
    blend: str = "crop"
    batch_size: int = 1


def _prepare(
    model_or_run: Any,
    image: Any,
    tile_size: int | None,
    overlap: int | None,
    blend: Blend | None,
    pixel_grid: bool = False,
    device: str | None = "auto",
) -> tuple[Predictor, Any, TileLayout]:
    if tile_size is not None and overlap is not None:
        check_tiling(tile_size, overlap)  # before loading anything
    if blend is not None and blend not in BLENDS:
        raise ConfigError(f"--blend must be one of {', '.join(BLENDS)}, got {blend!r}")
    predictor = load_predictor(model_or_run, device=device)
    name = os.fspath(image) if isinstance(image, str | os.PathLike) else "<in-memory>"
    # no dask for files: each band of rows is one windowed read through one dataset handle,
    # a third of the CPU of dask's threads and their per-thread handles (duplicate cached blocks)
    opened = open_image(image, chunks=None, pixel_grid=pixel_grid)
    _check_grid_kind(predictor, _run_value(model_or_run, "crs"), opened, name)
    da = check_image(predictor, opened, name)
    blend = blend or default_blend(predictor.global_context)
    if tile_size is None:
        memory = predictor.activation_bytes() if blend == "crop" else None
        tile_size = default_tile_size(predictor.chip_size, blend, memory)
    if overlap is None:
        overlap = default_overlap(predictor.receptive_field, tile_size, predictor.align, blend)
    layout = TileLayout(int(da.sizes["y"]), int(da.sizes["x"]), tile_size, overlap, blend)
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
    batch_size: int | None = None,
    tta: bool = False,
    blend: Blend | None = None,
    pixel_grid: bool = False,
    device: str = "auto",
):
    """Class probabilities of a (small) image, in memory.

    Args:
        model_or_run: a run directory, a ``(task, info)`` pair, or a ``torch.nn.Module``.
        image: an image path or a DataArray (see :func:`terralearn.io.open_image`).
        tile_size: tile side in pixels (default: see :func:`predict_raster`).
        overlap: pixels shared by neighbouring tiles (default: see :func:`predict_raster`).
        batch_size: tiles per forward pass (default: about a megapixel of tiles).
        tta: average the 8 D4 rotations/flips.
        blend: ``"crop"``, ``"smooth"`` or ``"constant"`` (default: see :func:`predict_raster`).
        pixel_grid: read a raster file without a CRS (e.g. a TIFF) on its pixel grid.
        device: where the network runs: ``"auto"`` (a CUDA GPU, else Apple MPS, else the
            CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (see ``docs/gpu.md``).

    Returns:
        DataArray ``(class, y, x)`` float32 on the image grid (CRS and transform set; no CRS
        and ``attrs["pixel_grid"]`` for a pixel-grid image), class names as the ``class``
        coordinate, NaN where the input has no valid value.
    """
    import xarray as xr

    predictor, da, layout = _prepare(
        model_or_run, image, tile_size, overlap, blend, pixel_grid, device
    )
    batch = batch_size or default_batch_size(layout.tile_h, layout.tile_w)
    out = np.empty((len(predictor.classes), layout.height, layout.width), dtype=np.float32)
    with gdal_env(), retained_memory():
        for y0, x0, probabilities, _ in iter_predictions(predictor, da, layout, batch, tta):
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
    batch_size: int | None = None,
    tta: bool = False,
    probabilities: bool = False,
    uncertainty: bool = False,
    vectorize: bool = False,
    min_area: float = 0.0,
    blend: Blend | None = None,
    dask: Any = None,
    dask_timeout: float = DEFAULT_TIMEOUT,
    overwrite: bool = False,
    progress: bool = True,
    pixel_grid: bool = False,
    write: str = "codes",
    device: str = "auto",
) -> PredictionResult:
    """Predict a raster of any size tile by tile and write a georeferenced class map.

    Memory does not grow with the raster: tiles are read and predicted one block of tiles (a
    tile row, a few thousand columns wide) at a time and finished windows go straight to disk.
    With ``dask``, each Dask worker reads, predicts and writes its own parts of the raster
    (:mod:`terralearn.predict.workers`). Every output is written under a temporary name and
    renamed at the end, so an interrupted run leaves nothing at ``output``.

    Args:
        model_or_run: a run directory, a ``(task, info)`` pair, or a ``torch.nn.Module``.
        image: an image path or URL, or a DataArray; it needs the bands the model was trained on.
        output: ``*.tif`` (Cloud-Optimized GeoTIFF: class map with a colour table, class names
            in the tags and as category names in ``*.tif.aux.xml``; no CRS for a pixel-grid
            image), ``*.zarr`` (arrays ``class``/``probabilities``/``uncertainty``, CRS in
            ``spatial_ref``) or ``*.png`` (RGB in the class colours of the run, black where the
            input has no valid value; the class map alone, held in memory until written).
        tile_size: tile side in pixels (default with ``"crop"``: as large as 1.25 GB of the
            network's activations allow, :func:`terralearn.predict.windows.crop_tile_size`:
            ``unet_small`` 1792, ``unet`` 1280; with ``"smooth"``: 512, or 4x the training
            chip size within [256, 1024]).
        overlap: pixels shared by neighbouring tiles (default 64 with ``"crop"``: a 32 px
            margin; otherwise the receptive field rounded up to 32, at most a quarter of the tile).
        batch_size: tiles per forward pass (default: about a megapixel of tiles).
        tta: test-time augmentation, the mean over the 8 D4 rotations/flips.
        probabilities: also write per-class probabilities (``NAME_probabilities.tif``).
        uncertainty: also write the entropy of the mean prediction (``NAME_uncertainty.tif``).
        vectorize: also write class polygons to ``NAME.gpkg``.
        min_area: smallest polygon kept, in square CRS units.
        blend: ``"crop"`` (each pixel from the one tile whose core holds it; the default, and
            the only one with ``dask``), ``"smooth"`` (cross-fade; the default for models with
            global attention, ViTs) or ``"constant"`` (see :mod:`terralearn.predict.windows`).
        dask: ``"local:N"``, a scheduler address, or a ``distributed.Client``: the workers read
            ``image`` (a path they can see, or a URL) and write the output (a path they can
            write) themselves. A ``.tif``/``.png`` output is built from a temporary Zarr store
            the workers write, beside ``output``.
        dask_timeout: seconds to wait for the scheduler at ``dask``.
        overwrite: replace existing outputs.
        progress: show a progress bar.
        pixel_grid: read a raster file without a CRS (e.g. a TIFF) on its pixel grid; JPEG/PNG
            pictures are read so anyway.
        write: ``"codes"``: the class codes of the training labels (e.g. NLCD 11..95; uint8 with
            nodata 255, or uint16 with nodata 65535 for codes above 254); ``"indices"``: the
            model's class indices 0..K-1 (uint8, nodata 255). See
            :func:`terralearn.predict.writers.class_legend`.
        device: where the network runs: ``"auto"`` (a CUDA GPU, else Apple MPS, else the
            CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; with ``dask``, each worker
            resolves it on its own machine (see ``docs/gpu.md``).

    Returns:
        A :class:`PredictionResult` with the output paths.

    Raises:
        ConfigError: unsupported output extension, overlap >= tile size, bad options.
        NotARunError: the run has no run.json or no checkpoint.
        IncompatibleError: the image's bands or pixel size do not fit the model.
        OutputExistsError: an output exists and ``overwrite`` is False.
    """
    start = time.perf_counter()
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    if min_area < 0:
        raise ConfigError(f"--min-area must be >= 0, got {min_area}")
    source = None
    if dask is not None:
        if isinstance(dask, str):
            parse_dask(dask)  # a typo fails before the model loads
        if blend not in (None, "crop"):
            raise ConfigError(
                f"--blend {blend} cannot be used with --dask: each worker writes whole chunks "
                "of its own part; use --blend crop (the default)"
            )
        blend, source = "crop", worker_source(image)
    if write not in WRITE_MODES:
        raise ConfigError(f"--write {write!r} is unknown; use one of {', '.join(WRITE_MODES)}")
    finals = output_paths(output, probabilities, uncertainty, vectorize)
    for path in finals.values():
        check_output(path, overwrite)
    if dask is None:
        resolve_device(device)  # a missing GPU fails before the model loads
    with contextlib.ExitStack() as stack:
        # blocks of a window decoded on every core (the network waits for them); GDAL reads
        # the option when the image is opened
        stack.enter_context(gdal_env(GDAL_NUM_THREADS="ALL_CPUS"))
        # with Dask the client's model stays where it is; each worker moves it to its device
        here = device if dask is None else None
        predictor, da, layout = _prepare(
            model_or_run, image, tile_size, overlap, blend, pixel_grid, here
        )
        batch = batch_size or default_batch_size(layout.tile_h, layout.tile_w)
        legend = class_legend(predictor.table, write)
        grid = Grid(layout.height, layout.width, da.rio.crs, da.rio.transform())
        suffix = finals["class"].suffix.lower()
        is_tiff, is_png = suffix in GEOTIFF_SUFFIXES, suffix == PNG_SUFFIX
        chunks = layout.chunks if layout.blend == "crop" else None
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
                temps["class"], grid, predictor.classes, probabilities, uncertainty, legend,
                chunks,
            )  # fmt: skip
        try:
            total = grid.height * grid.width
            with progress_bar(total, "predict", enabled=progress, unit="px") as bar:
                done = [0]

                def advance(pixels: int) -> None:
                    done[0] += pixels
                    rate = done[0] / max(time.perf_counter() - start, 1e-9)
                    bar.update(description=f"predict {rate / 1e6:.2f} Mpx/s")
                    bar.advance(pixels)

                if dask is None:
                    counts = _predict_here(
                        predictor, da, layout, batch, tta, writer, legend.lookup(),
                        probabilities, uncertainty, advance,
                    )  # fmt: skip
                else:
                    client = stack.enter_context(dask_client(dask, dask_timeout))
                    if isinstance(writer, ZarrWriter):
                        target = temps["class"]
                    else:  # the workers write Zarr; the COG or PNG is built from it here
                        scratch = tempfile.mkdtemp(prefix=f".{finals['class'].name}.parts-",
                                                   dir=finals["class"].parent)  # fmt: skip
                        stack.callback(shutil.rmtree, scratch, True)
                        target = Path(scratch) / "map.zarr"
                        ZarrWriter(target, grid, predictor.classes, probabilities, uncertainty,
                                   legend, chunks)  # fmt: skip
                    job = Job(
                        predictor, source, pixel_grid, layout, os.fspath(target), legend.lookup(),
                        probabilities, uncertainty, batch, tta, str(device),
                    )  # fmt: skip
                    counts = predict_on_workers(client, job, advance)
                    if not isinstance(writer, ZarrWriter):
                        copy_zarr_windows(target, writer, probabilities, uncertainty)
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
        blend=layout.blend,
        batch_size=batch,
    )


def _predict_here(
    predictor: Predictor, image: Any, layout: TileLayout, batch_size: int, tta: bool,
    writer: Any, lookup: np.ndarray, probabilities: bool, uncertainty: bool, advance: Any,
) -> np.ndarray:  # fmt: skip
    """Predict in this process, writing windows as they complete; return pixels per class."""
    counts = np.zeros(256, dtype=np.int64)
    # the class map alone needs no probabilities (crop tiles take it from the logits)
    labels_only = not (probabilities or uncertainty)
    windows = iter_predictions(predictor, image, layout, batch_size, tta, labels=labels_only)
    for y0, x0, out, valid in windows:
        classes = out if labels_only else class_map(out, valid, NO_LABEL)
        counts += count_classes(classes)
        writer.write(
            y0, x0, to_values(lookup, classes),
            out if probabilities else None,
            entropy(out) if uncertainty else None,
        )  # fmt: skip
        advance(classes.size)
    return counts
