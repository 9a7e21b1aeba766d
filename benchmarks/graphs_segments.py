"""Object-based classification on the synthetic scene: segment GNN vs pixel U-Net (and a forest).

One spatial split for every method, the one ``terralearn prepare`` draws for the U-Net::

    terralearn synth scene.tif --labels labels.tif --size S S --seed 0
    terralearn prepare scene.tif --labels labels.tif --out store --chip-size 64 \\
        --block-size 256 --buffer 64 --seed 0                 (val 0.15, test 0.15)
    terralearn train store --model unet_small --epochs E --patience 0 --seed 0 --out run_unet

Every pixel takes the split of the chip that covers it (grid chips, stride = chip size; chips
dropped by the 64 px buffer leave their pixels out of every split). Then:

- ``unet_small``: the run above (best validation checkpoint), ``predict_raster`` over the whole
  scene. Fit time = ``train_seconds`` of the run (training + validation, no start-up).
- ``gnn_<model>``: SLIC superpixels of the scene (``superpixels``, 100 px per segment), each
  segment labelled by the majority of its *training* pixels only (so no label from a val/test
  pixel is used; segments are ~10 px wide, the buffer 64 px), a
  :class:`~terralearn.graph.objects.SegmentClassifier` trained on those segments, every other
  segment still in the graph. Fit time = segmentation + training. Predict time = the whole
  ``terralearn graph segments-predict`` path (segment the scene again, classify, write a COG).
- ``rf_segments``: scikit-learn's random forest (200 trees, both cores) on the same segment
  features and training segments; predict = segment + classify + paint + write, like the GNN.

Scores: pixel-level overall accuracy and mIoU on the labelled test pixels (the same pixels for
every method), from :func:`terralearn.tasks.metrics.segmentation_report`. The load average is
printed: the machine is shared, so times are noisy; compare rows of one run.

    python benchmarks/graphs_segments.py                 # 2048 px, U-Net 3 epochs: ~10 min
    python benchmarks/graphs_segments.py --size 1024 --unet-epochs 2     # ~4 min
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

WORK = Path(__file__).resolve().parent / "_work" / "graphs_segments"
DEFAULTS = {
    "seg_size": 2048,
    "seg_seed": 0,
    "unet_epochs": 3,
    "gnn_models": ["sage", "gcn"],
    "gnn_epochs": 200,
    "segment_size": 100.0,
    "work": WORK,
}
CHIP, BLOCK, BUFFER = 64, 256, 64


def sh(work: Path, *args: object) -> float:
    """Run a terralearn command in ``work``; return its wall time."""
    command = ["terralearn", *map(str, args)]
    print("$", shlex.join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=work)
    return time.perf_counter() - start


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this part (names prefixed so they fit in benchmarks/graphs.py)."""
    parser.add_argument("--seg-size", type=int, default=DEFAULTS["seg_size"],
                        help="synthetic scene side in pixels")  # fmt: skip
    parser.add_argument("--seg-seed", type=int, default=DEFAULTS["seg_seed"])
    parser.add_argument("--unet-epochs", type=int, default=DEFAULTS["unet_epochs"])
    parser.add_argument("--gnn-models", nargs="+", default=DEFAULTS["gnn_models"])
    parser.add_argument("--gnn-epochs", type=int, default=DEFAULTS["gnn_epochs"])
    parser.add_argument("--segment-size", type=float, default=DEFAULTS["segment_size"],
                        help="average pixels per SLIC segment")  # fmt: skip
    parser.add_argument("--work", type=Path, default=DEFAULTS["work"])


