"""How much a random chip split overstates accuracy on real data (issue 16).

Per scene and seed, the same model with the same step budget is trained twice, on a spatial
split and on a random chip split, and both are scored on the spatial split's test region, which
neither model saw (commands printed as they run):

    terralearn prepare IMAGES --labels LABELS --classes CLASSES [--split image] --seed S --out block_SCENE_sS
    terralearn prepare OUTSIDE --labels LABELS --classes CLASSES --split random --chip-size N \\
        --seed S --out random_SCENE_sS
    terralearn train block_SCENE_sS --out run_block_SCENE_sS --min-steps K --max-steps K --seed S
    terralearn train random_SCENE_sS --out run_random_SCENE_sS --min-steps K --max-steps K --seed S

The block store is the spatial split (NC: the default buffered block split; Dubai: whole tiles,
`--split image`); N is its resolved chip size, given to the random store so both cut the same
grid. The random store is drawn only from the chips OUTSIDE the block split's test region:

- `--split image` (Dubai): OUTSIDE = the images of the train and val tiles only;
- block split (NC): OUTSIDE = a copy of the scene (in the work folder, never in the repository)
  whose pixels in every grid chip within the block buffer (one chip by default) of a block-test
  chip are set to the image's nodata, so `prepare`'s `--min-valid` rule (0.5) drops those chips;
  the candidate grid comes from a first `prepare --split random` of the whole scene
  (`grid_SCENE`). The store has no facility to exclude chips after `prepare` (every chip is
  train, val or test, and the band statistics come from the train chips), so the exclusion is
  done on the input, and `prepare` draws the random split among the remaining chips.

The script checks that no chip of the random store lies within the buffer of (or overlaps) a
block-test chip, and that windows both stores hold have identical pixels. Then, on the
labelled pixels valid in every band (the scoring of `benchmarks/real_data.py`):

- the block model on the block store's test chips;
- the random model on the same block-test chips, and on its own random test chips.

Optimism = random model's own-test score minus its block-test score (mIoU and OA); also the
block model minus the random model on the block test. Budgets are optimiser steps
(`--min-steps K --max-steps K`: exactly K steps, the same for both models), so the scores do
not depend on the machine's load; K per scene (`STEPS`) is about what a 3-minute training did
on an idle core.

    python benchmarks/split_optimism.py --scenes nc dubai --jobs 2     # 3 seeds
    python benchmarks/split_optimism.py --quick --scenes nc dubai      # 1 seed, 5 steps: a smoke run

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
import pandas as pd

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
# Optimiser steps per training: about what a 3-minute training did on one idle core
# (NC: 685-687 steps of 16 chips of 32 px in the 3-minute runs of 2026-12-06; Dubai: 19-20
# steps a minute of 16 chips of 128 px in benchmarks/real_data.py's runs).
STEPS = {"nc": 700, "dubai": 60}
QUICK_STEPS = 5
IDENTICAL_SAMPLE = 256  # shared windows whose pixels are compared between the two stores
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


# ---- chip windows -------------------------------------------------------------------------


def windows(store, rename: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per chip: chip_id, split, the source file (``rename``d: a masked copy -> its
    original) and the pixel box (minx, miny, maxx, maxy) = (col, row, col + width, row + height)."""
    rename = rename or {}
    sources = [
        rename.get(str(Path(s).resolve()), str(Path(s).resolve())) for s in store.meta.sources
    ]
    index = store.index
    return pd.DataFrame(
        {
            "chip_id": index["chip_id"].to_numpy(),
            "split": index["split"].to_numpy(),
            "path": np.asarray(sources, dtype=object)[index["source"].to_numpy()],
            "row_off": index["row_off"].to_numpy(),
            "col_off": index["col_off"].to_numpy(),
            "minx": index["col_off"].to_numpy(),
            "miny": index["row_off"].to_numpy(),
            "maxx": (index["col_off"] + index["width"]).to_numpy(),
            "maxy": (index["row_off"] + index["height"]).to_numpy(),
        }
    )


