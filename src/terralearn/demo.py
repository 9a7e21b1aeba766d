"""``terralearn demo``: the whole path on shipped code and data, offline, in a few minutes.

synthetic scene -> chip store (spatial split) -> U-Net training -> test evaluation ->
prediction over the whole scene (COG + uncertainty) -> error-adjusted area from a stratified
sample of the map, checked against the true area -> a self-contained HTML report.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from terralearn.accuracy.assess import area_unit, assess_map, write_report
from terralearn.accuracy.estimate import AreaEstimate
from terralearn.accuracy.sampling import count_classes, sample_map
from terralearn.artifacts import RunDir
from terralearn.datasets.synthetic import make_scene
from terralearn.errors import OutputExistsError, TerralearnError
from terralearn.predict import predict_raster
from terralearn.runs.evaluate import evaluate
from terralearn.runs.train import TrainConfig, train
from terralearn.store import PrepareConfig, prepare
from terralearn.viz.area import plot_area_estimates
from terralearn.viz.colors import rgb_composite
from terralearn.viz.html import HtmlReport
from terralearn.viz.maps import plot_class_map, plot_scalar_map

log = logging.getLogger(__name__)

MARKER = "demo.json"
AREA_POINTS = 600  # the sample of the area section: terralearn sample's defaults
AREA_MIN_PER_CLASS = 50


@dataclass(frozen=True)
class DemoPlan:
    """Sizes and budgets of one demo flavour."""

    size: int
    chip_size: int
    model: str
    epochs: int
    max_minutes: float | None  # a safety stop; the epoch count, not the clock, sets the result
    batch_size: int
    lr: float
    block_chips: int = 4  # split block side, in chips


QUICK = DemoPlan(
    size=1024, chip_size=64, model="unet_small", epochs=30, max_minutes=1.6, batch_size=16, lr=3e-3
)
FULL = DemoPlan(
    size=2048, chip_size=128, model="unet", epochs=60, max_minutes=10.0, batch_size=16, lr=2e-3
)


def _prepare_folder(out: Path) -> None:
    """Reuse a folder made by an earlier demo; refuse to clobber anything else."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise OutputExistsError(
            f"--out {str(out)!r} exists and was not made by `terralearn demo`; choose another folder"
        )
    if (out / MARKER).is_file():
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def run_demo(
    out: str | Path = "terralearn-demo",
    full: bool = False,
    seed: int = 0,
    progress: bool = True,
    plan: DemoPlan | None = None,
) -> dict:
    """Run the end-to-end demo into ``out``; returns the paths and scores it produced.

    ``plan`` overrides the quick / full sizes (tests use a tiny one).
    """
    plan = plan or (FULL if full else QUICK)
    out = Path(out)
    _prepare_folder(out)
    timings: dict[str, float] = {}

    def step(name: str):
        timings[name] = time.perf_counter()
        log.info("demo: %s", name)

    step("synthesize")
    scene = make_scene(
        out / "scene.tif",
        out / "labels.tif",
        size=(plan.size, plan.size),
        seed=seed,
        progress=progress,
    )
    step("prepare")
    store = prepare(
        PrepareConfig(
            images=[str(scene.image)],
            labels=[str(scene.labels)],
            out=str(out / "store"),
            chip_size=plan.chip_size,
            block_size=plan.block_chips * plan.chip_size,
            seed=seed,
        ),
        progress=progress,
    )
    step("train")
    run = train(
        TrainConfig(
            store=str(store),
            out=str(out / "run"),
            model=plan.model,
            epochs=plan.epochs,
            max_time=plan.max_minutes,
            batch_size=plan.batch_size,
            lr=plan.lr,
            schedule="onecycle",
            patience=None,
            seed=seed,
            progress=progress,
        )
    )
    step("evaluate")
    report = evaluate(run, store, split="test", progress=progress)
    step("predict")
    prediction = out / "prediction.tif"
    predict_raster(run, scene.image, prediction, uncertainty=True, progress=progress)
    step("area")
    try:
        area = estimate_demo_area(out, prediction, scene.labels, seed=seed)
    except TerralearnError as exc:  # e.g. a class mapped on a single pixel by a tiny model
        log.warning("demo: area by class skipped: %s", exc)
        area = str(exc)
    step("report")
    html = write_demo_report(out, scene, store, run, prediction, report, timings, area=area)
    timings["end"] = time.perf_counter()
    result = {
        "report": str(html),
        "prediction": str(prediction),
        "run": str(run),
        "store": str(store),
        "scene": str(scene.image),
        "labels": str(scene.labels),
        "test_mean_iou": report["mean_iou"],
        "test_overall_accuracy": report["overall_accuracy"],
        "area_truth_in_ci95": None if isinstance(area, str) else area.truth_in_ci95(),
        "seconds": _durations(timings),
    }
    (out / MARKER).write_text(json.dumps(result, indent=2))
    return result


