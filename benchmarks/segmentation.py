"""Segmentation accuracy on the synthetic benchmark scene, spatial vs random split.

Runs the exact `terralearn` commands a user would (printed as they run):

    terralearn synth scene.tif --labels labels.tif --size 2048 2048 --seed 0
    terralearn prepare scene.tif --labels labels.tif --out store_block --chip-size 128 --block-size 512 --buffer 128
    terralearn prepare scene.tif --labels labels.tif --out store_random --chip-size 128 --split random
    terralearn train store_X --model unet --out run_X --epochs 12 --max-time 10 ...
    terralearn evaluate run_X store_X --split test

and prints test scores side by side: how optimistic a random chip split is compared with the
spatial block split (whose test blocks are separated from training by a one-chip buffer).

    python benchmarks/segmentation.py [--size 2048] [--minutes 10] [--model unet] [--only block]
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

WORK = Path(__file__).resolve().parent / "_work" / "segmentation"


def sh(*args: str) -> None:
    command = ["terralearn", *map(str, args)]
    print("$", shlex.join(command), flush=True)
    subprocess.run(command, check=True, cwd=WORK)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chip-size", type=int, default=128)
    parser.add_argument("--model", default="unet")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--only", choices=["block", "random"], action="append")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)

    if not (WORK / "scene.tif").exists():
        sh(
            "synth",
            "scene.tif",
            "--labels",
            "labels.tif",
            "--size",
            args.size,
            args.size,
            "--seed",
            args.seed,
        )
    chip = args.chip_size
    splits = {
        "block": ["--block-size", 4 * chip, "--buffer", chip],
        "random": ["--split", "random"],
    }
    results = {}
    for name in args.only or ["block", "random"]:
        store, run = f"store_{name}", f"run_{name}_{args.model}"
        sh(
            "prepare",
            "scene.tif",
            "--labels",
            "labels.tif",
            "--out",
            store,
            "--chip-size",
            chip,
            *splits[name],
            "--seed",
            args.seed,
            "--overwrite",
            "--quiet",
        )
        started = time.perf_counter()
        sh(
            "train",
            store,
            "--model",
            args.model,
            "--out",
            run,
            "--epochs",
            args.epochs,
            "--max-time",
            args.minutes,
            "--batch-size",
            args.batch_size,
            "--lr",
            args.lr,
            "--patience",
            0,
            "--overwrite",
            "--quiet",
        )
        minutes = (time.perf_counter() - started) / 60
        sh("evaluate", run, store, "--split", "test", "--quiet")
        report = json.loads((WORK / run / "eval" / "test.json").read_text())
        metrics = json.loads((WORK / run / "metrics.json").read_text())
        results[name] = {
            "test_miou": report["mean_iou"],
            "test_oa": report["overall_accuracy"],
            "kappa": report["kappa"],
            "best_val_miou": metrics["best_val_miou"],
            "epochs": metrics["epochs"],
            "train_minutes": round(minutes, 2),
            "test_chips": report["chips"],
        }
    print(f"\nload average: {os.getloadavg()}, python {sys.version.split()[0]}")
    print(
        f"{'split':<8}{'test mIoU':>10}{'test OA':>9}{'kappa':>8}{'val mIoU':>10}{'epochs':>8}{'minutes':>9}{'test chips':>11}"
    )
    for name, r in results.items():
        print(
            f"{name:<8}{r['test_miou']:>10.4f}{r['test_oa']:>9.4f}{r['kappa']:>8.4f}{r['best_val_miou']:>10.4f}"
            f"{r['epochs']:>8}{r['train_minutes']:>9.2f}{r['test_chips']:>11}"
        )
    if {"block", "random"} <= results.keys():
        gap = results["random"]["test_miou"] - results["block"]["test_miou"]
        print(f"random split minus block split, test mIoU: {gap:+.4f}")
    (WORK / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
