"""Segment-classification runs: train on an image and its labels, predict class rasters.

A run directory has the one run format of :mod:`terralearn.artifacts`::

    run.json                kind "graph-segments": bands, classes, how to segment (pixels per
                            segment, compactness), the classifier's options and feature scaling,
                            the training image and labels
    config.yaml             the training options
    checkpoints/last.ckpt   network weights (``state_dict``, read with ``weights_only=True``)
    metrics.json            pixel-level scores on the held-out spatial blocks of segments

Runs of the older format (``config.json`` + ``model.pt``) still load.

Training: the image is segmented (:func:`terralearn.graph.objects.superpixels`), labels are
put on the image grid by :func:`terralearn.io.open_labels` (reprojected if need be), each
segment takes the majority class of its labelled pixels, and whole spatial blocks of segments
(:func:`terralearn.sampling.splits.block_split` on their bounding boxes) are held out to score
the model. Prediction segments a new image at the same segment size, classifies every segment
and writes a georeferenced class raster (the image's grid, colour table, nodata 255).

The image is held in memory (float32, plus SLIC's working copy): about 3 GB for a 6-band
8192 x 8192 image.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from terralearn._fs import atomic_output, check_output
from terralearn.artifacts import RUN_FILE, load_run, write_run
from terralearn.classes import ClassTable
from terralearn.errors import ConfigError, NotARunError
from terralearn.graph.objects import (
    COMPACTNESS,
    PIXELS_PER_SEGMENT,
    SegmentClassifier,
    SegmentGraph,
    pixel_report,
    superpixels,
)
from terralearn.graph.segments import segment_labels, to_raster
from terralearn.io import open_image, open_labels, valid_mask
from terralearn.pixels import NO_LABEL
from terralearn.predict.model import check_band_names, check_pixel_size
from terralearn.predict.writers import GEOTIFF_SUFFIXES, GeoTiffWriter, Grid, class_legend
from terralearn.sampling.splits import block_split

KIND = "graph-segments"


@dataclass
class SegmentRun:
    """A loaded run: its folder, configuration and trained classifier."""

    path: Path
    config: dict[str, Any]
    classifier: SegmentClassifier

    @property
    def bands(self) -> list[str]:
        return list(self.config["bands"])

    @property
    def classes(self) -> dict[int, str]:
        return {int(k): v for k, v in self.config["classes"].items()}

    @property
    def table(self) -> ClassTable:
        """Code, name and colour of each class (code = index for runs without a class table)."""
        if self.config.get("class_table"):
            return ClassTable.from_json(self.config["class_table"])
        return ClassTable.from_names(self.classes)

    @property
    def pixels_per_segment(self) -> float:
        return float(self.config["segments"]["pixels_per_segment"])

    @property
    def compactness(self) -> float:
        return float(self.config["segments"]["compactness"])


@dataclass
class SegmentPrediction:
    """What :func:`predict_segments` wrote."""

    path: Path
    num_segments: int
    seconds: float
    class_counts: dict[int, int] = field(default_factory=dict)


def read_image(image: Any, bands: list[str] | None = None):
    """The image as a DataArray, its pixels ``(bands, H, W)`` float32 and its valid mask."""
    da = open_image(image, bands=bands)
    pixels = np.asarray(da.values, dtype=np.float32)
    return da, pixels, np.asarray(valid_mask(da).values)


def _source(image: Any) -> str:
    return str(image) if isinstance(image, str | os.PathLike) else "<in-memory>"


def train_segments(
    image: Any,
    labels: Any,
    out: str | os.PathLike,
    *,
    bands: list[str] | None = None,
    class_column: str | None = None,
    n_segments: int | None = None,
    pixels_per_segment: float = PIXELS_PER_SEGMENT,
    compactness: float = COMPACTNESS,
    model: str = "sage",
    epochs: int = 300,
    lr: float = 0.01,
    model_kwargs: dict[str, Any] | None = None,
    val: float = 0.2,
    block_size: float | None = None,
    buffer: float = 0.0,
    seed: int = 0,
    overwrite: bool = False,
    progress=None,
) -> tuple[Path, dict[str, Any]]:
    """Train a GNN segment classifier on ``image`` and ``labels``; write a run to ``out``.

    Args:
        image: image path or DataArray (see :func:`terralearn.io.open_image`).
        labels: label raster or polygons (see :func:`terralearn.io.open_labels`); segments
            without a labelled pixel stay in the graph as unlabelled nodes.
        bands: band names to use (default: all).
        class_column: attribute of polygon labels holding the class.
        n_segments: approximate number of segments (default: valid pixels divided by
            ``pixels_per_segment``).
        pixels_per_segment: average segment size in pixels when ``n_segments`` is not given.
        compactness: SLIC's colour/space trade-off (higher: squarer segments).
        val: share of segments (whole spatial blocks) held out to score the model; 0 for none.
        block_size: side of the split blocks in pixels (default: a fifth of the longer side).
        buffer: training segments closer than this (pixels) to a validation one are dropped.
        progress: optional ``progress(epoch, loss)``.

    Returns:
        The run folder and the validation scores (empty when ``val`` is 0).

    Raises:
        ConfigError: no labelled segment in the training or validation blocks, bad options.
    """
    check_output(out, overwrite, option="--out")
    da, pixels, valid = read_image(image, bands)
    aligned = open_labels(labels, like=da, class_column=class_column)
    truth = np.asarray(aligned.data.values)
    truth = np.where(valid, truth, NO_LABEL)
    if not (truth != NO_LABEL).any():
        raise ConfigError(
            f"labels {_source(labels)}: no labelled pixel on a valid pixel of the image; "
            "check that they cover the image"
        )
    count = int(valid.sum())
    requested = n_segments if n_segments is not None else max(1, round(count / pixels_per_segment))
    sg = superpixels(pixels, valid, requested, compactness=compactness)
    del pixels
    y = segment_labels(sg.segments.labels, truth, ignore=NO_LABEL)
    num_classes = aligned.num_classes
    # every id a prediction can take gets a name (and a colour in the output raster)
    class_names = {i: aligned.classes.get(i, f"class_{i}") for i in range(num_classes)}
    clf = SegmentClassifier(model, epochs, lr, model_kwargs=model_kwargs, seed=seed)
    scores: dict[str, Any] = {}
    train = np.ones(sg.num_nodes, dtype=bool)
    if val > 0:
        height, width = truth.shape
        size = block_size or max(height, width) / 5
        split = block_split(sg.boxes(), size, buffer=buffer, val=val, test=0.0, seed=seed)
        train, held = split == "train", split == "val"
        if not (held & (y >= 0)).any():
            raise ConfigError(
                f"no labelled segment in the validation blocks with --val {val} and block size "
                f"{size:g} px; use a smaller --block-size, or --val 0"
            )
    if not (train & (y >= 0)).any():
        raise ConfigError(
            f"labels {_source(labels)}: no labelled segment in the training blocks; label more of "
            "the image or use --val 0"
        )
    clf.fit(sg, y, train, num_classes, progress)
    if val > 0:
        seg = sg.segments.labels
        in_val = np.where(seg >= 0, held[np.maximum(seg, 0)], False)
        painted = to_raster(seg, clf.predict(sg).astype(np.uint8), fill=NO_LABEL)
        report = pixel_report(
            painted, truth, num_classes, where=in_val, class_names=list(class_names.values())
        )
        scores = {
            "overall_accuracy": report["overall_accuracy"],
            "mean_iou": report["mean_iou"],
            "kappa": report["kappa"],
            "n_train_segments": int((train & (y >= 0)).sum()),
            "n_val_segments": int((held & (y >= 0)).sum()),
            "n_val_pixels": report["num_pixels"],
            "per_class": report["per_class"],
        }
    config = {
        "kind": KIND,
        "bands": [str(b) for b in da["band"].values],
        "classes": {str(k): v for k, v in class_names.items()},
        "class_table": aligned.table.to_json(),
        "segments": {
            # per *requested* segment, so the same image segments identically at prediction
            "pixels_per_segment": count / requested,
            "compactness": compactness,
            "count": sg.num_nodes,
            "edges": sg.graph.num_edges,
        },
        "classifier": clf.get_state()[0],
        "split": {"val": val, "block_size": block_size, "buffer": buffer, "seed": seed},
        "image": _source(image),
        "labels": _source(labels),
        "crs": da.rio.crs.to_wkt() if da.rio.crs is not None else None,
        "resolution": [abs(float(r)) for r in da.rio.resolution()],
    }
    options = {
        "bands": bands, "class_column": class_column, "n_segments": n_segments,
        "pixels_per_segment": pixels_per_segment, "compactness": compactness, "model": model,
        "epochs": epochs, "lr": lr, "model_kwargs": model_kwargs or {}, "val": val,
        "block_size": block_size, "buffer": buffer, "seed": seed,
    }  # fmt: skip
    save_run(out, config, clf, scores, overwrite, options)
    return Path(out), scores


def save_run(
    out: str | os.PathLike,
    config: dict[str, Any],
    clf: SegmentClassifier,
    scores: dict[str, Any],
    overwrite: bool = False,
    options: dict[str, Any] | None = None,
) -> Path:
    """Write a run directory atomically (``config``: ``run.json``; ``options``: the training
    options, ``config.yaml``)."""
    return write_run(out, config, options or {}, clf.get_state()[1], scores, overwrite)


def load_segment_run(path: str | os.PathLike) -> SegmentRun:
    """Load a run written by :func:`train_segments` (also one of the older format).

    Raises:
        NotARunError: the folder is not a segment-classification run.
    """
    path = Path(path)
    try:
        run = load_run(path)
    except NotARunError:
        raise NotARunError(
            f"{str(path)!r} is not a segment-classification run (no {RUN_FILE}); "
            "give the --out folder of `terralearn graph segments`"
        ) from None
    if run.kind != KIND:
        raise NotARunError(
            f"{str(path)!r} is a {run.kind} run, not a segment-classification "
            "run; give the --out folder of `terralearn graph segments`"
        )
    classifier = SegmentClassifier.from_state(run.meta["classifier"], run.weights())
    return SegmentRun(path, run.meta, classifier)


def _check_pixel_size(run: SegmentRun, da: Any, image: Any) -> None:
    resolution = run.config.get("resolution")
    if resolution:
        check_pixel_size(da, _source(image), max(resolution), run.config.get("crs"),
                         f"the run {str(run.path)!r}")  # fmt: skip


def _check_bands(run: SegmentRun, names: list[str], image: Any) -> None:
    check_band_names(names, run.bands, _source(image), f"the run {str(run.path)!r}")


def segment_like(run: SegmentRun, pixels: np.ndarray, valid: np.ndarray) -> SegmentGraph:
    """Segment an image the way the run's training image was (same average segment size)."""
    n = max(1, round(int(valid.sum()) / run.pixels_per_segment))
    return superpixels(pixels, valid, n_segments=n, compactness=run.compactness)