def _durations(timings: dict[str, float]) -> dict[str, float]:
    names = list(timings)
    return {a: round(timings[b] - timings[a], 1) for a, b in zip(names, names[1:], strict=False)}


@dataclass(frozen=True)
class DemoArea:
    """The area section: a stratified estimate beside the true areas, per class.

    Attributes:
        classes: code -> name, rows of the arrays (the assessed classes, then any class that
            is in the exact labels only).
        unit: area unit (``ha`` for the demo's metric grid).
        points: sample size.
        estimate: the stratified estimate, one row per class of ``classes`` (a class in the
            labels only has area 0 ± 0 and undefined accuracies).
        truth: (k,) true area per class, in ``unit``.
        folder: where points.gpkg, area.json, area.csv, error_matrix.csv and area.png are.
    """

    classes: dict[int, str]
    unit: str
    points: int
    estimate: AreaEstimate
    truth: np.ndarray
    folder: Path

    def truth_in_ci95(self) -> dict[str, bool]:
        """Class name -> whether the 95 % CI of the error-adjusted area contains the truth."""
        e = self.estimate
        inside = np.abs(e.area - self.truth) <= e.area_ci95
        return dict(zip(self.classes.values(), inside.tolist(), strict=True))


def _with_unsampled_classes(estimate: AreaEstimate, extra: int) -> AreaEstimate:
    """``estimate`` with ``extra`` more classes that were neither mapped nor sampled: area 0 ± 0,
    accuracies undefined (NaN)."""

    def pad(values, fill: float) -> np.ndarray:
        return np.concatenate([np.asarray(values, dtype=float), np.full(extra, fill)])

    def pad_square(values) -> np.ndarray:
        return np.pad(np.asarray(values, dtype=float), ((0, extra), (0, extra)))

    e = estimate
    return replace(
        e,
        proportions=pad_square(e.proportions),
        counts=pad_square(e.counts),
        mapped_area=pad(e.mapped_area, 0.0),
        area=pad(e.area, 0.0),
        area_ci95=pad(e.area_ci95, 0.0),
        users=pad(e.users, np.nan),
        users_ci95=pad(e.users_ci95, np.nan),
        producers=pad(e.producers, np.nan),
        producers_ci95=pad(e.producers_ci95, np.nan),
    )