def near_test(chips: pd.DataFrame, test: pd.DataFrame, buffer_px: float) -> np.ndarray:
    """(len(chips),) True where a chip overlaps or lies closer than ``buffer_px`` to a test
    chip of the same source file (the block split's own conflict rule, in pixels)."""
    from terralearn.sampling.splits import box_gaps

    box = ["minx", "miny", "maxx", "maxy"]
    near = np.zeros(len(chips), dtype=bool)
    for path, rows in chips.groupby("path").groups.items():
        same = test[test["path"] == path]
        if same.empty:
            continue
        a, b = chips.loc[rows, box].to_numpy(float), same[box].to_numpy(float)
        gaps = box_gaps(a, b)
        overlap = (
            np.minimum(a[:, None, 2], b[None, :, 2]) > np.maximum(a[:, None, 0], b[None, :, 0])
        ) & (np.minimum(a[:, None, 3], b[None, :, 3]) > np.maximum(a[:, None, 1], b[None, :, 1]))
        near[chips.index.get_indexer(rows)] = ((gaps < buffer_px) | overlap).any(axis=1)
    return near


def block_buffer_px(block) -> float:
    """The block split's buffer in pixels (``--buffer``, default one chip)."""
    from terralearn.store.prepare import parse_distance

    size = block.meta.chip_size
    buffer = _config(block).get("buffer")
    return size if buffer is None else parse_distance(buffer, block.meta.resolution[0], "--buffer")


def write_outside(grid, block, out: Path) -> tuple[list[str], dict[str, str], dict]:
    """Copies of the scene's images with every grid chip near a block-test chip set to nodata.

    Pixels that a kept chip also covers (grid chips overlap at the image edges) stay as they
    are. Returns the images to prepare, in the grid store's order (a masked copy, or the
    original when no chip of it is excluded), the copies' originals, and what was excluded.
    """
    import rasterio

    buffer_px = block_buffer_px(block)
    test = windows(block).query("split == 'test'")
    cells = windows(grid)
    cells["excluded"] = near_test(cells, test, buffer_px)
    out.mkdir(parents=True, exist_ok=True)
    images, originals = [], {}
    for number, source in enumerate(grid.meta.sources):
        path = str(Path(source).resolve())
        rows = cells[cells["path"] == path]
        if not rows["excluded"].any():
            images.append(path)
            continue
        with rasterio.open(path) as src:
            profile, data = src.profile, src.read()
        if profile.get("nodata") is None:
            sys.exit(f"{path} has no nodata value: cannot mask the block-test region out of it")
        drop = np.zeros(data.shape[1:], dtype=bool)
        for r in rows[rows["excluded"]].itertuples():
            drop[r.miny : r.maxy, r.minx : r.maxx] = True
        for r in rows[~rows["excluded"]].itertuples():
            drop[r.miny : r.maxy, r.minx : r.maxx] = False
        data[:, drop] = profile["nodata"]
        copy = (out / f"{number}_{Path(path).name}").resolve()
        with rasterio.open(copy, "w", **profile) as dst:
            dst.write(data)
        images.append(str(copy))
        originals[str(copy)] = path
    excluded = {
        "buffer_px": buffer_px,
        "grid_chips": len(cells),
        "excluded_chips": int(cells["excluded"].sum()),
        "kept_chips": int((~cells["excluded"]).sum()),
        "kept": cells.loc[~cells["excluded"], ["path", "row_off", "col_off"]],
    }
    return images, originals, excluded


def outside_images(block) -> tuple[list[str], list[str]]:
    """Images and labels of the groups that hold no block-test chip (``--split image``)."""
    index = block.index
    test_sources = set(index.loc[index["split"] == "test", "source"])
    used = set(index["source"]) - test_sources
    keep = sorted(used)
    labels = block.meta.labels or []
    if len(labels) != len(block.meta.sources):
        sys.exit(f"{block.path}: one label file per image expected to split by image")
    return [block.meta.sources[i] for i in keep], [labels[i] for i in keep]


# ---- scoring ------------------------------------------------------------------------------


def unet_matrix(task, store, ids: np.ndarray, size: int) -> np.ndarray:
    """(size, size) confusion counts of the U-Net on the scored pixels of chips ``ids``."""
    matrix = np.zeros((size, size), dtype=np.int64)
    for start in range(0, len(ids), CHIP_BATCH):
        chips = store.read(ids[start : start + CHIP_BATCH])
        scored = labelled(chips, store.meta.ignore_index)
        predicted = unet_labels(task, chips["image"], chips["valid"])[scored]
        matrix += confusion(chips["mask"][scored], predicted, size)
    return matrix


def spread(ids: np.ndarray, most: int | None) -> np.ndarray:
    """At most ``most`` of ``ids``, evenly spaced along the store's order (all when None)."""
    if most is None or len(ids) <= most:
        return ids
    return ids[np.unique(np.linspace(0, len(ids) - 1, most).round().astype(int))]


