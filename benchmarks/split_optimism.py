"""How much a random chip split overstates accuracy on real data (issue 16).

Per scene and seed, the same model with the same budget is trained twice, on two chip stores cut
from the same inputs with the same chips (printed as they run):

    terralearn prepare IMAGES --labels LABELS --classes CLASSES [--split image] --seed S --out block_SCENE_sS
    terralearn prepare IMAGES --labels LABELS --classes CLASSES --split random --chip-size N --seed S \\
        --out random_SCENE_sS
    terralearn train block_SCENE_sS --out run_block_SCENE_sS --max-time MIN --seed S
    terralearn train random_SCENE_sS --out run_random_SCENE_sS --max-time MIN --seed S

The first store is the spatial split (NC: the default buffered block split; Dubai: whole tiles,
`--split image`); N is its resolved chip size, given explicitly to the second so that both cut
the same grid of chips. Then, on the labelled pixels valid in every band (the scoring of
`benchmarks/real_data.py`, one confusion matrix per model and test set):

- the block model on the block store's test chips;
- the random model on the same block-test chips (read from the block store; the pixels are
  identical, checked), and on its own random test chips.

Optimism = random model's own-test score minus its block-test score (mIoU and OA). Block-test
chips are matched to the random store by their window (source, row_off, col_off): the share of
them that are TRAINING chips of the random model is the leak, printed beside the optimism.
Printed per scene: one row per seed, mean ± sd over seeds, the trainings, and the published
figures the issue compares with.

    python benchmarks/split_optimism.py                         # nc, 3 seeds, 3 min per model
    python benchmarks/split_optimism.py --scenes nc dubai --jobs 2
    python benchmarks/split_optimism.py --quick                 # 1 seed, 1 minute: a smoke run

Work files go to `benchmarks/_work/split_optimism/`; `--json OUT` writes every number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

# benchmarks/real_data.py (this folder is on sys.path when the script runs)
from real_data import (
    CHIP_BATCH,
    DEFAULT_DATA,
    ROOT,
    Scene,
    confusion,
    done_before,
    fmt,
    labelled,
    mark_done,
    mean_sd,
    presets,
    run_cli,
    scores,
    training_summary,
    unet_labels,
)

WORK = ROOT / "benchmarks" / "_work" / "split_optimism"
WINDOW = ["source", "row_off", "col_off"]
PUBLISHED = (
    "Published (as cited in issue 16): Ploton et al. 2020 (forest biomass): random CV explains "
    "more than half of the variance, spatial CV quasi-null; Hengl et al. 2018: 68 % vs 33 %. "
    "Those are scores of other models and data, comparable in direction, not in value."
)


def without_split(arguments: list[str]) -> list[str]:
    """``arguments`` without a ``--split X`` pair (the random store sets its own)."""
    out, skip = [], False
    for argument in arguments:
        if skip:
            skip = False
        elif argument == "--split":
            skip = True
        else:
            out.append(argument)
    return out


def prepare_once(store: str, command: list[object], args) -> None:
    if args.reuse and done_before(WORK / store, command):
        print(f"reusing {store}: made by the same command", flush=True)
        return
    run_cli([*command, "--overwrite", "--quiet"], args.threads, cwd=WORK)
    mark_done(WORK / store, command)


def unet_matrix(task, store, ids: np.ndarray, size: int) -> np.ndarray:
    """(size, size) confusion counts of the U-Net on the scored pixels of chips ``ids``."""
    matrix = np.zeros((size, size), dtype=np.int64)
    for start in range(0, len(ids), CHIP_BATCH):
        chips = store.read(ids[start : start + CHIP_BATCH])
        scored = labelled(chips, store.meta.ignore_index)
        predicted = unet_labels(task, chips["image"], chips["valid"])[scored]
        matrix += confusion(chips["mask"][scored], predicted, size)
    return matrix


def leak(block, random) -> tuple[dict, np.ndarray]:
    """Where the block-test chips are in the random store (share per split) and their ids there."""
    test = block.index.loc[block.index["split"] == "test", WINDOW]
    matched = test.merge(
        random.index[[*WINDOW, "chip_id", "split"]], on=WINDOW, how="left", validate="one_to_one"
    )
    shares = {
        split: float((matched["split"] == split).mean()) for split in ("train", "val", "test")
    }
    found = matched["chip_id"].dropna().to_numpy(dtype=np.int64)
    return shares | {"chips": len(test), "missing": int(len(test) - len(found))}, found


def score_seed(block_path: Path, random_path: Path, runs: dict[str, Path], args) -> dict:
    import torch

    from terralearn.artifacts import load_task
    from terralearn.store import ChipStore

    torch.set_num_threads(args.threads)
    block, random = ChipStore(block_path), ChipStore(random_path)
    if block.class_names != random.class_names:
        sys.exit(
            f"the two stores have different classes: {block.class_names} vs {random.class_names}"
        )
    names, k = block.class_names, block.num_classes
    size = max(k, 2)
    names = names if k >= 2 else ["background", *names]
    block_test, random_test = block.split_ids("test"), random.split_ids("test")
    if len(block_test) == 0 or len(random_test) == 0:
        sys.exit(f"no test chips in {block_path} or {random_path}: nothing to score")
    shares, in_random = leak(block, random)
    # the same windows must hold the same pixels in both stores
    identical = all(
        np.array_equal(block.read(block_test[i : i + CHIP_BATCH])[key],
                       random.read(in_random[i : i + CHIP_BATCH])[key], equal_nan=key == "image")
        for i in range(0, len(in_random), CHIP_BATCH)
        for key in ("image", "valid", "mask")
    ) if shares["missing"] == 0 else False  # fmt: skip

    block_task, _ = load_task(runs["block"])
    random_task, _ = load_task(runs["random"])
    result = {
        "block_on_block": scores(unet_matrix(block_task, block, block_test, size), names),
        "random_on_block": scores(unet_matrix(random_task, block, block_test, size), names),
        "random_on_own": scores(unet_matrix(random_task, random, random_test, size), names),
    }
    own, held = result["random_on_own"], result["random_on_block"]
    return result | {
        "optimism_miou": own["miou"] - held["miou"],
        "optimism_oa": own["oa"] - held["oa"],
        "leak": shares,
        "identical_pixels": bool(identical),
        "chip_size": block.meta.chip_size,
        "chips": {"block": block.meta.splits, "random": random.meta.splits},
    }


# ---- one scene ----------------------------------------------------------------------------


def run_scene(scene: Scene, args) -> dict:
    scene.check()
    labels = [a for path in scene.labels for a in ("--labels", path)]
    inputs = [*scene.images, *labels, "--classes", scene.classes]
    commands: dict[int, dict] = {}

    # 1. the two chip stores per seed, one after another: the block store first (its chip size)
    for seed in args.seeds:
        block, random = f"block_{scene.name}_s{seed}", f"random_{scene.name}_s{seed}"
        prepare_block = ["prepare", *inputs, *scene.prepare_args, "--seed", seed, "--out", block]
        prepare_once(block, prepare_block, args)
        chip_size = json.loads((WORK / block / "store.json").read_text())["chip_size"]
        prepare_random = ["prepare", *inputs, *without_split(scene.prepare_args),
                          "--split", "random", "--chip-size", chip_size, "--seed", seed,
                          "--out", random]  # fmt: skip
        prepare_once(random, prepare_random, args)
        commands[seed] = {
            "prepare_block": prepare_block,
            "prepare_random": prepare_random,
            **{
                f"train_{kind}": [
                    "train",
                    store,
                    "--out",
                    f"run_{store}",
                    "--max-time",
                    args.minutes,
                    "--seed",
                    seed,
                ]  # fmt: skip
                for kind, store in (("block", block), ("random", random))
            },
        }

    # 2. trainings, --jobs at a time, each on --threads threads
    def train_one(job: tuple[int, str]) -> dict:
        seed, kind = job
        train = commands[seed][f"train_{kind}"]
        run = WORK / train[3]
        if args.reuse and done_before(run, train):
            print(f"reusing {run.name}: trained by the same command", flush=True)
            cpu = json.loads((run / "benchmark_cpu.json").read_text())
        else:
            cpu = run_cli([*train, "--overwrite", "--quiet"], args.threads, cwd=WORK)
            (run / "benchmark_cpu.json").write_text(json.dumps(cpu))
            mark_done(run, train)
        return training_summary(run, cpu)

    jobs = [(seed, kind) for seed in args.seeds for kind in ("block", "random")]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        trained = dict(zip(jobs, pool.map(train_one, jobs), strict=True))

    # 3. scores of both models on the block test chips, and of the random model on its own
    results = []
    for seed, c in commands.items():
        runs = {kind: WORK / c[f"train_{kind}"][3] for kind in ("block", "random")}
        scored = score_seed(WORK / c["train_block"][1], WORK / c["train_random"][1], runs, args)
        scored = {"seed": seed, **scored}
        scored["train"] = {kind: trained[seed, kind] for kind in ("block", "random")}
        results.append(scored)
        print(
            f"{scene.name} seed {seed}: block model on block test mIoU "
            f"{scored['block_on_block']['miou']:.3f} | random model on block test "
            f"{scored['random_on_block']['miou']:.3f}, on own test "
            f"{scored['random_on_own']['miou']:.3f} | optimism {scored['optimism_miou']:+.3f} | "
            f"block-test chips in random train {scored['leak']['train']:.0%} | identical pixels "
            f"{scored['identical_pixels']}",
            flush=True,
        )
    summary = summarise(results)
    print_scene(scene, results, summary, args)
    return {
        "scene": scene.__dict__,
        "commands": {
            str(s): {k: list(map(str, v)) for k, v in c.items()} for s, c in commands.items()
        },
        "seeds": results,
        "summary": summary,
    }


def summarise(results: list[dict]) -> dict:
    out = {}
    for key in ("block_on_block", "random_on_block", "random_on_own"):
        out[f"{key}_miou"] = mean_sd([r[key]["miou"] for r in results])
        out[f"{key}_oa"] = mean_sd([r[key]["oa"] for r in results])
    out["optimism_miou"] = mean_sd([r["optimism_miou"] for r in results])
    out["optimism_oa"] = mean_sd([r["optimism_oa"] for r in results])
    out["leak_train"] = mean_sd([r["leak"]["train"] for r in results])
    return out


def percent(stat: dict) -> str:
    sd = "" if stat["sd"] is None else f" ± {stat['sd']:.0%}"
    return f"{stat['mean']:.0%}{sd}"


def print_scene(scene: Scene, results: list[dict], s: dict, args) -> None:
    spatial = "whole tiles (--split image)" if "image" in scene.prepare_args else "buffered blocks"
    print(
        f"\n## {scene.name}: random chip split vs spatial split ({spatial}), default U-Net, "
        f"{args.minutes} min per model on {args.threads} thread(s), {len(results)} seed(s)\n"
    )
    print("| seed | chip px | block test px | random test px | block model, block test mIoU / OA | "
          "random model, block test mIoU / OA | random model, own test mIoU / OA | "
          "optimism mIoU | optimism OA | block-test chips in random train |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        b, rb, ro = r["block_on_block"], r["random_on_block"], r["random_on_own"]
        print(
            f"| {r['seed']} | {r['chip_size']} | {b['pixels']:,} | {ro['pixels']:,} | "
            f"{b['miou']:.3f} / {b['oa']:.3f} | {rb['miou']:.3f} / {rb['oa']:.3f} | "
            f"{ro['miou']:.3f} / {ro['oa']:.3f} | {r['optimism_miou']:+.3f} | "
            f"{r['optimism_oa']:+.3f} | {r['leak']['train']:.0%} |"
        )
    print(
        f"| mean ± sd | | | | {fmt(s['block_on_block_miou'])} / {fmt(s['block_on_block_oa'])} | "
        f"{fmt(s['random_on_block_miou'])} / {fmt(s['random_on_block_oa'])} | "
        f"{fmt(s['random_on_own_miou'])} / {fmt(s['random_on_own_oa'])} | "
        f"{fmt(s['optimism_miou'])} | {fmt(s['optimism_oa'])} | {percent(s['leak_train'])} |"
    )
    print("\n| seed | split | train / val / test chips | steps | epochs | train min | CPU min | "
          "best val mIoU |")  # fmt: skip
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        for kind in ("block", "random"):
            t, c = r["train"][kind], r["chips"][kind]
            print(
                f"| {r['seed']} | {kind} | {c['train']} / {c['val']} / {c['test']} | "
                f"{t['steps']} | {t['epochs']} | {t['train_minutes']} | "
                f"{t['train_cpu_minutes']} | {t['best_val_miou']:.3f} |"
            )
    missing = sum(r["leak"]["missing"] for r in results)
    if missing:
        print(f"\nWARNING: {missing} block-test chip(s) have no window in the random store")
    print(f"\n{PUBLISHED}\n")


# ---- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenes", nargs="+", choices=["nc", "dubai"], default=["nc"],
                        help="preset scenes to run [nc]")  # fmt: skip
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder holding nc/ and dubai/ [../shared/data/real]")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--minutes", type=float, help="training budget per model [3]")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each job [1]")
    parser.add_argument("--jobs", type=int, default=1, help="trainings run at once [1]")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 1 minute")
    parser.add_argument("--reuse", action="store_true",
                        help="keep stores and runs made by the same commands (e.g. after a crash)")  # fmt: skip
    parser.add_argument("--json", type=Path, default=WORK / "results.json")
    args = parser.parse_args()
    if args.quick:
        args.seeds = args.seeds[:1]
        args.minutes = args.minutes or 1.0
    args.minutes = args.minutes or 3.0

    table = presets(args.data.resolve())
    WORK.mkdir(parents=True, exist_ok=True)
    import torch

    machine = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(f"machine: {machine}", flush=True)
    results = {"machine": machine, "options": {k: str(v) for k, v in vars(args).items()}}
    for name in args.scenes:
        results[name] = run_scene(table[name], args)
        args.json.write_text(json.dumps(results, indent=2, default=str))
    results["machine"]["load_average_end"] = os.getloadavg()
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