def estimate_demo_area(out: Path, prediction: Path, labels: Path, seed: int = 0) -> DemoArea:
    """Sample the predicted map, label the points from the exact labels, estimate the areas.

    This is ``terralearn sample`` (with ``--reference-from`` standing in for a person) and
    ``terralearn assess``; the outputs go to ``out / "area"``. The true area of a class is its
    pixel count in the exact labels, where both the map and the labels are valid.
    """
    import rasterio

    drawn = out / "area-points.gpkg"  # beside the folder write_report makes, moved in after
    sample_map(
        prediction,
        drawn,
        n=AREA_POINTS,
        min_per_class=AREA_MIN_PER_CLASS,
        seed=seed,
        reference_from=labels,
    )
    assessment = assess_map(prediction, drawn)
    folder = write_report(assessment, out / "area")
    os.replace(drawn, folder / "points.gpkg")
    strata = count_classes(prediction)
    unit, pixel_area = area_unit(strata)
    with rasterio.open(prediction) as pred, rasterio.open(labels) as lab:
        valid = (pred.read_masks(1) > 0) & (lab.read_masks(1) > 0)
        true_codes = lab.read(1)[valid].astype(np.int64)
    true_pixels = np.bincount(true_codes)
    classes = dict(assessment.classes)
    for code in np.flatnonzero(true_pixels).tolist():  # true classes neither mapped nor sampled
        classes.setdefault(code, strata.classes.get(code, f"class_{code}"))
    extra = len(classes) - len(assessment.classes)
    truth = np.array([true_pixels[c] if c < true_pixels.size else 0 for c in classes], dtype=float)
    area = DemoArea(
        classes=classes,
        unit=unit,
        points=assessment.n_points,
        estimate=_with_unsampled_classes(assessment.estimate, extra),
        truth=truth * pixel_area,
        folder=folder,
    )
    plot_area_estimates(
        classes,
        area.estimate.mapped_area,
        area.estimate.area,
        area.estimate.area_ci95,
        unit,
        folder / "area.png",
        title="mapped vs error-adjusted area (95 % CI) vs true area",
        truth=area.truth,
    )
    (folder / "truth.json").write_text(
        json.dumps(
            {
                "unit": unit,
                "true_area": {
                    n: round(v, 6)
                    for n, v in zip(classes.values(), area.truth.tolist(), strict=True)
                },
                "truth_in_ci95": area.truth_in_ci95(),
                "source": f"pixel counts of {labels.name} where the map and labels are valid",
            },
            indent=2,
        )
        + "\n"
    )
    return area


def write_demo_report(
    out: Path,
    scene,
    store: Path,
    run: Path,
    prediction: Path,
    report: dict,
    timings,
    area: DemoArea | str | None = None,
) -> Path:
    """The HTML report: maps, curves, metrics, the confusion matrix and the area by class.

    ``area`` is the area section's estimate, or the reason it was skipped.
    """
    import rasterio

    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    run_dir = RunDir(run)
    info = run_dir.info()
    with rasterio.open(scene.image) as src:
        image = src.read(out_shape=_overview_shape(src.height, src.width, src.count))
        bands = list(src.descriptions)
    with rasterio.open(scene.labels) as src:
        labels = src.read(1, out_shape=_overview_shape(src.height, src.width))
    with rasterio.open(prediction) as src:
        predicted = src.read(1, out_shape=_overview_shape(src.height, src.width))
    uncertainty = None
    uncertainty_path = prediction.with_name(f"{prediction.stem}_uncertainty.tif")
    if uncertainty_path.is_file():
        with rasterio.open(uncertainty_path) as src:
            uncertainty = src.read(
                1, out_shape=_overview_shape(src.height, src.width), masked=True
            ).filled(np.nan)
    rgb = rgb_composite(image, bands, low=info.display_low or None, high=info.display_high or None)
    maps = [
        plot_class_map(labels, info.classes, figures / "labels.png", title="exact labels", rgb=rgb),
        plot_class_map(
            predicted, info.classes, figures / "prediction.png", title="prediction", rgb=rgb
        ),
    ]
    if uncertainty is not None:
        maps.append(
            plot_scalar_map(
                np.asarray(uncertainty, dtype=float),
                figures / "uncertainty.png",
                title="uncertainty (entropy of the mean prediction)",
                label="entropy (nats)",
            )
        )
    page = HtmlReport(
        "terralearn demo",
        "Synthetic Sentinel-2-like scene with exact labels: prepare -> train -> evaluate -> predict",
    )
    page.kpis(
        {
            "test mean IoU": _score(report["mean_iou"]),
            "overall accuracy": _score(report["overall_accuracy"]),
            "Cohen's kappa": _score(report["kappa"]),
            "scene": f"{scene.height} x {scene.width} px",
            "model": info.model,
            "total time": f"{sum(_durations({**timings, 'end': time.perf_counter()}).values()):.0f} s",
        }
    )
    page.heading("Maps")
    page.figure(maps[0], "Input as an RGB composite (B4 B3 B2) beside the exact labels.")
    page.figure(maps[1], "Prediction over the whole scene (tiled, blended), from prediction.tif.")
    errors = np.where(labels == info.ignore_index, np.nan, (predicted != labels).astype(float))
    page.figure(
        plot_scalar_map(
            errors,
            figures / "errors.png",
            title="where the prediction is wrong",
            cmap="Reds",
            label="1 = wrong class",
            vmin=0,
            vmax=1,
        ),
        "Pixels whose predicted class differs from the exact label (grey: no label).",
    )
    if len(maps) > 2:
        page.figure(maps[2], "Per-pixel uncertainty: entropy of the predicted class probabilities.")
    page.heading("Test split (held-out spatial blocks)")
    rows = [
        (name, *(_score(s[k]) for k in ("iou", "f1", "precision", "recall")), f"{s['support']:,}")
        for name, s in report["per_class"].items()
    ]
    page.table(["class", "IoU", "F1", "precision", "recall", "pixels"], rows)
    confusion = run_dir.eval_dir / "test_confusion.png"
    if confusion.is_file():
        page.figure(confusion, "Confusion matrix on the test split (rows: true class).")
    if area is not None:
        _area_section(page, area)
    page.heading("Training")
    for name, caption in (
        ("curves.png", "Loss and validation scores per epoch."),
        ("samples.png", "Validation chips: RGB | label | prediction."),
    ):
        if (run_dir.figures / name).is_file():
            page.figure(run_dir.figures / name, caption)
    page.heading("Files")
    page.table(
        ["what", "path"],
        [
            ("prediction (COG, class ids with colour table)", prediction.name),
            ("uncertainty (COG, entropy)", uncertainty_path.name),
            ("chip store", store.name),
            ("run directory", run.name),
            ("scene / labels", f"{scene.image.name}, {scene.labels.name}"),
            *(
                []
                if not isinstance(area, DemoArea)
                else [("area sample and estimate (points.gpkg, area.json, ...)", "area")]
            ),
        ],
    )
    page.table(
        ["step", "seconds"], list(_durations({**timings, "end": time.perf_counter()}).items())
    )
    return page.write(out / "report.html")