def checks(block, random, rename: dict[str, str], buffer_px: float) -> dict:
    """The random store holds no chip near the block test; shared windows hold equal pixels."""
    ours, theirs = windows(block), windows(random, rename)
    test = ours[ours["split"] == "test"]
    near = int(near_test(theirs, test, buffer_px).sum())
    if near:
        sys.exit(
            f"{random.path}: {near} chip(s) overlap or lie within {buffer_px:g} px of a block-test "
            f"chip of {block.path}; the random model would see the block test region"
        )
    shared = ours.merge(theirs, on=["path", "row_off", "col_off"], suffixes=("_block", "_random"))
    picked = shared.iloc[np.unique(np.linspace(0, len(shared) - 1, IDENTICAL_SAMPLE).astype(int))]
    identical = True
    for a, b in zip(picked["chip_id_block"], picked["chip_id_random"], strict=True):
        one, other = block.read(slice(a, a + 1)), random.read(slice(b, b + 1))
        identical &= all(
            np.array_equal(one[key], other[key], equal_nan=key == "image")
            for key in ("image", "valid", "mask")
        )
    if not identical:
        sys.exit(f"{block.path} and {random.path} hold different pixels at the same window")
    return {
        "random_chips_near_block_test": near,
        "shared_windows": len(shared),
        "shared_windows_compared": len(picked),
        "identical_pixels": bool(identical),
        "buffer_px": buffer_px,
    }


def score_seed(
    block_path: Path, random_path: Path, runs: dict[str, Path], rename: dict, args
) -> dict:
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
    block_test, random_test = (
        spread(block_test, args.score_chips),
        spread(random_test, args.score_chips),
    )
    # whole images (--split image) have no buffer: other images are other places
    buffer_px = 0.0 if _config(block).get("split") == "image" else block_buffer_px(block)
    verified = checks(block, random, rename, buffer_px)

    block_task, _ = load_task(runs["block"])
    random_task, _ = load_task(runs["random"])
    result = {
        "block_on_block": scores(unet_matrix(block_task, block, block_test, size), names),
        "random_on_block": scores(unet_matrix(random_task, block, block_test, size), names),
        "random_on_own": scores(unet_matrix(random_task, random, random_test, size), names),
    }
    own, held, honest = result["random_on_own"], result["random_on_block"], result["block_on_block"]
    return result | {
        "optimism_miou": own["miou"] - held["miou"],
        "optimism_oa": own["oa"] - held["oa"],
        "block_minus_random_miou": honest["miou"] - held["miou"],
        "block_minus_random_oa": honest["oa"] - held["oa"],
        "scored_chips": {"block_test": len(block_test), "random_test": len(random_test)},
        "checks": verified,
        "chip_size": block.meta.chip_size,
        "chips": {"block": block.meta.splits, "random": random.meta.splits},
    }


def _config(store) -> dict:
    import yaml

    return yaml.safe_load((store.path / "config.yaml").read_text())


# ---- one scene ----------------------------------------------------------------------------


def random_store(scene: Scene, seed: int, block_name: str, args) -> tuple[list, dict, dict]:
    """Prepare the random store of one seed from the chips outside the block-test region.

    Returns its prepare command, the masked copies' originals and what was left out.
    """
    from terralearn.store import ChipStore

    block = ChipStore(WORK / block_name)
    chip_size = block.meta.chip_size
    name = f"random_{scene.name}_s{seed}"
    common = ["--classes", scene.classes, *without_split(scene.prepare_args), "--split", "random",
              "--chip-size", chip_size, "--seed", seed]  # fmt: skip
    if _config(block).get("split") == "image":
        images, labels = outside_images(block)
        command = ["prepare", *images, *[a for p in labels for a in ("--labels", p)], *common,
                   "--out", name]  # fmt: skip
        prepare_once(name, command, args)
        left_out = {"images": len(block.meta.sources), "images_kept": len(images)}
        return command, {}, left_out

    # block split: the candidate grid of the whole scene, then a copy with the test region masked
    grid = f"grid_{scene.name}_s{seed}"
    labels = [a for path in scene.labels for a in ("--labels", path)]
    prepare_grid = ["prepare", *scene.images, *labels, *common, "--out", grid]
    prepare_once(grid, prepare_grid, args)
    images, originals, left_out = write_outside(
        ChipStore(WORK / grid), block, WORK / f"outside_{scene.name}_s{seed}"
    )
    command = ["prepare", *images, *labels, *common, "--out", name]
    prepare_once(name, command, args)
    kept = left_out.pop("kept")
    made = windows(ChipStore(WORK / name), originals)[["path", "row_off", "col_off"]]
    if (
        not made.sort_values(list(made))
        .reset_index(drop=True)
        .equals(kept.sort_values(list(kept)).reset_index(drop=True))
    ):
        sys.exit(
            f"{name}: its chips are not the {len(kept)} grid chips outside the block-test "
            f"region ({len(made)} chips); the masking did not work as planned"
        )
    return [*prepare_grid, "&&", *command], originals, left_out


