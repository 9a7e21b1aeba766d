"""Real-data benchmark: the default U-Net against a pixel random forest on the same test pixels.

For each scene and seed, runs the exact `terralearn` commands a user would (printed as they run),
with default options except the classes file, the scene's split and the seed:

    terralearn prepare IMAGE --labels LABELS --classes CLASSES [SCENE OPTIONS] --seed S --out store_SCENE_sS
    terralearn train store_SCENE_sS --out run_SCENE_sS --max-time 10 --seed S
    terralearn evaluate run_SCENE_sS store_SCENE_sS --split test

then scores, on exactly the same pixels (the labelled, valid pixels of the store's test chips):
- the U-Net: the run's best checkpoint, applied to the test chips as `evaluate` does (nodata
  pixels passed the library's way, see `unet_labels`);
- a scikit-learn RandomForestClassifier (200 trees, seeded) on the band values of single pixels,
  trained on at most 200,000 labelled, valid pixels of the same store's TRAIN chips, drawn
  uniformly at random (seeded; not stratified: the forest sees the classes as they occur).

Scores come from one confusion matrix per model and seed, over the classes present in the test
pixels: IoU per class by name, mIoU (mean over those classes) and overall accuracy. Printed per
scene: one row per seed, mean ± sd over seeds, the target check (U-Net mIoU >= RF mIoU + 0.05,
on the means) and per-class IoU. `terralearn evaluate`'s test mIoU is recorded as a cross-check
(it averages over the classes present in the test labels OR the predictions, so it can differ).

Budget: `--minutes` (10) of wall time per training (`train --max-time`), each training on
`--threads` (1) torch threads (OMP_NUM_THREADS), i.e. 10 CPU-minutes per model on an otherwise
idle core; the CPU minutes each training process used are measured and printed. `--jobs 2`
trains two seeds at once (on a 2-core machine, one core each); preparing, evaluating and the
random forests run one after another, never beside a training.

Scenes: presets `nc` (Landsat 7, North Carolina) and `dubai` (aerial RGB tiles, split by image
so that tiles do not leak), read from `../shared/data/real` beside the repository (`--data`), or
any scene given by path:

    python benchmarks/real_data.py                      # nc, 3 seeds, 10 min each
    python benchmarks/real_data.py --scenes nc dubai --jobs 2
    python benchmarks/real_data.py --scene mine --image 'tiles/*.tif' --labels 'masks/*.tif' \\
        --classes classes.csv --prepare-arg=--block-size --prepare-arg=512
    python benchmarks/real_data.py --quick              # 1 seed, 1 minute: a smoke run

`--prepare-arg` adds one argument to every scene's `prepare` command (repeat it; write it with
`=`, e.g. `--prepare-arg=--chip-size --prepare-arg=64`); `--no-classes` leaves `--classes` out.
Work files go to `benchmarks/_work/real_data/`; `--json OUT` writes every number.
"""

from __future__ import annotations

import argparse
import csv
import glob
import inspect
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work" / "real_data"
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "real"
TARGET_MARGIN = 0.05  # U-Net mIoU >= RF mIoU + this
CHIP_BATCH = 64  # test chips per inference batch


@dataclass
class Scene:
    """What `terralearn prepare` needs for one scene (images and labels may be globs)."""

    name: str
    images: list[str]
    labels: list[str]
    classes: str | None = None
    prepare_args: list[str] = field(default_factory=list)

    def check(self) -> None:
        for pattern in [*self.images, *self.labels, *([self.classes] if self.classes else [])]:
            if not glob.glob(pattern):
                sys.exit(f"scene {self.name!r}: nothing at {pattern!r}; check --data or the paths")


def presets(data: Path) -> dict[str, Scene]:
    nc, dubai = data / "nc", data / "dubai"
    return {
        "nc": Scene(
            "nc",
            [str(nc / "landsat_multiband.tif")],
            [str(nc / "strata.tif")],
            str(nc / "classes.csv"),
        ),
        "dubai": Scene(
            "dubai",
            [str(dubai / "Tile *" / "images" / "*.jpg")],
            [str(dubai / "Tile *" / "masks" / "*.png")],
            str(dubai / "classes.csv"),
            ["--split", "image"],
        ),
    }


# ---- running the CLI ----------------------------------------------------------------------


def terralearn_command() -> list[str]:
    """The `terralearn` CLI of this Python environment (what its users run)."""
    script = Path(sys.executable).with_name("terralearn")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "terralearn.cli.main"]


