"""Worker-side prediction on a Dask cluster: each task reads, predicts and writes its own part.

The raster is cut into **parts**: rectangles of ``"crop"`` tiles (:mod:`terralearn.predict.windows`),
whose cores are whole chunks of the output Zarr store. A part is :data:`PART_ROWS` tile rows by
one block of tile columns (:func:`terralearn.predict.engine.tiles_per_block`), so its batches
are the batches of a single-process run and the output is the same bit for bit. A task gets a part and the
:class:`Job` (sent to every worker once); it opens the image itself, from a path the workers
can see or an ``http(s)://`` / ``s3://`` URL (GDAL's virtual file systems), reads the tiles of its
part plus their margins, predicts them, and writes the cores straight into the Zarr arrays.
No two parts share a chunk, so no locks are needed, and a task that runs twice (a worker died,
the scheduler ran it again) writes the same bytes again.

The job reaches the workers once, as the result of a task (which the scheduler can run again
if the worker holding it dies; scattered data would be lost with it).
The client (:func:`predict_on_workers`) only plans, submits a bounded number of parts at a time
and adds up the class counts the tasks return: its memory and the bytes it sends do not grow
with the raster's pixels (only a few hundred bytes per part).
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import zarr
from rasterio.errors import RasterioError

from terralearn._memory import retained_memory
from terralearn.errors import ConfigError, TerralearnError
from terralearn.geo import gdal_env
from terralearn.io import open_image
from terralearn.pixels import NO_LABEL
from terralearn.predict.engine import (
    class_map,
    count_classes,
    entropy,
    iter_predictions,
    tiles_per_block,
    to_values,
)
from terralearn.predict.model import Predictor, check_image, on_worker_device
from terralearn.predict.windows import TileLayout

PART_ROWS = 2  # tile rows per part: about 1,400 x 4,200 px with the default tiles
REMOTE_PREFIXES = ("http://", "https://", "s3://", "gs://", "az://", "/vsi")


class WorkerReadError(TerralearnError):
    """A worker could not read the image (raised on the worker, shown by the client)."""


class WorkerLostError(TerralearnError):
    """A worker died while predicting and the scheduler gave up on the part."""


@dataclass(frozen=True)
class Job:
    """What every task of one prediction shares (sent to each worker once).

    Attributes:
        predictor: the model.
        source: the image: an absolute path or a URL every worker can open.
        pixel_grid: read a file without a CRS on its pixel grid.
        layout: the ``"crop"`` tiles of the whole raster.
        target: the output Zarr store (a path every worker can write).
        values: class index -> value written in the ``class`` array (codes or indices).
        probabilities: also write the ``probabilities`` array.
        uncertainty: also write the ``uncertainty`` array.
        batch_size: tiles per forward pass.
        tta: test-time augmentation.
        device: the user's ``--device``, resolved by each worker on its own machine.
    """

    predictor: Predictor
    source: str
    pixel_grid: bool
    layout: TileLayout
    target: str
    values: np.ndarray
    probabilities: bool
    uncertainty: bool
    batch_size: int
    tta: bool
    device: str = "auto"


@dataclass(frozen=True)
class Part:
    """Tile rows ``rows`` by tile columns ``cols`` of the layout."""

    rows: range
    cols: range

    def pixels(self, layout: TileLayout) -> int:
        """Output pixels of the part: the area of its cores."""
        rows, cols = layout.row_cores, layout.col_cores
        height = rows[self.rows.stop - 1][1] - rows[self.rows.start][0]
        width = cols[self.cols.stop - 1][1] - cols[self.cols.start][0]
        return height * width


def worker_source(image: object) -> str:
    """The image as a string every worker can open: a URL as given, a local path made absolute.

    Raises:
        ConfigError: the image is not a path or URL (e.g. an in-memory DataArray).
    """
    if isinstance(image, str) and image.startswith(REMOTE_PREFIXES):
        return image
    if isinstance(image, str | os.PathLike):
        return os.path.abspath(os.fspath(image))
    raise ConfigError(
        "--dask needs the image as a path or URL the workers can open, not an in-memory "
        f"{type(image).__name__}; write it to a file (or a Zarr store) first"
    )


def plan_parts(layout: TileLayout, batch_size: int, part_rows: int = PART_ROWS) -> Iterator[Part]:
    """Parts of ``part_rows`` tile rows by one block of tile columns, row by row (generated,
    not listed: the client's memory does not grow with the raster)."""
    n_rows, n_cols = len(layout.row_starts), len(layout.col_starts)
    per_block = tiles_per_block(layout, batch_size)
    for r in range(0, n_rows, part_rows):
        for c in range(0, n_cols, per_block):
            yield Part(range(r, min(r + part_rows, n_rows)), range(c, min(c + per_block, n_cols)))


def predict_part(job: Job, part: Part) -> np.ndarray | str:
    """Predict one part on this worker and write its cores into the Zarr store.

    Returns:
        Pixels per class index, ``(256,)`` int64 (255: nodata); or, when the image cannot be
        read here, the one-line message naming the source and GDAL's error (a plain string
        crosses to the client whatever the worker's exception holds).
    """
    try:
        return _predict_part(job, part)
    except (RasterioError, OSError) as exc:
        return (
            f"a Dask worker ({_worker_name()}) cannot read {job.source!r}: {_gdal_message(exc)}; "
            "give a path or URL that every worker can open"
        )


def _predict_part(job: Job, part: Part) -> np.ndarray:
    group = zarr.open_group(job.target, mode="r+")
    counts = np.zeros(256, dtype=np.int64)
    predictor = on_worker_device(job.predictor, job.device)
    with gdal_env(), retained_memory():
        image = open_image(job.source, chunks=None, pixel_grid=job.pixel_grid)
        image = check_image(predictor, image, job.source)
        labels_only = not (job.probabilities or job.uncertainty)
        windows = iter_predictions(
            predictor, image, job.layout, job.batch_size, job.tta,
            rows=part.rows, cols=part.cols, labels=labels_only,
        )  # fmt: skip
        for y0, x0, out, valid in windows:
            if not os.path.isdir(job.target):  # the client gave up and removed the output
                break
            classes = out if labels_only else class_map(out, valid, NO_LABEL)
            counts += count_classes(classes)
            region = (slice(y0, y0 + classes.shape[0]), slice(x0, x0 + classes.shape[1]))
            group["class"][region] = to_values(job.values, classes)
            if job.probabilities:
                group["probabilities"][(slice(None), *region)] = out
            if job.uncertainty:
                group["uncertainty"][region] = entropy(out)
    return counts


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


def _gdal_message(exc: BaseException) -> str:
    """The outermost specific line of an exception chain and its root cause: rasterio's
    "Read failed. See previous exception" wraps GDAL's messages (e.g. "IReadBlock failed ..."
    caused by "... got 0 bytes, expected 46760")."""
    lines = []
    seen: BaseException | None = exc
    while seen is not None and len(lines) < 20:
        text = str(seen).strip()
        if text and "see previous exception" not in text.lower():
            lines.append(text.splitlines()[0])
        seen = seen.__cause__ or seen.__context__
    if not lines:
        return type(exc).__name__
    return lines[0] if len(lines) == 1 else f"{lines[0]} ({lines[-1]})"


def predict_on_workers(
    client,
    job: Job,
    on_part: Callable[[int], None] | None = None,
    in_flight: int | None = None,
) -> np.ndarray:
    """Run every part of ``job`` on the cluster of ``client``; return the summed class counts.

    At most ``in_flight`` parts (default: 2 per worker thread, at least 4) are submitted at once,
    so the client's memory does not grow with the raster.

    Args:
        client: a ``distributed.Client``.
        job: the prediction.
        on_part: called with each finished part's pixel count (progress).
        in_flight: parts submitted at once.

    Raises:
        WorkerReadError: a worker could not read the image.
        WorkerLostError: workers died running a part more often than the scheduler allows.
    """
    # distributed takes a second to import: only --dask runs need it
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    threads = sum(client.nthreads().values()) or 1
    depth = in_flight or max(4, 2 * threads)
    with warnings.catch_warnings():
        # the job (model weights) is sent once, as a task the scheduler can run again if the
        # worker holding it dies (scattered data would be lost with it)
        warnings.filterwarnings(
            "ignore", message="(Sending large graph|Large object)", category=UserWarning
        )
        shared = client.submit(_the_job, job, pure=False)
    parts = plan_parts(job.layout, job.batch_size)
    counts = np.zeros(256, dtype=np.int64)
    pending = as_completed()
    sizes: dict[object, int] = {}
    live: dict[object, object] = {}

    def submit(part: Part) -> None:
        future = client.submit(predict_part, shared, part, pure=False)
        sizes[future.key], live[future.key] = part.pixels(job.layout), future
        pending.add(future)

    try:
        for part in itertools.islice(parts, depth):
            submit(part)
        for future in pending:
            try:
                result = future.result()
            except KilledWorker as exc:
                raise WorkerLostError(
                    f"Dask workers died while predicting (the scheduler gave up: {exc}); "
                    "nothing was written at the output; check the workers' memory and logs, "
                    "then rerun"
                ) from None
            if isinstance(result, str):
                raise WorkerReadError(result)
            counts += result
            live.pop(future.key)
            if on_part is not None:
                on_part(sizes.pop(future.key))
            for part in itertools.islice(parts, 1):
                submit(part)
    finally:
        pending.clear()
        client.cancel([*live.values(), shared])
    return counts


def _the_job(job: Job) -> Job:
    return job