def draw_layout(scene: Scene, seed: int, out: Path) -> None:
    """Chip map of one seed: the block split, and the random store drawn outside its test region."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    from terralearn.store import ChipStore

    colours = {"train": "#4daf4a", "val": "#377eb8", "test": "#e41a1c"}
    block = windows(ChipStore(WORK / f"block_{scene.name}_s{seed}"))
    random = ChipStore(WORK / f"random_{scene.name}_s{seed}")
    grid = windows(ChipStore(WORK / f"grid_{scene.name}_s{seed}"))
    placed = windows(random)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5), sharex=True, sharey=True)
    panels = (("block split (prepare defaults)", block, None),
              ("random split, outside the block test", placed, grid))  # fmt: skip
    for ax, (title, chips, background) in zip(axes, panels, strict=True):
        if background is not None:
            for r in background.itertuples():
                ax.add_patch(Rectangle((r.minx, r.miny), r.maxx - r.minx, r.maxy - r.miny,
                                       facecolor="#dddddd", edgecolor="white"))  # fmt: skip
        for r in chips.itertuples():
            ax.add_patch(Rectangle((r.minx, r.miny), r.maxx - r.minx, r.maxy - r.miny,
                                   facecolor=colours[r.split], edgecolor="white", alpha=0.8))  # fmt: skip
        for r in block[block["split"] == "test"].itertuples():
            ax.add_patch(Rectangle((r.minx, r.miny), r.maxx - r.minx, r.maxy - r.miny,
                                   fill=False, edgecolor="black", linewidth=1.2))  # fmt: skip
        ax.set_title(title)
        ax.set_aspect("equal")
    axes[0].set_xlim(0, grid["maxx"].max())
    axes[0].set_ylim(grid["maxy"].max(), 0)
    handles = [Patch(color=c, label=s) for s, c in colours.items()]
    handles += [Patch(facecolor="#dddddd", label="left out (test region + buffer)"),
                Patch(fill=False, edgecolor="black", label="block-test chips")]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=5, frameon=False)
    fig.suptitle(f"{scene.name}, seed {seed}: chips (pixels; x = column, y = row)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(out, dpi=90)
    plt.close(fig)
    print(f"wrote {out}", flush=True)


def run_scene(scene: Scene, args) -> dict:
    scene.check()
    labels = [a for path in scene.labels for a in ("--labels", path)]
    inputs = [*scene.images, *labels, "--classes", scene.classes]
    steps = args.steps or STEPS[scene.name]
    commands: dict[int, dict] = {}
    originals: dict[int, dict] = {}
    left_out: dict[int, dict] = {}

    # 1. the two chip stores per seed, one after another: the block store first (its chip size)
    for seed in args.seeds:
        block, random = f"block_{scene.name}_s{seed}", f"random_{scene.name}_s{seed}"
        prepare_block = ["prepare", *inputs, *scene.prepare_args, "--seed", seed, "--out", block]
        prepare_once(block, prepare_block, args)
        prepare_random, originals[seed], left_out[seed] = random_store(scene, seed, block, args)
        budget = ["--min-steps", steps, "--max-steps", steps, "--seed", seed]
        commands[seed] = {
            "prepare_block": prepare_block,
            "prepare_random": prepare_random,
            "train_block": ["train", block, "--out", f"run_{block}", *budget],
            "train_random": ["train", random, "--out", f"run_{random}", *budget],
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

    # 3. both models on the block test chips, the random model also on its own; --jobs seeds
    # at a time
    def score_one(seed: int) -> dict:
        c = commands[seed]
        runs = {kind: WORK / c[f"train_{kind}"][3] for kind in ("block", "random")}
        start = time.monotonic()
        scored = score_seed(
            WORK / c["train_block"][1], WORK / c["train_random"][1], runs, originals[seed], args
        )
        scored = {"seed": seed, **scored, "left_out": left_out[seed]}
        scored["train"] = {kind: trained[seed, kind] for kind in ("block", "random")}
        scored["scoring_minutes"] = round((time.monotonic() - start) / 60, 2)
        print(
            f"{scene.name} seed {seed}: block model on block test mIoU "
            f"{scored['block_on_block']['miou']:.3f} | random model on block test "
            f"{scored['random_on_block']['miou']:.3f}, on own test "
            f"{scored['random_on_own']['miou']:.3f} | optimism {scored['optimism_miou']:+.3f} | "
            f"checks {scored['checks']}",
            flush=True,
        )
        return scored

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(score_one, args.seeds))
    if "image" not in scene.prepare_args:
        draw_layout(scene, args.seeds[0], WORK / f"layout_{scene.name}_s{args.seeds[0]}.png")
    summary = summarise(results)
    print_scene(scene, results, summary, steps, args)
    return {
        "scene": scene.__dict__,
        "steps": steps,
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
    for key in ("optimism", "block_minus_random"):
        out[f"{key}_miou"] = mean_sd([r[f"{key}_miou"] for r in results])
        out[f"{key}_oa"] = mean_sd([r[f"{key}_oa"] for r in results])
    return out


def signed(stat: dict) -> str:
    sd = "" if stat["sd"] is None else f" ± {stat['sd']:.3f}"
    return f"{stat['mean']:+.3f}{sd}"


def print_scene(scene: Scene, results: list[dict], s: dict, steps: int, args) -> None:
    spatial = "whole tiles (--split image)" if "image" in scene.prepare_args else "buffered blocks"
    print(
        f"\n## {scene.name}: random chip split (outside the block test) vs spatial split "
        f"({spatial}), default U-Net, {steps} steps per model on {args.threads} thread(s), "
        f"{len(results)} seed(s)\n"
    )
    print("| seed | block test px | random test px | block model, block test mIoU / OA | "
          "random model, block test mIoU / OA | block - random on block test (mIoU / OA) | "
          "random model, own test mIoU / OA | optimism (own - block test) mIoU / OA |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        b, rb, ro = r["block_on_block"], r["random_on_block"], r["random_on_own"]
        print(
            f"| {r['seed']} | {b['pixels']:,} | {ro['pixels']:,} | {b['miou']:.3f} / {b['oa']:.3f} | "
            f"{rb['miou']:.3f} / {rb['oa']:.3f} | {r['block_minus_random_miou']:+.3f} / "
            f"{r['block_minus_random_oa']:+.3f} | {ro['miou']:.3f} / {ro['oa']:.3f} | "
            f"{r['optimism_miou']:+.3f} / {r['optimism_oa']:+.3f} |"
        )
    print(
        f"| mean ± sd | | | {fmt(s['block_on_block_miou'])} / {fmt(s['block_on_block_oa'])} | "
        f"{fmt(s['random_on_block_miou'])} / {fmt(s['random_on_block_oa'])} | "
        f"{signed(s['block_minus_random_miou'])} / {signed(s['block_minus_random_oa'])} | "
        f"{fmt(s['random_on_own_miou'])} / {fmt(s['random_on_own_oa'])} | "
        f"{signed(s['optimism_miou'])} / {signed(s['optimism_oa'])} |"
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
    for r in results:
        print(
            f"\nseed {r['seed']}: left out of the random store {r['left_out']}; checks "
            f"{r['checks']}; scored chips {r['scored_chips']}"
        )
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
    parser.add_argument("--steps", type=int,
                        help=f"optimiser steps per model, every scene [{STEPS}]")  # fmt: skip
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each job [1]")
    parser.add_argument("--jobs", type=int, default=1,
                        help="trainings (and seeds scored) at once [1]")  # fmt: skip
    parser.add_argument("--score-chips", type=int,
                        help="score at most this many chips of each test set, evenly spaced "
                        "in the store's order [all]")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: 1 seed, {QUICK_STEPS} steps")  # fmt: skip
    parser.add_argument("--reuse", action="store_true",
                        help="keep stores and runs made by the same commands (e.g. after a crash)")  # fmt: skip
    parser.add_argument("--json", type=Path, default=WORK / "results.json")
    args = parser.parse_args()
    if args.quick:
        args.seeds = args.seeds[:1]
        args.steps = args.steps or QUICK_STEPS

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