def run_cli(args: list[object], threads: int, cwd: Path = WORK) -> float:
    """Run `terralearn ARGS` in ``cwd`` on ``threads`` torch threads; its CPU seconds.

    A failing command ends the benchmark with its exit code (its own `error:` line is above).
    """
    command = [*terralearn_command(), *map(str, args)]
    print("$", shlex.join(["terralearn", *map(str, args)]), flush=True)
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    process = subprocess.Popen(command, cwd=cwd, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"benchmark stopped: `{shlex.join(command)}` exited with {process.returncode}")
    return usage.ru_utime + usage.ru_stime


def done_before(directory: Path, command: list[object]) -> bool:
    """Whether ``directory`` was made by exactly ``command`` (for --reuse)."""
    marker = directory / "benchmark_command.json"
    return marker.is_file() and json.loads(marker.read_text()) == list(map(str, command))


def mark_done(directory: Path, command: list[object]) -> None:
    (directory / "benchmark_command.json").write_text(json.dumps(list(map(str, command))))


# ---- scoring ------------------------------------------------------------------------------


def confusion(truth: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """(k, k) counts, rows = true class, columns = predicted class."""
    return np.bincount(truth.astype(np.int64) * k + predicted, minlength=k * k).reshape(k, k)


def scores(matrix: np.ndarray, names: list[str]) -> dict:
    """IoU per class present in the reference, their mean (mIoU) and overall accuracy.

    The one scoring function of both models. Classes without a true pixel get IoU None and do
    not count in the mean.
    """
    matrix = matrix.astype(np.float64)
    tp, support, predicted = np.diag(matrix), matrix.sum(1), matrix.sum(0)
    iou = {
        name: float(tp[i] / (support[i] + predicted[i] - tp[i])) if support[i] > 0 else None
        for i, name in enumerate(names)
    }
    present = [v for v in iou.values() if v is not None]
    return {
        "miou": float(np.mean(present)),
        "oa": float(tp.sum() / matrix.sum()),
        "iou": iou,
        "support": {name: int(support[i]) for i, name in enumerate(names)},
        "pixels": int(matrix.sum()),
    }


# ---- the two models -----------------------------------------------------------------------


def unet_labels(task, image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Class ids (n, S, S) of the U-Net for raw chips (n, C, S, S) with their valid masks.

    Passes the valid mask the library's way when it takes one (`predict_chips(..., valid=)` or
    `task.predict_proba(..., valid=)`); otherwise fills nodata pixels with the training mean of
    each band (which normalises to 0), the rule of `terralearn predict`.
    """
    import torch

    from terralearn.runs.report import predict_chips

    x, v = torch.from_numpy(image.astype(np.float32)), torch.from_numpy(valid)
    with torch.inference_mode():
        if "valid" in inspect.signature(predict_chips).parameters:
            return predict_chips(task, x, valid=v)
        if "valid" in inspect.signature(task.predict_proba).parameters:
            probs = task.predict_proba(x, valid=v)
        else:
            x = torch.where(v[:, None], x, task.band_mean.to(x.dtype))
            probs = task.predict_proba(x)
    if probs.shape[1] == 1:
        return (probs[:, 0] > 0.5).numpy().astype(np.uint8)
    return probs.argmax(1).numpy().astype(np.uint8)


def labelled(chips: dict, ignore: int) -> np.ndarray:
    """(n, S, S) True on the pixels that are scored: labelled and valid in every band."""
    return (chips["mask"] != ignore) & chips["valid"]


def train_pixels(store, max_pixels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Band values (n, C) and classes (n,) of at most ``max_pixels`` labelled, valid pixels of
    the train chips, drawn uniformly at random (seeded), read a batch of chips at a time."""
    rng = np.random.default_rng(seed)
    ids = store.split_ids("train")
    total = int(store.class_counts("train").sum())  # labelled pixels (a bound on labelled+valid)
    rate = min(1.0, 1.2 * max_pixels / max(total, 1))
    features, classes = [], []
    for start in range(0, len(ids), 4 * CHIP_BATCH):
        chips = store.read(ids[start : start + 4 * CHIP_BATCH])
        keep = labelled(chips, store.meta.ignore_index)
        keep &= rng.random(keep.shape) < rate
        features.append(np.moveaxis(chips["image"], 1, -1)[keep].astype(np.float32))
        classes.append(chips["mask"][keep])
    x, y = np.concatenate(features), np.concatenate(classes)
    if len(y) > max_pixels:
        pick = rng.choice(len(y), max_pixels, replace=False)
        x, y = x[pick], y[pick]
    return x, y


@dataclass
class SeedResult:
    seed: int
    unet: dict
    rf: dict
    evaluate_miou: float | None
    train: dict
    scoring: dict  # forest training pixels, distinct test values, seconds of each step


def score_seed(store_path: Path, run_path: Path, args, seed: int) -> dict:
    """Confusion-matrix scores of the U-Net and the random forest on the same test pixels."""
    import torch
    from sklearn.ensemble import RandomForestClassifier

    from terralearn.artifacts import load_task
    from terralearn.store import ChipStore

    torch.set_num_threads(args.threads)
    store = ChipStore(store_path)
    names, k, ignore = store.class_names, store.num_classes, store.meta.ignore_index
    test_ids = store.split_ids("test")
    if len(test_ids) == 0:
        sys.exit(f"store {store_path} has no test chips: nothing to score (see `terralearn info`)")
    started = time.perf_counter()
    x, y = train_pixels(store, args.rf_pixels, seed)
    forest = RandomForestClassifier(n_estimators=args.trees, n_jobs=args.threads, random_state=seed)
    forest.fit(x, y)
    rf_fit_seconds = time.perf_counter() - started

    started = time.perf_counter()
    task, _ = load_task(run_path)
    truth, unet, features = [], [], []
    for start in range(0, len(test_ids), CHIP_BATCH):
        chips = store.read(test_ids[start : start + CHIP_BATCH])
        scored = labelled(chips, ignore)
        truth.append(chips["mask"][scored])
        unet.append(unet_labels(task, chips["image"], chips["valid"])[scored])
        features.append(np.moveaxis(chips["image"], 1, -1)[scored].astype(np.float32))
    unet_seconds = time.perf_counter() - started

    # The forest predicts each distinct pixel value once (the same value gets the same class):
    # 8-bit RGB test sets hold millions of pixels but some 10^5 colours.
    started = time.perf_counter()
    values, inverse = np.unique(np.concatenate(features), axis=0, return_inverse=True)
    rf = forest.predict(values)[inverse.reshape(-1)]
    rf_predict_seconds = time.perf_counter() - started

    truth, unet = np.concatenate(truth), np.concatenate(unet)
    size = max(k, 2)
    names = names if k >= 2 else ["background", *names]
    return {
        "unet": scores(confusion(truth, unet, size), names),
        "rf": scores(confusion(truth, rf, size), names),
        "rf_train_pixels": len(y),
        "rf_distinct_test_values": len(values),
        "seconds": {
            "rf_fit": round(rf_fit_seconds, 1),
            "rf_predict": round(rf_predict_seconds, 1),
            "unet_predict": round(unet_seconds, 1),
        },
    }


def training_summary(run: Path, cpu_seconds: float) -> dict:
    """Steps, epochs and minutes of a training run (metrics.json and logs/metrics.csv)."""
    metrics = json.loads((run / "metrics.json").read_text())
    rows = list(csv.DictReader((run / "logs" / "metrics.csv").open()))
    return {
        # the last logged step (epoch-end rows carry the step count - 1)
        "steps": 1 + max((int(r["step"]) for r in rows if r.get("step")), default=-1),
        "epochs": 1 + max((int(r["epoch"]) for r in rows if r.get("epoch")), default=-1),
        "train_minutes": round(metrics["train_seconds"] / 60, 2),
        "train_cpu_minutes": round(cpu_seconds / 60, 2),
        "train_chips": metrics["train_chips"],
        "best_val_miou": metrics["best_val_miou"],
        "stopped_early": metrics["stopped_early"],
    }


# ---- one scene ----------------------------------------------------------------------------


def run_scene(scene: Scene, args) -> dict:
    scene.check()
    commands = {}
    for seed in args.seeds:
        store, run = f"store_{scene.name}_s{seed}", f"run_{scene.name}_s{seed}"
        labels = [a for path in scene.labels for a in ("--labels", path)]
        classes = ["--classes", scene.classes] if scene.classes and not args.no_classes else []
        prepare = ["prepare", *scene.images, *labels, *classes, *scene.prepare_args,
                   *args.prepare_arg, "--seed", seed, "--out", store]  # fmt: skip
        train = ["train", store, "--out", run, "--max-time", args.minutes, "--seed", seed]
        commands[seed] = (store, run, prepare, train)

    # 1. chip stores (one split per seed), one after another
    for store, _, prepare, _ in commands.values():
        if args.reuse and done_before(WORK / store, prepare):
            print(f"reusing {store}: made by the same command", flush=True)
            continue
        run_cli([*prepare, "--overwrite", "--quiet"], args.threads)
        mark_done(WORK / store, prepare)

    # 2. trainings, --jobs at a time, each on --threads threads
    def train_one(seed: int) -> tuple[float, list[float]]:
        store, run, _, train = commands[seed]
        if args.reuse and done_before(WORK / run, train):
            print(f"reusing {run}: trained by the same command", flush=True)
            return json.loads((WORK / run / "benchmark_cpu.json").read_text()), []
        load = [os.getloadavg()[0]]
        cpu = run_cli([*train, "--overwrite", "--quiet"], args.threads)
        (WORK / run / "benchmark_cpu.json").write_text(json.dumps(cpu))
        mark_done(WORK / run, train)
        return cpu, [*load, os.getloadavg()[0]]

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        trained = dict(zip(args.seeds, pool.map(train_one, args.seeds), strict=True))

    # 3. evaluate (cross-check) and score both models on the same test pixels
    results = []
    for seed, (store, run, _, _) in commands.items():
        run_cli(["evaluate", run, store, "--split", "test", "--quiet"], args.threads)
        report = json.loads((WORK / run / "eval" / "test.json").read_text())
        scored = score_seed(WORK / store, WORK / run, args, seed)
        unet, rf = scored.pop("unet"), scored.pop("rf")
        cpu, load = trained[seed]
        summary = training_summary(WORK / run, cpu) | {"load_average": load}
        results.append(SeedResult(seed, unet, rf, report.get("mean_iou"), summary, scored))
        print(
            f"{scene.name} seed {seed}: U-Net mIoU {unet['miou']:.3f} OA {unet['oa']:.3f} | "
            f"RF mIoU {rf['miou']:.3f} OA {rf['oa']:.3f} | {unet['pixels']:,} test pixels | "
            f"forest on {scored['rf_train_pixels']:,} train pixels, "
            f"{scored['rf_distinct_test_values']:,} distinct test values | {scored['seconds']} s",
            flush=True,
        )
    summary = summarise(results)
    print_scene(scene, results, summary, args)
    return {
        "scene": scene.__dict__,
        "commands": {
            str(s): {"prepare": list(map(str, c[2])), "train": list(map(str, c[3]))}
            for s, c in commands.items()
        },
        "seeds": [r.__dict__ for r in results],
        "summary": summary,
    }


def mean_sd(values: list[float]) -> dict:
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else None,
        "n": len(values),
    }