def split_map(store: Path, shape: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` split name of every pixel ('' outside the stored chips)."""
    import pandas as pd

    index = pd.read_parquet(store / "index.parquet")
    out = np.full(shape, "", dtype="<U5")
    for row in index.itertuples():
        out[row.row_off : row.row_off + row.height, row.col_off : row.col_off + row.width] = (
            row.split
        )
    return out


def scores(name: str, predicted: np.ndarray, truth: np.ndarray, test: np.ndarray,
           names: list[str], fit_s: float, predict_s: float, **extra) -> dict:  # fmt: skip
    from terralearn.graph.objects import pixel_report

    report = pixel_report(predicted, truth, len(names), where=test, class_names=names)
    row = {
        "method": name,
        "test_miou": report["mean_iou"],
        "test_oa": report["overall_accuracy"],
        "test_pixels": report["num_pixels"],
        "fit_s": round(fit_s, 1),
        "predict_s": round(predict_s, 1),
        "per_class_iou": {k: v["iou"] for k, v in report["per_class"].items()},
        "load_average": round(os.getloadavg()[0], 2),
        **extra,
    }
    print(json.dumps(row), flush=True)
    return row


def run(args) -> list[dict]:
    """Run the comparison; ``args`` needs only the options that differ from DEFAULTS."""
    import rasterio

    from terralearn.graph.objects import (
        COMPACTNESS,
        SegmentClassifier,
        pixel_report,
        superpixels,
    )
    from terralearn.graph.segment_runs import (
        KIND,
        SegmentRun,
        predict_segments,
        read_image,
    )
    from terralearn.graph.segments import segment_labels, to_raster
    from terralearn.predict import predict_raster

    opt = SimpleNamespace(**{k: getattr(args, k, v) for k, v in DEFAULTS.items()})
    work = Path(opt.work)
    work.mkdir(parents=True, exist_ok=True)
    size, seed = opt.seg_size, opt.seg_seed
    scene, labels = f"scene_{size}_{seed}.tif", f"labels_{size}_{seed}.tif"
    store = f"store_{size}_{seed}"
    if not (work / scene).exists():
        sh(work, "synth", scene, "--labels", labels, "--size", size, size, "--seed", seed)
    if not (work / store).exists():
        sh(work, "prepare", scene, "--labels", labels, "--out", store, "--chip-size", CHIP,
           "--block-size", BLOCK, "--buffer", BUFFER, "--seed", seed, "--quiet")  # fmt: skip
    with rasterio.open(work / labels) as src:
        truth = src.read(1)
        names = [v for _, v in sorted(json.loads(src.tags()["class_names"]).items(),
                                      key=lambda kv: int(kv[0]))]  # fmt: skip
    split = split_map(work / store, truth.shape)
    test = split == "test"
    print(f"scene {size} px: pixels train {np.mean(split == 'train'):.1%}, val "
          f"{np.mean(split == 'val'):.1%}, test {test.mean():.1%}, "
          f"load average {os.getloadavg()}", flush=True)  # fmt: skip
    rows = []

    # ---- segment GNN and random forest on the same segments
    _, pixels, valid = read_image(work / scene)
    start = time.perf_counter()
    sg = superpixels(pixels, valid, pixels_per_segment=opt.segment_size)
    segment_s = time.perf_counter() - start
    del pixels
    train_truth = np.where(split == "train", truth, 255)
    y = segment_labels(sg.segments.labels, train_truth)
    train = y >= 0
    print(f"{sg.num_nodes:,} segments ({sg.graph.num_edges // 2:,} edges) in {segment_s:.1f} s; "
          f"{train.sum():,} training segments", flush=True)  # fmt: skip
    # the ceiling of any segment classifier: every segment given the majority of its true labels
    best = segment_labels(sg.segments.labels, truth)
    ceiling = pixel_report(to_raster(sg.segments.labels, np.where(best < 0, 255, best)
                                     .astype(np.uint8)), truth, len(names), where=test)  # fmt: skip
    print(f"segment ceiling (majority true class per segment): test mIoU "
          f"{ceiling['mean_iou']:.3f}, OA {ceiling['overall_accuracy']:.3f}", flush=True)  # fmt: skip
    classes = dict(enumerate(names))
    with rasterio.open(work / scene) as src:
        bands = list(src.descriptions)
    # an in-memory run, so prediction goes through `terralearn graph segments-predict`'s code
    config = {
        "kind": KIND, "bands": bands, "classes": {str(k): v for k, v in classes.items()},
        "segments": {"pixels_per_segment": opt.segment_size, "compactness": COMPACTNESS},
    }  # fmt: skip
    for model in opt.gnn_models:
        clf = SegmentClassifier(model, epochs=opt.gnn_epochs, seed=seed)
        start = time.perf_counter()
        clf.fit(sg, y, train, num_classes=len(names))
        fit_s = segment_s + time.perf_counter() - start
        out = work / f"pred_gnn_{model}.tif"
        result = predict_segments(SegmentRun(work, config, clf), work / scene, out, overwrite=True)
        with rasterio.open(out) as src:
            predicted = src.read(1)
        rows.append(scores(f"gnn_{model}", predicted, truth, test, names, fit_s, result.seconds,
                           segments=sg.num_nodes, epochs=opt.gnn_epochs))  # fmt: skip

    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=200, n_jobs=2, random_state=seed)
    start = time.perf_counter()
    forest.fit(sg.segments.features[train], y[train])
    fit_s = segment_s + time.perf_counter() - start
    start = time.perf_counter()
    _, pixels, valid = read_image(work / scene)
    new = superpixels(pixels, valid, pixels_per_segment=opt.segment_size)
    del pixels
    painted = to_raster(new.segments.labels, forest.predict(new.segments.features).astype(np.uint8))
    _write(painted, work / scene, work / "pred_rf.tif", classes)
    predict_s = time.perf_counter() - start
    rows.append(scores("rf_segments", painted, truth, test, names, fit_s, predict_s,
                       segments=sg.num_nodes))  # fmt: skip

    # ---- pixel U-Net
    run_dir = f"run_unet_{size}_{seed}_e{opt.unet_epochs}"
    if not (work / run_dir).exists():
        sh(work, "train", store, "--model", "unet_small", "--out", run_dir, "--epochs",
           opt.unet_epochs, "--patience", 0, "--seed", seed, "--quiet")  # fmt: skip
    metrics = json.loads((work / run_dir / "metrics.json").read_text())
    result = predict_raster(work / run_dir, work / scene, work / "pred_unet.tif", overwrite=True,
                            progress=False)  # fmt: skip
    with rasterio.open(work / "pred_unet.tif") as src:
        predicted = src.read(1)
    rows.append(scores("unet_small", predicted, truth, test, names, metrics["train_seconds"],
                       result.seconds, epochs=metrics["epochs"]))  # fmt: skip
    return rows


def _write(classes: np.ndarray, like: Path, output: Path, names: dict[int, str]) -> None:
    """Write a class raster on the grid of ``like`` with the writer of ``terralearn predict``."""
    import rasterio

    from terralearn._fs import atomic_output
    from terralearn.predict.writers import GeoTiffWriter, Grid

    with rasterio.open(like) as src:
        grid = Grid(src.height, src.width, src.crs, src.transform)
    with atomic_output(output, overwrite=True) as tmp:
        writer = GeoTiffWriter({"class": tmp}, grid, names)
        writer.write(0, 0, classes)
        writer.close()


def format_table(rows: list[dict]) -> str:
    lines = [
        "| method | test mIoU | test OA | fit (s) | predict (s) | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['test_miou']:.3f} | {r['test_oa']:.3f} | {r['fit_s']:.1f} | "
            f"{r['predict_s']:.1f} | {r['load_average']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = run(args)
    print(f"\nscene {args.seg_size} px (seed {args.seg_seed}), python "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{time.perf_counter() - start:.0f} s in all")  # fmt: skip
    print(format_table(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
