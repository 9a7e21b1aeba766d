"""Label efficiency: fine-tuning from a self-supervised encoder against training from scratch.

The data and pretraining steps are the `terralearn` commands a user would run (printed as they
run); the fine-tuning runs call the same code in this process (`terralearn.runs.train.train`
with the config `terralearn train` builds, then `terralearn.runs.evaluate.evaluate`) and print
the equivalent command, which saves a Python start-up (~10 s) on each of the many short runs:

    terralearn synth unlabelled.tif --labels unused.tif --size U U --seed 100      # unlabelled
    terralearn synth scene.tif --labels labels.tif --size S S --seed 0              # labelled
    terralearn prepare scene.tif --labels labels.tif --out store --chip-size C --block-size B \\
        --buffer C --val 0.05 --test 0.2
    terralearn pretrain unlabelled.tif SENTINEL2_SAMPLE --method M --model MODEL --chip-size C \\
        --epochs E --out pretrain_M_MODEL
    terralearn train store --model MODEL --label-fraction F --seed K --epochs N --patience 0 \\
        [--init-from pretrain_M_MODEL [--freeze-encoder | --encoder-lr-scale S]] --out runs/...
    terralearn evaluate RUN store --split test

The unlabelled pool is a larger synthetic scene (another seed: other fields, towns and rivers)
plus the shipped Sentinel-2 sample (same six bands); the labelled store is a separate scene whose
test split is held-out spatial blocks. Each (label fraction, seed) trains from scratch and from
the pretrained encoder (and, with ``--probe``, with the encoder frozen; with ``--gentle S``, with
the encoder's learning rate scaled by S). Every run gets the same
number of optimisation steps (``--steps``, rounded up to whole epochs), so small fractions repeat
their few chips for more epochs rather than stopping after a handful of steps. The label subset
of a seed is the same for scratch and pretrained (``ChipDataModule(label_fraction, seed)``).

Budgets (``--budget``; any option given explicitly overrides the budget's value):

- ``full``: 2048 px labelled scene, 4096 px unlabelled scene, 64 px chips, 256 px blocks,
  30 pretraining epochs, 300 steps of 16 chips (~8-9 h for vit_tiny/MAE on 2 cores).
- ``session``: the same experiment at half the pixel scale, sized for about an hour on 2 idle
  cores for one method (vit_tiny/MAE; unet_small/contrastive takes less): a 1024 px labelled
  scene cut into 32 px chips and 128 px blocks (32 px buffer) has the same 834 chips, 64 blocks
  and split shares as ``full`` (588 training chips: 1 % = 6 chips), and the unlabelled 2048 px
  scene gives the same ~4,100 chips per pretraining epoch. The same 300 steps of 16 chips per
  run; 100 pretraining epochs (a 32 px chip is 16 ViT patches, a quarter of a 64 px one). All
  four fractions, 3 seeds, scratch vs pretrained. ``--estimate`` times a short sample of it and
  projects (see :func:`estimate`).
- ``quick``: a tiny end-to-end check (minutes); its numbers mean nothing.

Resumable: results go to ``label_efficiency_<method>_<model>.json`` in the work folder after
every run, and a new invocation with the same experiment options skips the points already there;
a killed pretraining continues with ``terralearn pretrain --resume``.

Output: a Markdown table (test mIoU mean +- std over seeds, and the pretrained - scratch gap in
units of the larger seed spread), ``label_efficiency_<tag>.png`` (mIoU vs label fraction, mean
and min-max band) and the JSON file of every run.

    python benchmarks/label_efficiency.py [--budget full|session|quick] [--method mae
        --model vit_tiny] [--fractions 0.01 0.05 0.1 1] [--seeds 0 1 2] [--steps N] [--probe]
    python benchmarks/label_efficiency.py --budget session --estimate   # time a sample, project
    python benchmarks/label_efficiency.py --budget session --threads 1  # ~1 h on one idle core
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from terralearn._memory import enable_for_cli

WORK_ROOT = Path(__file__).resolve().parent / "_work"

# Every value an option can override. `block_size` and `buffer` shape the spatial split.
BUDGETS: dict[str, dict] = {
    "full": {
        "size": 2048, "unlabelled_size": 4096, "chip_size": 64, "block_size": 256, "buffer": 64,
        "pretrain_epochs": 30, "pretrain_batch_size": 64, "steps": 300, "batch_size": 16,
        "fractions": [0.01, 0.05, 0.1, 1.0], "seeds": [0, 1, 2],
    },
    "session": {
        "size": 1024, "unlabelled_size": 2048, "chip_size": 32, "block_size": 128, "buffer": 32,
        "pretrain_epochs": 100, "pretrain_batch_size": 64, "steps": 300, "batch_size": 16,
        "fractions": [0.01, 0.05, 0.1, 1.0], "seeds": [0, 1, 2],
    },
    "quick": {
        "size": 256, "unlabelled_size": 256, "chip_size": 32, "block_size": 64, "buffer": 0,
        "pretrain_epochs": 1, "pretrain_batch_size": 16, "steps": 4, "batch_size": 8,
        "fractions": [0.1, 1.0], "seeds": [0, 1],
    },
}  # fmt: skip
# Options that define the experiment: results of another value of any of them are not mixed in.
EXPERIMENT_KEYS = ("method", "model", "size", "unlabelled_size", "chip_size", "block_size",
                   "buffer", "val", "pretrain_epochs", "pretrain_batch_size", "steps",
                   "batch_size", "lr", "no_sample")  # fmt: skip


def sh(*args: object, cwd: Path) -> float:
    """Run a `terralearn` command; returns the CPU seconds it used."""
    command = ["terralearn", *map(str, args)]
    print("$", shlex.join(command), flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, cwd=cwd, env=os.environ)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def write_json(path: Path, data: dict) -> None:
    from terralearn._fs import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(data, indent=2).encode())


def write_model_config(path: Path, model: str, chip_size: int) -> Path | None:
    """ViTs get ``img_size = chip size`` (their positional grid) for pretraining and training."""
    import yaml

    if not model.startswith("vit"):
        return None
    path.write_text(yaml.safe_dump({"model_kwargs": {"img_size": chip_size}}))
    return path


def train_chips(store: Path) -> int:
    from terralearn.store.reader import ChipStore

    return len(ChipStore(store).split_ids("train"))


def run_plan(args, n_train: int, fraction: float) -> dict:
    """Chips, batch, epochs and steps of one fine-tuning run (the same for every init)."""
    chips = max(1, round(n_train * fraction))  # as ChipDataModule(label_fraction) keeps
    batch = min(args.batch_size, chips)
    per_epoch = math.ceil(chips / batch)
    epochs = max(1, math.ceil(args.steps / per_epoch))
    return {"train_chips": chips, "batch": batch, "epochs": epochs, "steps": epochs * per_epoch}


# ---- steps --------------------------------------------------------------------------------


def prepare_data(args, work: Path) -> Path:
    """The unlabelled and labelled scenes and the chip store (timed in ``data_timing.json``)."""
    cpu, started = 0.0, time.perf_counter()
    if not (work / "unlabelled.tif").exists():
        cpu += sh("synth", "unlabelled.tif", "--labels", "unused_labels.tif", "--size",
                  args.unlabelled_size, args.unlabelled_size, "--seed", 100, cwd=work)  # fmt: skip
    if not (work / "scene.tif").exists():
        cpu += sh("synth", "scene.tif", "--labels", "labels.tif", "--size", args.size, args.size,
                  "--seed", 0, cwd=work)  # fmt: skip
    store = work / f"store_{args.chip_size}"
    if not store.exists():
        cpu += sh("prepare", "scene.tif", "--labels", "labels.tif", "--out", store.name,
                  "--chip-size", args.chip_size, "--block-size", args.block_size, "--buffer",
                  args.buffer, "--val", args.val, "--test", 0.2, "--quiet", cwd=work)  # fmt: skip
    if cpu:  # something was made: keep its cost for the estimate
        write_json(work / "data_timing.json",
                   {"wall": time.perf_counter() - started, "cpu": cpu})  # fmt: skip
    return store


def pool(args) -> list[object]:
    from terralearn.datasets.samples import sample_path

    return ["unlabelled.tif"] + ([] if args.no_sample else [sample_path("sentinel2")])


def pretrain(args, work: Path, out: Path, config: Path | None, fresh: bool = False,
             **overrides) -> float:  # fmt: skip
    """Pretrain into ``out`` (continuing a killed run unless ``fresh``); returns CPU seconds."""
    options = {"epochs": args.pretrain_epochs, **overrides}
    extra: list[object] = ["--config", config] if config is not None else []
    for key, value in options.items():
        extra += [f"--{key.replace('_', '-')}", value]
    if not fresh and (out / "checkpoints" / "last.ckpt").exists():
        extra.append("--resume")  # killed before it finished
    else:
        extra.append("--overwrite")
    return sh("pretrain", *pool(args), "--method", args.method, "--model", args.model,
              "--chip-size", args.chip_size, "--batch-size", args.pretrain_batch_size,
              "--quiet", "--out", out.relative_to(work), *extra, cwd=work)  # fmt: skip


def fine_tune(args, work: Path, store: Path, fraction: float, seed: int, init: str,
              pretrain_run: Path | None, config: Path | None, out: Path | None = None,
              plan: dict | None = None) -> dict:  # fmt: skip
    """Train one point in this process, evaluate it on the test split; returns its result."""
    from terralearn.config import build_config, load_yaml
    from terralearn.runs.evaluate import evaluate
    from terralearn.runs.train import TrainConfig, train

    plan = plan or run_plan(args, train_chips(store), fraction)
    out = out or work / "runs" / f"{init}_f{fraction:g}_s{seed}"
    out.parent.mkdir(exist_ok=True)
    options = {"model": args.model, "label_fraction": fraction, "seed": seed,
               "epochs": plan["epochs"], "batch_size": plan["batch"], "lr": args.lr,
               "patience": 0}  # fmt: skip
    if init != "scratch":
        options["init_from"] = str(pretrain_run)
    if init == "probe":
        options["freeze_encoder"] = True
    if init == "gentle":
        options["encoder_lr_scale"] = args.gentle
    command = ["terralearn", "train", str(store)]
    for key, value in options.items():
        flag = f"--{key.replace('_', '-')}"
        command += [flag] if value is True else [flag, str(value)]
    command += [*(["--config", str(config)] if config else []), "--quiet", "--overwrite",
                "--out", str(out)]  # fmt: skip
    print("$", shlex.join(command), flush=True)
    print("$", shlex.join(["terralearn", "evaluate", str(out), str(store), "--split", "test"]))
    started, cpu = time.perf_counter(), time.process_time()
    file_values = load_yaml(config) if config else {}
    cfg = build_config(TrainConfig, file_values, store=str(store), out=str(out), progress=False,
                       **options)  # fmt: skip
    train(cfg, overwrite=True, echo=lambda line: None)
    report = evaluate(out, store, split="test", progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "init": init, "fraction": fraction, "seed": seed, **plan,
        "test_miou": report["mean_iou"], "best_val_miou": metrics["best_val_miou"],
        "minutes": round((time.perf_counter() - started) / 60, 3),
        "cpu_minutes": round((time.process_time() - cpu) / 60, 3),
        "train_seconds": metrics["train_seconds"],
        "train_chips_per_second": metrics["train_chips_per_second"],
    }  # fmt: skip


# ---- results ------------------------------------------------------------------------------


def experiment_of(args) -> dict:
    return {k: getattr(args, k) for k in EXPERIMENT_KEYS}


def load_results(path: Path, experiment: dict) -> dict:
    """The results file of this experiment (empty if new); refuses one of another experiment."""
    if not path.is_file():
        return {"experiment": experiment, "runs": [], "minutes": {}}
    data = json.loads(path.read_text())
    if "experiment" not in data:
        sys.exit(
            f"error: {path} was written by an older version of this script, without its "
            "experiment options; move it away or give another --work folder"
        )
    saved = data["experiment"]
    changed = [f"{k}: {saved.get(k)!r} -> {experiment[k]!r}" for k in experiment
               if saved.get(k) != experiment[k]]  # fmt: skip
    if changed:
        sys.exit(
            f"error: {path} holds results of another experiment ({', '.join(changed)}); "
            "give the same options to continue it, or another --work folder"
        )
    return data


def summarise(results: list[dict], inits: list[str], fractions: list[float]) -> list[dict]:
    rows = []
    for f in fractions:
        row: dict = {"fraction": f}
        for init in inits:
            values = [r["test_miou"] for r in results if r["init"] == init and r["fraction"] == f]
            if values:
                row[init] = {
                    "mean": statistics.fmean(values),
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "min": min(values), "max": max(values), "n": len(values),
                }  # fmt: skip
        rows.append(row)
    return rows


def table(rows: list[dict], inits: list[str]) -> str:
    """Markdown: mean ± std per init, then each pretrained variant's gap to scratch in spreads
    (the gap over the larger of the two seed standard deviations)."""
    variants = [i for i in inits if i != "scratch"]
    head = "| labels | train chips | " + " | ".join(f"{i} mIoU" for i in inits)
    head += "".join(f" | {v} - scratch (gap / spread)" for v in variants) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        cells = [f"{row['fraction']:.0%}", str(row.get("chips", ""))]
        cells += [f"{row[i]['mean']:.3f} ± {row[i]['std']:.3f}" if i in row else "-" for i in inits]
        for v in variants:
            if "scratch" in row and v in row:
                gap = row[v]["mean"] - row["scratch"]["mean"]
                spread = max(row[v]["std"], row["scratch"]["std"], 1e-9)
                cells.append(f"{gap:+.3f} ({gap / spread:+.1f})")
            else:
                cells.append("-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], inits: list[str], out: Path, title: str) -> None:
    from terralearn.viz._figure import new_figure, save_figure

    fig = new_figure(6.5, 4.2)
    ax = fig.subplots()
    colors = {"scratch": "tab:gray", "pretrained": "tab:blue", "probe": "tab:orange",
              "gentle": "tab:green"}  # fmt: skip
    for init in inits:
        pts = [(r["fraction"] * 100, r[init]) for r in rows if init in r]
        if not pts:
            continue
        xs = [x for x, _ in pts]
        ax.plot(xs, [s["mean"] for _, s in pts], "o-", color=colors.get(init), label=init)
        ax.fill_between(xs, [s["min"] for _, s in pts], [s["max"] for _, s in pts],
                        color=colors.get(init), alpha=0.2, lw=0)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("labelled training chips (%)")
    ax.set_ylabel("test mIoU (mean, min-max over seeds)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(frameon=False)
    save_figure(fig, out)


# ---- time estimate ------------------------------------------------------------------------


def _line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """``(a, b)`` of the line ``y = a + b x`` through two points."""
    (x0, y0), (x1, y1) = points
    b = (y1 - y0) / (x1 - x0)
    return y0 - b * x0, b


def estimate(args, work: Path, store: Path, config: Path | None) -> dict:
    """Time short samples of each kind of step and project the whole experiment.

    Every cost is a line fitted through two samples of different lengths, so start-up, figures
    and evaluation are told apart from the per-chip and per-epoch costs:

    - pretraining: one epoch of ``E/4`` and of ``E`` chips (``E = --estimate-chips``):
      ``a + b x chips``;
    - fine-tuning (scratch; the pretrained arm costs the same): the smallest fraction for 8 and
      40 epochs (one step each at 1 %: mostly the per-epoch validation and checkpoints) and the
      whole training split for 1 and 3 epochs give a run's fixed cost and the cost of an epoch
      of ``n`` chips, ``v + c x n``; a run of ``e`` epochs of ``n`` chips then costs
      ``fixed + e (v + c n)``.

    Both wall-clock and CPU seconds are projected; the wall clock is what an idle machine would
    show only when nothing else runs (the load average is recorded). On a busy machine run the
    sample with ``--threads 1``: two torch threads fighting other jobs for two cores are several
    times slower than one, and the CPU seconds of one thread are then the one-core cost.
    """
    from terralearn.ssl.data import UnlabelledChips

    sample = work / "estimate"
    sample.mkdir(exist_ok=True)
    load = [os.getloadavg()[0]]
    measured: dict[str, dict] = {}

    pre_points = []
    for chips in (args.estimate_chips // 4, args.estimate_chips):
        out = sample / f"pretrain_{args.method}_{args.model}_{chips}"
        started = time.perf_counter()
        cpu = pretrain(args, work, out, config, fresh=True, epochs=1, chips_per_epoch=chips)
        served = json.loads((out / "metrics.json").read_text())["steps"] * args.pretrain_batch_size
        pre_points.append({"chips": served, "wall": time.perf_counter() - started, "cpu": cpu})
    measured["pretrain"] = {"samples": pre_points}
    epoch_chips = UnlabelledChips([work / p for p in pool(args)], args.chip_size).grid_chips
    pre_chips = args.pretrain_epochs * epoch_chips

    n_train = train_chips(store)
    small = min(args.fractions)
    tune_points: dict[str, list] = {"small": [], "full": []}
    for name, fraction, epoch_list in (("small", small, (8, 40)), ("full", 1.0, (1, 3))):
        base = run_plan(args, n_train, fraction)
        for epochs in epoch_list:
            per_epoch = math.ceil(base["train_chips"] / base["batch"])
            plan = {**base, "epochs": epochs, "steps": epochs * per_epoch}
            r = fine_tune(args, work, store, fraction, 0, "scratch", None, config,
                          out=sample / f"train_{name}_{epochs}", plan=plan)  # fmt: skip
            tune_points[name].append(
                {"epochs": epochs, "chips": base["train_chips"], "wall": r["minutes"] * 60,
                 "cpu": r["cpu_minutes"] * 60}
            )  # fmt: skip
            print(json.dumps({name: tune_points[name][-1]}), flush=True)
    measured["finetune"] = tune_points
    load.append(os.getloadavg()[0])

    data = json.loads((work / "data_timing.json").read_text())
    projection: dict = {"pretrain_epochs": args.pretrain_epochs, "pretrain_chips": pre_chips}
    inits = 2 + args.probe + (args.gentle is not None)
    runs = []
    for clock in ("wall", "cpu"):
        a, b = _line([(p["chips"], p[clock]) for p in pre_points])
        pre = a + b * pre_chips
        # per run: fixed + epochs x (v + c x chips of an epoch)
        lines = {k: _line([(p["epochs"], p[clock]) for p in v]) for k, v in tune_points.items()}
        fixed = statistics.fmean(f for f, _ in lines.values())
        n_small, n_full = tune_points["small"][0]["chips"], tune_points["full"][0]["chips"]
        c = (lines["full"][1] - lines["small"][1]) / (n_full - n_small)
        v = lines["small"][1] - c * n_small
        fine = 0.0
        for i, fraction in enumerate(args.fractions):
            plan = run_plan(args, n_train, fraction)
            seconds = fixed + plan["epochs"] * (v + c * plan["train_chips"])
            fine += seconds * len(args.seeds) * inits
            if clock == "wall":
                runs.append({"fraction": fraction, **plan})
            runs[i][f"{clock}_minutes_per_run"] = round(seconds / 60, 2)
        projection[clock] = {
            "data_minutes": round(data[clock] / 60, 1),
            "pretrain_minutes": round(pre / 60, 1),
            "finetune_minutes": round(fine / 60, 1),
            "run_fixed_seconds": round(fixed, 1), "epoch_seconds": round(v, 2),
            "epoch_seconds_per_chip": round(c, 4),
            "total_minutes": round((data[clock] + pre + fine) / 60, 1),
        }  # fmt: skip
    projection["runs"] = runs
    result = {
        "budget": args.budget, "method": args.method, "model": args.model,
        "threads": args.threads, "load_average": [round(x, 2) for x in load],
        "measured": measured, "projection": projection,
    }  # fmt: skip
    write_json(work / f"estimate_{args.method}_{args.model}.json", result)
    print(json.dumps(projection, indent=2))
    return result


# ---- main ---------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", choices=list(BUDGETS), default="full")
    parser.add_argument("--quick", action="store_true", help="same as --budget quick")
    parser.add_argument("--method", choices=["mae", "contrastive"], default="mae")
    parser.add_argument("--model", default="vit_tiny")
    parser.add_argument("--size", type=int, help="labelled scene side")
    parser.add_argument("--unlabelled-size", type=int)
    parser.add_argument("--chip-size", type=int)
    parser.add_argument("--block-size", type=int, help="spatial split block side")
    parser.add_argument("--buffer", type=int, help="pixels dropped around split blocks")
    parser.add_argument("--pretrain-epochs", type=int)
    parser.add_argument("--pretrain-batch-size", type=int)
    parser.add_argument("--fractions", type=float, nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--steps", type=int, help="optimisation steps per run")
    parser.add_argument(
        "--val", type=float, default=0.05,
        help="validation share: small, as tiny fractions validate every one of many epochs",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--probe", action="store_true", help="also fine-tune a frozen encoder")
    parser.add_argument(
        "--gentle", type=float, metavar="S",
        help="also fine-tune with the encoder's learning rate scaled by S (e.g. 0.1)",
    )  # fmt: skip
    parser.add_argument("--no-sample", action="store_true", help="skip the Sentinel-2 sample")
    parser.add_argument("--work", type=Path, help="work folder [benchmarks/_work/...]")
    parser.add_argument(
        "--estimate", action="store_true",
        help="prepare the data, time a short sample and project the run's time; no experiment",
    )  # fmt: skip
    parser.add_argument("--estimate-chips", type=int, default=4096,
                        help="chips of the longer pretraining sample")  # fmt: skip
    parser.add_argument(
        "--threads", type=int,
        help="torch threads of every step (default: torch's); 1 on a busy machine",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.budget = "quick"
    for key, value in BUDGETS[args.budget].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    suffix = "" if args.budget == "full" else f"_{args.budget}"
    args.work = args.work or WORK_ROOT / f"label_efficiency{suffix}"
    return args


def main() -> None:
    enable_for_cli()  # in-process runs keep freed memory as `terralearn` does (_memory)
    args = parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    tag = f"{args.method}_{args.model}"
    config = write_model_config(work / f"model_{args.model}.yaml", args.model, args.chip_size)
    started = time.perf_counter()
    if args.threads:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the commands run as subprocesses
        torch.set_num_threads(args.threads)
    store = prepare_data(args, work)
    data_minutes = (time.perf_counter() - started) / 60
    if args.estimate:
        estimate(args, work, store, config)
        return

    results_path = work / f"label_efficiency_{tag}.json"
    results = load_results(results_path, experiment_of(args))
    results["args"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    minutes = results.setdefault("minutes", {})
    minutes["data"] = round(minutes.get("data", 0) + data_minutes, 2)
    pretrain_run = work / f"pretrain_{tag}"
    if not (pretrain_run / "metrics.json").exists():  # written when a pretraining finishes
        started = time.perf_counter()
        pretrain(args, work, pretrain_run, config)
        minutes["pretrain"] = round(
            minutes.get("pretrain", 0) + (time.perf_counter() - started) / 60, 2
        )
    results["pretrain_metrics"] = json.loads((pretrain_run / "metrics.json").read_text())
    write_json(results_path, results)

    inits = ["scratch", "pretrained"] + (["probe"] if args.probe else [])
    inits += ["gentle"] if args.gentle is not None else []
    done = {(r["init"], r["fraction"], r["seed"]) for r in results["runs"]}
    for fraction in args.fractions:
        for seed in args.seeds:
            for init in inits:
                if (init, fraction, seed) in done:
                    print(f"done already: {init} f={fraction:g} seed={seed}", flush=True)
                    continue
                result = fine_tune(args, work, store, fraction, seed, init, pretrain_run, config)
                results["runs"].append(result)
                write_json(results_path, results)  # a killed run continues from here
                print(json.dumps(result), flush=True)
    runs = [
        r for r in results["runs"] if r["fraction"] in args.fractions and r["seed"] in args.seeds
    ]
    rows = summarise(runs, inits, args.fractions)
    n_train = train_chips(store)
    for row in rows:
        row["chips"] = max(1, round(n_train * row["fraction"]))
    text = table(rows, inits)
    title = f"{args.model}: {args.method} pretraining vs scratch ({len(args.seeds)} seeds)"
    plot(rows, inits, work / f"label_efficiency_{tag}.png", title)
    minutes["finetune"] = round(sum(r["minutes"] for r in results["runs"]), 2)
    minutes["total"] = round(minutes["data"] + minutes.get("pretrain", 0) + minutes["finetune"], 2)
    results["summary"] = rows
    write_json(results_path, results)
    print(f"\n{title}; data {minutes['data']:.1f} min, pretraining "
          f"{minutes.get('pretrain', 0):.1f} min, fine-tuning {minutes['finetune']:.1f} min\n")  # fmt: skip
    print(text)
    print(f"\nplot: {work / f'label_efficiency_{tag}.png'}")


if __name__ == "__main__":
    main()