def summarise(results: list[SeedResult]) -> dict:
    unet = mean_sd([r.unet["miou"] for r in results])
    rf = mean_sd([r.rf["miou"] for r in results])
    per_class = {}
    for name in results[0].unet["iou"]:
        per_class[name] = {
            model: mean_sd(present)
            for model in ("unet", "rf")
            if (
                present := [v for r in results if (v := getattr(r, model)["iou"][name]) is not None]
            )
        }
        per_class[name]["test_pixels"] = mean_sd([r.unet["support"][name] for r in results])
    return {
        "unet_miou": unet,
        "unet_oa": mean_sd([r.unet["oa"] for r in results]),
        "rf_miou": rf,
        "rf_oa": mean_sd([r.rf["oa"] for r in results]),
        "delta_miou": mean_sd([r.unet["miou"] - r.rf["miou"] for r in results]),
        "target_met": unet["mean"] >= rf["mean"] + TARGET_MARGIN,
        "per_class_iou": per_class,
    }


def fmt(stat: dict | None, digits: int = 3) -> str:
    if not stat:
        return "-"
    sd = "" if stat["sd"] is None else f" ± {stat['sd']:.{digits}f}"
    return f"{stat['mean']:.{digits}f}{sd}"


def print_scene(scene: Scene, results: list[SeedResult], s: dict, args) -> None:
    print(
        f"\n## {scene.name}: U-Net (default options, {args.minutes} min on {args.threads} "
        f"thread(s)) vs pixel random forest ({args.trees} trees, <= {args.rf_pixels:,} train "
        f"pixels), {len(results)} seed(s)\n"
    )
    print("| seed | test px | U-Net mIoU | U-Net OA | RF mIoU | RF OA | U-Net - RF | "
          "evaluate mIoU | steps | epochs | train min | train CPU min |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        t, ev = r.train, r.evaluate_miou
        print(
            f"| {r.seed} | {r.unet['pixels']:,} | {r.unet['miou']:.3f} | {r.unet['oa']:.3f} | "
            f"{r.rf['miou']:.3f} | {r.rf['oa']:.3f} | {r.unet['miou'] - r.rf['miou']:+.3f} | "
            f"{'-' if ev is None else f'{ev:.3f}'} | {t['steps']} | {t['epochs']} | "
            f"{t['train_minutes']} | {t['train_cpu_minutes']} |"
        )
    print(
        f"| mean ± sd | | {fmt(s['unet_miou'])} | {fmt(s['unet_oa'])} | {fmt(s['rf_miou'])} | "
        f"{fmt(s['rf_oa'])} | {fmt(s['delta_miou'])} | | | | | |"
    )
    verdict = "MET" if s["target_met"] else "MISSED"
    print(
        f"\ntarget U-Net mIoU >= RF mIoU + {TARGET_MARGIN}: {verdict} "
        f"({s['unet_miou']['mean']:.3f} vs {s['rf_miou']['mean']:.3f} + {TARGET_MARGIN})\n"
    )
    print("| class | test px (mean) | U-Net IoU | RF IoU |")
    print("| --- | ---: | ---: | ---: |")
    for name, c in s["per_class_iou"].items():
        seeds = c.get("unet", {}).get("n", 0)
        note = "" if seeds in (0, len(results)) else f" (in test for {seeds}/{len(results)} seeds)"
        print(
            f"| {name}{note} | {c['test_pixels']['mean']:,.0f} | {fmt(c.get('unet'))} | "
            f"{fmt(c.get('rf'))} |"
        )


# ---- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenes", nargs="+", choices=["nc", "dubai"],
                        help="preset scenes to run [nc; none when --scene is given]")  # fmt: skip
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder holding nc/ and dubai/ [../shared/data/real]")  # fmt: skip
    parser.add_argument("--scene", help="name of a scene given by path (with --image, --labels)")
    parser.add_argument("--image", action="append", default=[], help="image path or glob")
    parser.add_argument("--labels", action="append", default=[], help="label path or glob")
    parser.add_argument("--classes", help="--classes file of the --scene")
    parser.add_argument("--prepare-arg", action="append", default=[],
                        help="one more argument of every `prepare` (repeat; --prepare-arg=--x)")  # fmt: skip
    parser.add_argument("--no-classes", action="store_true",
                        help="leave --classes out of `prepare` (class ids as names)")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--minutes", type=float, help="training budget per model [10]")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each job [1]")
    parser.add_argument("--jobs", type=int, default=1, help="trainings run at once [1]")
    parser.add_argument("--trees", type=int, default=200, help="random forest trees [200]")
    parser.add_argument("--rf-pixels", type=int, default=200_000,
                        help="at most this many training pixels for the forest [200000]")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 1 minute")
    parser.add_argument("--reuse", action="store_true",
                        help="keep stores and runs made by the same commands (e.g. after a crash)")  # fmt: skip
    parser.add_argument("--json", type=Path, default=WORK / "results.json")
    args = parser.parse_args()
    if args.quick:
        args.seeds = args.seeds[:1]
        args.minutes = args.minutes or 1.0
    args.minutes = args.minutes or 10.0

    scenes = []
    table = presets(args.data.resolve())
    for name in args.scenes or ([] if args.scene else ["nc"]):
        scenes.append(table[name])
    if args.scene:
        if not args.image or not args.labels:
            parser.error("--scene needs --image and --labels")
        classes = str(Path(args.classes).resolve()) if args.classes else None
        absolute = (
            [str(Path(p).resolve()) for p in args.image],
            [str(Path(p).resolve()) for p in args.labels],
        )
        scenes.append(Scene(args.scene, *absolute, classes))

    WORK.mkdir(parents=True, exist_ok=True)
    import sklearn
    import torch

    machine = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(f"machine: {machine}", flush=True)
    results = {"machine": machine, "options": {k: str(v) for k, v in vars(args).items()}}
    for scene in scenes:
        results[scene.name] = run_scene(scene, args)
        args.json.write_text(json.dumps(results, indent=2, default=str))
    results["machine"]["load_average_end"] = os.getloadavg()
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
