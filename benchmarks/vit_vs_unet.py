"""U-Net against Vision Transformers on the synthetic benchmark, with the same budget for each.

Every model runs the exact `terralearn` commands a user would (printed as they run):

    terralearn synth scene.tif --labels labels.tif --size 1024 1024 --seed 0
    terralearn prepare scene.tif --labels labels.tif --out store --chip-size 64 --block-size 256 --buffer 64
    terralearn train store --model M --out run_M --epochs 1000 --max-time 3 --batch-size 16 --lr 1e-3
    terralearn evaluate run_M store --split test

then counts the parameters and times CPU inference with ``predict_raster`` over the whole
scene. A model spec ``name@key=value,key=value`` trains with those options through a
``--config`` YAML: keys of ``terralearn train`` (e.g. ``augment=strong``,
``encoder_lr_scale=0.5``) go to the top level, the rest to ``model_kwargs`` (e.g.
``vit_tiny@patch_size=4``). ``init_from=mae`` first pretrains the model as a masked autoencoder
on a separate unlabelled synthetic scene (2048 px, seed 100; never the labelled one):

    terralearn synth unlabelled.tif --labels unused_labels.tif --size 2048 2048 --seed 100
    terralearn pretrain unlabelled.tif --method mae --model M --chip-size 64 --epochs E --out pretrain_mae_M

and fine-tunes from it (``--init-from``); the pretraining minutes are reported beside the
fine-tuning budget.

Reported per model: test mIoU (held-out spatial blocks), the best validation mIoU and the
training minutes until the epoch that reached it ("time to score"), epochs done in the budget,
parameters and inference pixels/s. The machine's load average is printed too: on a shared
machine times are noisy, so compare models run back to back.

    python benchmarks/vit_vs_unet.py [--size 1024] [--minutes 3]
        [--models unet_small vit_tiny vit_small vit_hybrid_tiny] [--json out.json]
        [--threads 1] [--pretrain-epochs 30]

Remedies for the ViTs on small data, e.g.:

    --models vit_tiny@patch_size=4 vit_tiny@augment=strong vit_tiny@init_from=mae
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

from terralearn._memory import enable_for_cli

WORK = Path(__file__).resolve().parent / "_work" / "vit_vs_unet"
DEFAULT_MODELS = ["unet_small", "vit_tiny", "vit_small", "vit_hybrid_tiny"]


def sh(*args: object) -> None:
    command = ["terralearn", *map(str, args)]
    print("$", shlex.join(command), flush=True)
    subprocess.run(command, check=True, cwd=WORK)


def parse_spec(spec: str) -> tuple[str, dict[str, object], dict[str, object], str]:
    """``"vit_tiny@patch_size=4,augment=strong"`` -> name, model options, train options, tag."""
    from dataclasses import fields

    import yaml

    from terralearn.runs.train import TrainConfig

    train_keys = {f.name for f in fields(TrainConfig)}
    name, _, options = spec.partition("@")
    kwargs, train = {}, {}
    for item in filter(None, options.split(",")):
        key, _, value = item.partition("=")
        (train if key in train_keys else kwargs)[key] = yaml.safe_load(value)
    tag = name + "".join(f"_{k}{v}" for k, v in (kwargs | train).items())
    return name, kwargs, train, tag


def pretrain_mae(name: str, kwargs: dict, chip: int, epochs: int, size: int) -> tuple[str, float]:
    """An MAE pretraining run of ``name`` on the unlabelled scene (made once); its minutes."""
    if not (WORK / "unlabelled.tif").exists():
        sh("synth", "unlabelled.tif", "--labels", "unused_labels.tif", "--size", 2 * size, 2 * size,
           "--seed", 100)  # fmt: skip
    tag = parse_spec(name + "@" + ",".join(f"{k}={v}" for k, v in kwargs.items()))[3]
    run = f"pretrain_mae_{tag}_e{epochs}"
    if not (WORK / run / "checkpoints" / "last.ckpt").exists():
        config = WORK / f"{run}.yaml"
        config.write_text(json.dumps({"model_kwargs": kwargs}))
        sh("pretrain", "unlabelled.tif", "--method", "mae", "--model", name, "--chip-size", chip,
           "--epochs", epochs, "--config", config.name, "--out", run, "--overwrite", "--quiet")  # fmt: skip
    metrics = json.loads((WORK / run / "metrics.json").read_text())
    return run, round(metrics["train_seconds"] / 60, 2)


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


def finished(run: Path, train_args: list) -> bool:
    """Whether ``run`` was trained by ``train_args`` and evaluated on the test split."""
    command = run / "command.json"
    return (
        command.is_file()
        and json.loads(command.read_text()) == list(map(str, train_args))
        and (run / "eval" / "test.json").is_file()
    )


def parameters(name: str, kwargs: dict, bands: int, classes: int) -> int:
    from terralearn.models import create_model

    model = create_model(name, bands, classes, **kwargs)
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    enable_for_cli()  # in-process runs keep freed memory as `terralearn` does (_memory)
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
    parser.add_argument(
        "--pretrain-epochs", type=int, default=30, help="MAE epochs for init_from=mae"
    )
    parser.add_argument(
        "--reuse", action="store_true",
        help="skip training a model whose run was made by the same command (e.g. after a crash)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, help="torch threads of every command (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the commands run as subprocesses
        torch.set_num_threads(args.threads)
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
        name, kwargs, train, tag = parse_spec(spec)
        run = f"run_{tag}"
        pretrain_minutes = None
        if train.get("init_from") == "mae":
            train["init_from"], pretrain_minutes = pretrain_mae(
                name, kwargs, chip, args.pretrain_epochs, args.size
            )
        extra: list[object] = []
        if kwargs or train:
            config = WORK / f"{tag}.yaml"
            config.write_text(json.dumps({"model_kwargs": kwargs, **train}))  # JSON is valid YAML
            extra = ["--config", config.name]
        train_args = ["train", "store", "--model", name, "--out", run, "--epochs", 1000,
                      "--max-time", args.minutes, "--batch-size", args.batch_size, "--lr", args.lr,
                      "--patience", 0, "--seed", args.seed, *extra]  # fmt: skip
        if args.reuse and finished(WORK / run, train_args):
            print(f"reusing {run}: trained and evaluated with the same command", flush=True)
        else:
            sh(*train_args, "--overwrite", "--quiet")
            sh("evaluate", run, "store", "--split", "test", "--quiet")
            (WORK / run / "command.json").write_text(json.dumps(list(map(str, train_args))))
        report = json.loads((WORK / run / "eval" / "test.json").read_text())
        metrics = json.loads((WORK / run / "metrics.json").read_text())
        minutes_to_best, best_epoch = time_to_best(WORK / run)
        results[tag] = {
            "model": name,
            "options": kwargs,
            "train_options": train,
            "pretrain_minutes": pretrain_minutes,
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
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{args.threads or 'default'} torch threads")  # fmt: skip
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
