"""Precision and memory layout of the prediction forward on this machine's CPU (issue 17).

Times :class:`terralearn.predict.Predictor` calls (the code ``predict`` runs per batch: tiles to
the device, forward under the plan's precision, softmax, float32 numpy back) of U-Nets on
batches of real-valued tiles, under each option, side by side in one process:

- ``fp32``: the baseline (float32, contiguous NCHW);
- ``channels_last``: weights and inputs in NHWC;
- ``bf16``: ``torch.autocast("cpu", dtype=torch.bfloat16)``;
- ``channels_last+bf16``;
- ``compile``: ``torch.compile`` of the network (inductor), float32; its compile time (the
  first call per batch shape) is reported separately.

Each option is timed as the median of ``--repeats`` calls after ``--warmup`` calls (spread =
min-max); the timed calls go round-robin over the options, one call of each per round, so the
load of a shared machine drifts over all options alike. Each option's class map (argmax) is
compared with fp32's: the fraction of pixels whose class differs. The models are the registry's ``unet_small`` and ``unet`` trained briefly on a
1024 px synthetic scene (``benchmarks/predict.py``'s ``ensure_run``, reused from
benchmarks/_work/) so the class maps are a trained model's, not a random one's ties; the tiles
are that 6-band scene (four 512 px quadrants, or the whole 1024 px).

    python benchmarks/predict_device.py [--models unet_small unet] [--repeats 5] [--warmup 2]
        [--shapes 4x512 1x1024] [--options fp32 channels_last bf16 channels_last+bf16 compile]
        [--epochs 2] [--json PATH] [--table-from PATH]

Table cells: median seconds per call (min-max), the speed-up over fp32 (the median over rounds
of fp32's time / the option's time in the same round), the share of pixels whose class differs
from fp32's, and compile's first call.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

from terralearn._memory import enable, retained_memory
from terralearn.models import device_plan
from terralearn.predict import load_predictor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict import WORK, ensure_run  # noqa: E402  (the benchmark run, made once)

OPTIONS = ("fp32", "channels_last", "bf16", "channels_last+bf16", "compile")


def plan_for(option: str):
    """The CPU plan of an option (compile is fp32 with a compiled network)."""
    base = device_plan("cpu")
    return dataclasses.replace(
        base,
        autocast=torch.bfloat16 if "bf16" in option else None,
        channels_last="channels_last" in option,
    )


def tiles(shape: str) -> np.ndarray:
    """``"4x512"`` -> four 512 px quadrants of the training scene; ``"1x1024"`` -> all of it."""
    count, side = (int(v) for v in shape.split("x"))
    with rasterio.open(WORK / "train_1024.tif") as src:
        scene = src.read().astype(np.float32)
    per_row = scene.shape[1] // side
    out = [
        scene[:, r * side : (r + 1) * side, c * side : (c + 1) * side]
        for r in range(per_row)
        for c in range(per_row)
    ]
    return np.stack(out[:count])


def bench_model(model: str, args) -> list[dict]:
    """Every option on every batch shape; the timed calls go round-robin over the options
    (one call of each per round), so a shared machine's changing load hits all alike."""
    run = ensure_run(model, args.epochs)
    rows = []
    for shape in args.shapes:
        batch = tiles(shape)
        predictors, first, times = {}, {}, {}
        for option in args.options:
            predictor = load_predictor(run)  # its own copy: layout and compile do not leak
            predictor.to(plan=plan_for(option))
            if option == "compile":
                predictor.module.model = torch.compile(predictor.module.model)
            try:
                start = time.perf_counter()
                predictor(batch)  # the first call (compiles)
                first[option] = time.perf_counter() - start
                for _ in range(args.warmup - 1):
                    predictor(batch)
            except Exception as error:  # e.g. inductor without a C++ compiler
                print(f"{model} {shape} {option}: failed: {type(error).__name__}: {error}")
                rows.append({"model": model, "shape": shape, "option": option, "error": str(error)})
                continue
            predictors[option], times[option] = predictor, []
        for _ in range(args.repeats):
            for option, predictor in predictors.items():
                start = time.perf_counter()
                predictor(batch)
                times[option].append(time.perf_counter() - start)
        reference = predictors["fp32"](batch).argmax(axis=1)
        for option, predictor in predictors.items():
            labels = predictor(batch).argmax(axis=1)
            row = {
                "model": model,
                "shape": shape,
                "option": option,
                "median_s": statistics.median(times[option]),
                "min_s": min(times[option]),
                "max_s": max(times[option]),
                "first_call_s": first[option],
                "argmax_differs": float(np.mean(labels != reference)),
                "times_s": times[option],
                "load": os.getloadavg()[0],
            }
            rows.append(row)
            print(
                f"{model:10s} {shape:7s} {option:20s} median {row['median_s']:.3f} s "
                f"({row['min_s']:.3f}-{row['max_s']:.3f}), first call {first[option]:.1f} s, "
                f"argmax differs {row['argmax_differs']:.2e}, load {row['load']:.1f}",
                flush=True,
            )
        del predictors
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: one row per model and batch, one column per option (median, spread, vs fp32)."""
    options = list(dict.fromkeys(r["option"] for r in rows))
    lines = [
        "| model | batch | " + " | ".join(options) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in options) + " |",
    ]
    for key in dict.fromkeys((r["model"], r["shape"]) for r in rows):
        cells = []
        base = next(
            (r for r in rows if (r["model"], r["shape"]) == key and r["option"] == "fp32"), None
        )
        for option in options:
            r = next(r for r in rows if (r["model"], r["shape"], r["option"]) == (*key, option))
            if "error" in r:
                cells.append("failed")
                continue
            text = f"{r['median_s']:.2f} s ({r['min_s']:.2f}-{r['max_s']:.2f})"
            if base is not None and option != "fp32":
                # speed-up paired by round (one call of each option per round): the median of
                # fp32 / option over the rounds, less moved by the load than a ratio of medians
                ratios = [b / t for b, t in zip(base["times_s"], r["times_s"], strict=True)]
                text += f", x{statistics.median(ratios):.2f}"
                text += f", {100 * r['argmax_differs']:.3f} % px"
            if option == "compile":
                text += f", compile {r['first_call_s']:.0f} s"
            cells.append(text)
        model, shape = key
        count, side = shape.split("x")
        lines.append(f"| {model} | {count} x 6 x {side} x {side} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cpu_bf16_flags() -> str:
    """The CPU's bfloat16 instructions (``amx_bf16``, ``avx512_bf16``), from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return "unknown"
    return ", ".join(sorted({f for f in flags if f in ("amx_bf16", "avx512_bf16")})) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["unet_small", "unet"])
    parser.add_argument("--shapes", nargs="+", default=["4x512", "1x1024"])
    parser.add_argument("--options", nargs="+", default=list(OPTIONS), choices=OPTIONS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--table-from", type=Path, default=None, help="Print the table of a --json file, no runs."
    )
    args = parser.parse_args()
    if args.table_from:
        print(table(json.loads(args.table_from.read_text())))
        return
    if args.options[0] != "fp32":
        parser.error("--options must start with fp32 (the reference of the argmax comparison)")
    WORK.mkdir(parents=True, exist_ok=True)
    enable()  # glibc keeps freed activations, as in `terralearn predict`
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, torch {torch.__version__} on {torch.get_num_threads()} "
        f"threads, C++ compiler for inductor: {shutil.which('g++') or shutil.which('cc')}, "
        f"CPU: {torch.backends.cpu.get_cpu_capability()}, bf16 flags: {cpu_bf16_flags()}",
        flush=True,
    )
    rows = []
    with retained_memory():
        for model in args.models:
            rows += bench_model(model, args)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