def predict_segments(
    run: SegmentRun | str | os.PathLike,
    image: Any,
    output: str | os.PathLike,
    overwrite: bool = False,
) -> SegmentPrediction:
    """Segment ``image``, classify every segment, write a class GeoTIFF to ``output``.

    The output is a Cloud-Optimized GeoTIFF on the image's grid (CRS, transform, size):
    uint8 class ids, nodata 255 on invalid pixels, a colour table and the class names in
    the tags (the writer of ``terralearn predict``).

    Raises:
        NotARunError: ``run`` is not a segment-classification run.
        IncompatibleError: the image lacks bands the run was trained on.
        ConfigError: ``output`` is not a ``.tif``/``.tiff``.
        OutputExistsError: ``output`` exists and ``overwrite`` is False.
    """
    start = time.perf_counter()
    output = Path(output)
    if output.suffix.lower() not in GEOTIFF_SUFFIXES:
        raise ConfigError(
            f"output {str(output)!r}: segment predictions are GeoTIFFs; end it in .tif"
        )
    check_output(output, overwrite)
    if not isinstance(run, SegmentRun):
        run = load_segment_run(run)
    names = [str(b) for b in open_image(image)["band"].values]
    _check_bands(run, names, image)
    da, pixels, valid = read_image(image, run.bands)
    _check_pixel_size(run, da, image)  # segments are sized in pixels
    sg = segment_like(run, pixels, valid)
    del pixels
    classes = to_raster(sg.segments.labels, run.classifier.predict(sg).astype(np.uint8), NO_LABEL)
    grid = Grid(classes.shape[0], classes.shape[1], da.rio.crs, da.rio.transform())
    legend = class_legend(run.table, "codes")  # the label codes, as raster predictions
    with atomic_output(output, overwrite) as tmp:
        writer = GeoTiffWriter({"class": tmp}, grid, run.classes, legend)
        try:
            writer.write(0, 0, legend.lookup()[classes])
            writer.close()
        except BaseException:
            writer.abort()
            raise
    counts = np.bincount(classes.ravel(), minlength=256)
    return SegmentPrediction(
        path=output,
        num_segments=sg.num_nodes,
        seconds=time.perf_counter() - start,
        class_counts={int(i): int(counts[i]) for i in np.flatnonzero(counts) if i != NO_LABEL},
    )
