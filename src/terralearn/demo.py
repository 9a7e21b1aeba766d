"""``terralearn demo``: the whole path on shipped code and data, offline, in a few minutes.

synthetic scene -> chip store (spatial split) -> U-Net training -> test evaluation ->
prediction over the whole scene (COG + uncertainty) -> a self-contained HTML report.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from terralearn.errors import OutputExistsError

log = logging.getLogger(__name__)

MARKER = "demo.json"


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
    from terralearn.datasets.synthetic import make_scene
    from terralearn.predict import predict_raster
    from terralearn.runs.evaluate import evaluate
    from terralearn.runs.train import TrainConfig, train
    from terralearn.store import PrepareConfig, prepare

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
    step("report")
    html = write_demo_report(out, scene, store, run, prediction, report, timings)
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
        "seconds": _durations(timings),
    }
    (out / MARKER).write_text(json.dumps(result, indent=2))
    return result


def _durations(timings: dict[str, float]) -> dict[str, float]:
    names = list(timings)
    return {a: round(timings[b] - timings[a], 1) for a, b in zip(names, names[1:], strict=False)}


def write_demo_report(
    out: Path, scene, store: Path, run: Path, prediction: Path, report: dict, timings
) -> Path:
    """The HTML report: maps, curves, metrics and the confusion matrix, in one file."""
    import rasterio

    from terralearn.runs.layout import RunDir
    from terralearn.viz.colors import rgb_composite
    from terralearn.viz.html import HtmlReport
    from terralearn.viz.maps import plot_class_map, plot_scalar_map

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
        ],
    )
    page.table(
        ["step", "seconds"], list(_durations({**timings, "end": time.perf_counter()}).items())
    )
    return page.write(out / "report.html")


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _overview_shape(height: int, width: int, count: int | None = None, max_size: int = 1024):
    factor = max(1, int(np.ceil(max(height, width) / max_size)))
    shape = (height // factor, width // factor)
    return shape if count is None else (count, *shape)
