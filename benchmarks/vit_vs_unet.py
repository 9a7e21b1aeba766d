"""U-Net against Vision Transformers on the synthetic benchmark, with the same budget for each.

Every model runs the exact `terralearn` commands a user would (printed as they run):

    terralearn synth scene.tif --labels labels.tif --size 1024 1024 --seed 0
    terralearn prepare scene.tif --labels labels.tif --out store --chip-size 64 --block-size 256 --buffer 64
    terralearn train store --model M --out run_M --epochs 1000 --max-time 3 --batch-size 16 --lr 1e-3
    terralearn evaluate run_M store --split test

then counts the parameters and times CPU inference with ``predict_raster`` over the whole
scene. A model spec ``name@key=value,key=value`` trains with those model options (through a
``--config`` YAML with ``model_kwargs``), e.g. ``vit_tiny@patch_size=4``.

Reported per model: test mIoU (held-out spatial blocks), the best validation mIoU and the
training minutes until the epoch that reached it ("time to score"), epochs done in the budget,
parameters and inference pixels/s. The machine's load average is printed too: on a shared
machine times are noisy, so compare models run back to back.

    python benchmarks/vit_vs_unet.py [--size 1024] [--minutes 3]
        [--models unet_small vit_tiny vit_small vit_hybrid_tiny] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

WORK = Path(__file__).resolve().parent / "_work" / "vit_vs_unet"
DEFAULT_MODELS = ["unet_small", "vit_tiny", "vit_small", "vit_hybrid_tiny"]


def sh(*args: object) -> None:
    command = ["terralearn", *map(str, args)]
    print("$", shlex.join(command), flush=True)
    subprocess.run(command, check=True, cwd=WORK)


def parse_spec(spec: str) -> tuple[str, dict[str, object], str]:
    """``"vit_tiny@patch_size=4"`` -> ``("vit_tiny", {"patch_size": 4}, "vit_tiny_patch_size4")``."""
    import yaml

    name, _, options = spec.partition("@")
    kwargs = {}
    for item in filter(None, options.split(",")):
        key, _, value = item.partition("=")
        kwargs[key] = yaml.safe_load(value)
    tag = name + "".join(f"_{k}{v}" for k, v in kwargs.items())
    return name, kwargs, tag


def time_to_best(run: Path) -> tuple[float | None, int | None]:
    """Training minutes until the end of the epoch with the best val mIoU, and that epoch.

    Epoch durations are taken as equal shares of the total training time (validation included),
    which is what the per-epoch log allows.
    """
    metrics = json.loads((run / "metrics.json").read_text())
    rows = list(csv.DictReader((run / "logs" / "metrics.csv").open()))
    scores = {int(r["epoch"]): float(r["val_miou"]) for r in rows if r.get("val_miou")}
    if not scores:
        return None, None
    best = max(scores, key=lambda e: scores[e])
    epochs = max(scores) + 1
    return metrics["train_seconds"] / 60 * (best + 1) / epochs, best


def inference_rate(run: Path, scene: Path, repeats: int = 1) -> float:
    """Pixels/s of ``predict_raster`` over the scene (best of ``repeats``; model load excluded)."""
    from terralearn.predict import predict_raster
    from terralearn.predict.model import load_predictor

    predictor = load_predictor(run)
    best = float("inf")
    for i in range(repeats):
        result = predict_raster(predictor, scene, WORK / f"pred_{i}.tif", overwrite=True)
        best = min(best, result.seconds)
    return result.height * result.width / best


def parameters(name: str, kwargs: dict, bands: int, classes: int) -> int:
    from terralearn.models import create_model

    model = create_model(name, bands, classes, **kwargs)
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chip-size", type=int, default=64)
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--json", type=Path, default=WORK / "results.json")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    chip = args.chip_size

    if not (WORK / "scene.tif").exists():
        sh("synth", "scene.tif", "--labels", "labels.tif", "--size", args.size, args.size,
           "--seed", args.seed)  # fmt: skip
    if not (WORK / "store").exists():
        sh("prepare", "scene.tif", "--labels", "labels.tif", "--out", "store", "--chip-size", chip,
           "--block-size", 4 * chip, "--buffer", chip, "--seed", args.seed, "--quiet")  # fmt: skip

    from terralearn.store import ChipStore

    store = ChipStore(WORK / "store")
    bands, classes = len(store.bands), store.num_classes
    results = {}
    for spec in args.models:
        name, kwargs, tag = parse_spec(spec)
        run = f"run_{tag}"
        extra: list[object] = []
        if kwargs:
            config = WORK / f"{tag}.yaml"
            config.write_text(json.dumps({"model_kwargs": kwargs}))  # JSON is valid YAML
            extra = ["--config", config.name]
        sh("train", "store", "--model", name, "--out", run, "--epochs", 1000, "--max-time",
           args.minutes, "--batch-size", args.batch_size, "--lr", args.lr, "--patience", 0,
           "--seed", args.seed, *extra, "--overwrite", "--quiet")  # fmt: skip
        sh("evaluate", run, "store", "--split", "test", "--quiet")
        report = json.loads((WORK / run / "eval" / "test.json").read_text())
        metrics = json.loads((WORK / run / "metrics.json").read_text())
        minutes_to_best, best_epoch = time_to_best(WORK / run)
        results[tag] = {
            "model": name,
            "options": kwargs,
            "test_miou": report["mean_iou"],
            "test_oa": report["overall_accuracy"],
            "best_val_miou": metrics["best_val_miou"],
            "best_epoch": best_epoch,
            "epochs": metrics["epochs"],
            "train_minutes": round(metrics["train_seconds"] / 60, 2),
            "minutes_to_best": None if minutes_to_best is None else round(minutes_to_best, 2),
            "train_chips_per_second": metrics["train_chips_per_second"],
            "parameters": parameters(name, kwargs, bands, classes),
            "inference_px_per_s": round(inference_rate(WORK / run, WORK / "scene.tif")),
            "load_average": os.getloadavg()[0],
        }
        print(json.dumps(results[tag]), flush=True)

    print(f"\nscene {args.size} px, chips {chip}, {args.minutes} min per model, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")  # fmt: skip
    print("| model | test mIoU | best val mIoU | min to best | epochs | params | inference px/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for tag, r in results.items():
        print(
            f"| {tag} | {r['test_miou']:.3f} | {r['best_val_miou']:.3f} | "
            f"{r['minutes_to_best']} | {r['epochs']} | {r['parameters'] / 1e6:.2f} M | "
            f"{r['inference_px_per_s']:,} |"
        )
    existing = json.loads(args.json.read_text()) if args.json.exists() else {}
    args.json.write_text(json.dumps(existing | results, indent=2))
    for i in range(1):
        (WORK / f"pred_{i}.tif").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