def _area_section(page, area: DemoArea | str) -> None:
    page.heading("Area by class")
    if isinstance(area, str):
        page.paragraph(f"Skipped: {area}")
        return
    page.paragraph(
        f"Error-adjusted area with the stratified estimator of Olofsson et al. (2014): a sample "
        f"of {area.points} points drawn from the predicted map (at least {AREA_MIN_PER_CLASS} "
        "per class), each labelled from the exact labels, which in real use a person does "
        "(terralearn sample, then terralearn assess). The true area is the exact labels' pixel "
        "count."
    )
    unit, e = area.unit, area.estimate
    rows = [
        (
            name,
            f"{e.mapped_area[i]:,.1f}",
            _plus_minus(e.area[i], e.area_ci95[i], ",.1f"),
            f"{area.truth[i]:,.1f}",
            "yes" if inside else "NO",
            _plus_minus(e.users[i], e.users_ci95[i], ".3f"),
            _plus_minus(e.producers[i], e.producers_ci95[i], ".3f"),
        )
        for i, (name, inside) in enumerate(area.truth_in_ci95().items())
    ]
    page.table(
        [
            "class",
            f"mapped ({unit})",
            f"error-adjusted ({unit}) ± 95 % CI",
            f"true ({unit})",
            "CI contains truth",
            "user's accuracy ± CI",
            "producer's accuracy ± CI",
        ],
        rows,
    )
    page.paragraph(f"Overall accuracy {_plus_minus(e.overall, e.overall_ci95, '.3f')} (95 % CI).")
    page.figure(
        area.folder / "area.png",
        "Mapped area (grey) and error-adjusted area with its 95 % CI (class colour); "
        "the diamond marks the true area.",
    )


def _plus_minus(value: float, ci95: float, spec: str) -> str:
    return "-" if not np.isfinite(value) else f"{value:{spec}} ± {ci95:{spec}}"


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _overview_shape(height: int, width: int, count: int | None = None, max_size: int = 1024):
    factor = max(1, int(np.ceil(max(height, width) / max_size)))
    shape = (height // factor, width // factor)
    return shape if count is None else (count, *shape)
