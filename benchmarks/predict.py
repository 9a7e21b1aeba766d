"""Prediction benchmark: overhead over the bare forward pass, peak memory, and Dask.

On synthetic 6-band scenes (``terralearn.datasets.synthetic.make_scene``, made once in
benchmarks/_work/ and reused) and a small trained run (trained once into benchmarks/_work/):

(a) ``terralearn predict`` end to end (``predict_raster``'s own timer, as the CLI prints it)
    divided by the bare network forward over the same tile windows, tile size, overlap and
    batch size, on tensors already in memory (normalised, batches stacked before timing,
    formed as the engine forms them: within blocks of ``tiles_per_block`` tiles). The
    forward is timed on the real tiles of the middle tile row of the layout (every tile row
    has the same tiles and the same batches, and a CNN's CPU time does not depend on pixel
    values) and multiplied by the number of tile rows, with glibc keeping freed memory as
    ``predict_raster`` has it (``terralearn._memory``); it is timed before and after the
    end-to-end runs (the median of both sets), as the load of a shared machine drifts. The
    overlap cost is the same forward over non-overlapping tiles covering each pixel once.
    Beside it, ``predict_raster`` runs in-process with a network that costs nothing (zero
    logits): the overhead alone (reading, softmax, blending, class map, COG); and the CLI
    predicts a one-tile 256 px scene: the fixed start-up (loading the model and Lightning),
    which the ratio can be read without. Target: <= 1.2.
(b) peak RSS of the ``terralearn predict`` CLI subprocess (the same run as (a)): the
    process's ``ru_maxrss`` and the peak sum over its process tree (psutil, every 0.1 s).
    Target: < 2 GB, not growing with the raster.
(c) the same prediction with ``--dask local:2``: time, peak RSS of the whole tree, and the
    number of class-map pixels that differ from the single-process output.

The input file is read once before each run (warm page cache). Wall times on a shared
machine move with the load, so CPU seconds are shown beside them (the CLI's CPU time
includes its start-up: imports and loading the model, ~2-4 s).

    python benchmarks/predict.py [--sizes 4096 8192 16384] [--model unet_small | --run DIR]
        [--tile-size N] [--overlap N] [--batch-size 8] [--repeats 3] [--repeat-max-size 4096]
        [--skip-dask] [--dask-size 8192] [--skip-tile-table] [--skip-null] [--skip-startup]
        [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from terralearn._memory import enable_for_cli

WORK = Path(__file__).resolve().parent / "_work"
OUT = WORK / "predict_out"
GB = 1e9
STARTUP_SIZE = 256  # a one-tile scene


# --------------------------------------------------------------------------- inputs


def ensure_scene(size: int) -> Path:
    """The synthetic ``size x size x 6`` scene in benchmarks/_work/, made once."""
    from terralearn.datasets.synthetic import make_scene

    out = WORK / f"synthetic_{size}.tif"
    if not out.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        print(f"generating {out} ...", flush=True)
        start = time.perf_counter()
        make_scene(out, WORK / f"synthetic_{size}_labels.tif", size=(size, size), seed=0)
        print(f"  {time.perf_counter() - start:.0f} s", flush=True)
    return out


def ensure_run(model: str, epochs: int) -> Path:
    """A run of ``model`` trained briefly on a 1024 px synthetic scene (64 px chips), made once.

    Its weights do not matter here, only the network's cost.
    """
    run = WORK / f"run_{model}"
    if (run / "run.json").exists():
        return run
    from terralearn.datasets.synthetic import make_scene
    from terralearn.runs.train import TrainConfig, train
    from terralearn.store import PrepareConfig, prepare

    print(f"training {run} ({model}, {epochs} epochs) ...", flush=True)
    image, labels, store = (
        WORK / "train_1024.tif",
        WORK / "train_1024_labels.tif",
        WORK / "store_1024_64",
    )
    if not image.exists():
        make_scene(image, labels, size=(1024, 1024), seed=1, overwrite=True, progress=False)
    if not (store / "index.parquet").exists() and not store.exists():
        prepare(
            PrepareConfig(
                images=[str(image)], labels=[str(labels)], out=str(store), chip_size=64,
                block_size=256,
            ),
            overwrite=True, progress=False,
        )  # fmt: skip
    train(
        TrainConfig(store=str(store), out=str(run), model=model, epochs=epochs, progress=False),
        overwrite=True,
    )
    return run


def warm(path: Path) -> None:
    """Read a file once so the timed run starts from a warm page cache."""
    with open(path, "rb") as f:
        while f.read(64 * 2**20):
            pass


def loadavg() -> float:
    return os.getloadavg()[0]


# --------------------------------------------------------------------------- the CLI


@dataclass
class CliRun:
    """One ``terralearn predict`` subprocess."""

    seconds: float  # predict_raster's own timer, as printed by the CLI
    wall: float  # the whole subprocess, start-up included
    cpu: float  # user + system seconds of the process and its (reaped) children
    rss_main: float  # ru_maxrss of the CLI process, bytes
    rss_tree: float  # peak of the RSS summed over the process tree (psutil polling), bytes
    tiles: int
    tile_size: int
    overlap: int
    load: tuple[float, float] = (0.0, 0.0)  # 1-min load average before, after


def terralearn_cmd() -> list[str]:
    script = Path(sys.executable).parent / "terralearn"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from terralearn.cli.main import main; main()"]


def run_cli(args: list[str], poll: float = 0.1) -> CliRun:
    """Run ``terralearn ARGS``, polling the RSS of its process tree until it exits."""
    import psutil

    log = OUT / "cli.log"
    load0 = loadavg()
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen([*terralearn_cmd(), *args], stdout=out, stderr=subprocess.STDOUT)
    root = psutil.Process(proc.pid)
    peak_tree = 0
    while True:
        # wait4 (not Popen.wait) keeps the child's resource usage
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        total = 0
        with contextlib.suppress(psutil.Error):
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
        peak_tree = max(peak_tree, total)
        time.sleep(poll)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text()
    if proc.returncode != 0:
        raise SystemExit(f"terralearn {' '.join(args)} failed ({proc.returncode}):\n{text}")
    m = re.search(r"in (\d+) tiles of (\d+) px, overlap (\d+), ([\d.]+) s", text)
    if m is None:
        raise SystemExit(f"cannot parse the output of terralearn predict:\n{text}")
    return CliRun(
        seconds=float(m[4]), wall=wall, cpu=usage.ru_utime + usage.ru_stime,
        rss_main=usage.ru_maxrss * 1024.0, rss_tree=float(peak_tree), tiles=int(m[1]),
        tile_size=int(m[2]), overlap=int(m[3]), load=(load0, loadavg()),
    )  # fmt: skip


def predict_cli(
    run: Path, image: Path, output: Path, tile: int | None, overlap: int | None, batch: int,
    dask: str | None = None,
) -> CliRun:  # fmt: skip
    args = ["predict", str(run), str(image), str(output), "--quiet", "--overwrite"]
    args += ["--batch-size", str(batch)]
    if tile is not None:
        args += ["--tile-size", str(tile)]
    if overlap is not None:
        args += ["--overlap", str(overlap)]
    if dask:
        args += ["--dask", dask]
    warm(image)
    return run_cli(args)


# --------------------------------------------------------------------------- bare forward


@dataclass
class Forward:
    """Bare network forward over one layout, extrapolated from one tile row."""

    tile_size: int
    overlap: int
    tiles: int
    rows: int
    row_seconds: list[float]  # one per repeat
    row_cpu: list[float]
    forwarded_px: int

    @property
    def seconds(self) -> float:
        return statistics.median(self.row_seconds) * self.rows

    @property
    def cpu(self) -> float:
        return statistics.median(self.row_cpu) * self.rows


def time_forward(net, batches: list, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of forwarding ``batches`` once, per repeat (after a warm-up)."""
    import torch

    from terralearn._memory import retained_memory

    walls, cpus = [], []
    # glibc keeps freed activations for reuse, as predict_raster has it (see terralearn._memory)
    with torch.inference_mode(), retained_memory():
        net(batches[0])  # warm-up: allocator, oneDNN kernels
        for _ in range(repeats):
            w, c = time.perf_counter(), time.process_time()
            for b in batches:
                net(b)
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
    return walls, cpus


def forward_baseline(
    run: Path, image: Path, tile: int | None, overlap: int | None, batch: int, repeats: int,
    extra_tiles: tuple[int, ...] = (), kinds: tuple[str, ...] = ("overlap", "once"),
) -> dict[str, Forward]:  # fmt: skip
    """The bare forward over the layout ``predict_raster`` uses, and over non-overlapping tiles.

    Returns ``{"overlap": ..., "once": ...}`` for the layout of the run (same private
    ``_prepare`` as ``predict_raster``, so the same tile size and overlap), plus
    ``"overlap@T"`` / ``"once@T"`` for each tile size ``T`` in ``extra_tiles`` (same overlap).
    """
    import torch

    from terralearn.predict.api import _prepare
    from terralearn.predict.engine import tiles_per_block
    from terralearn.predict.windows import TileLayout

    predictor, da, layout = _prepare(str(run), str(image), tile, overlap, "smooth")
    task = predictor.module
    net = task.model
    results: dict[str, Forward] = {}
    for t in (layout.tile_size, *extra_tiles):
        lay = TileLayout(layout.height, layout.width, t, layout.overlap)
        once = TileLayout(layout.height, layout.width, t, 0)
        y0 = lay.row_starts[len(lay.row_starts) // 2]
        band = np.asarray(da.isel(y=slice(y0, y0 + lay.tile_h)).values, dtype=np.float32)
        with torch.inference_mode():
            x = task.normalize(torch.from_numpy(band)[None])[0]
        suffix = "" if t == layout.tile_size else f"@{t}"
        for name, lo in (("overlap", lay), ("once", once)):
            if name not in kinds:
                continue
            tiles = [x[:, :, x0 : x0 + lo.tile_w] for x0 in lo.col_starts]
            # batches as the engine forms them: within blocks of tiles_per_block tiles
            per_block = tiles_per_block(lo, batch)
            batches = [
                torch.stack(tiles[i : min(i + batch, b + per_block)]).contiguous()
                for b in range(0, len(tiles), per_block)
                for i in range(b, min(b + per_block, len(tiles)), batch)
            ]
            walls, cpus = time_forward(net, batches, repeats if not suffix else 1)
            del batches, tiles
            results[name + suffix] = Forward(
                tile_size=t, overlap=lo.overlap, tiles=lo.num_tiles, rows=len(lo.row_starts),
                row_seconds=walls, row_cpu=cpus, forwarded_px=lo.num_tiles * lo.tile_h * lo.tile_w,
            )  # fmt: skip
        del x, band
    return results


# --------------------------------------------------------------------------- no network


def null_run(
    run: Path, image: Path, tile: int | None, overlap: int | None, batch: int
) -> tuple[float, float]:
    """``predict_raster`` in this process with the network replaced by one that returns zero
    logits at once: wall and CPU seconds of everything but the forward (reading, nodata,
    softmax, blending, class map, writing the COG; the imports are already done)."""
    import dataclasses

    import torch

    from terralearn.predict import load_predictor, predict_raster

    predictor = load_predictor(str(run))
    k = len(predictor.classes)

    class ZeroLogits(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.new_zeros((x.shape[0], k, *x.shape[2:]))

    null = dataclasses.replace(predictor, module=ZeroLogits(), _proba=False)
    warm(image)
    wall, cpu = time.perf_counter(), time.process_time()
    predict_raster(
        null, image, OUT / "null.tif", tile_size=tile, overlap=overlap, batch_size=batch,
        overwrite=True, progress=False,
    )  # fmt: skip
    return time.perf_counter() - wall, time.process_time() - cpu


# --------------------------------------------------------------------------- outputs


def count_differences(a: Path, b: Path) -> tuple[int, int]:
    """Pixels whose class differs between two class maps, and the pixel count."""
    import rasterio
    from rasterio.windows import Window

    diff = total = 0
    with rasterio.open(a) as da, rasterio.open(b) as db:
        if (da.height, da.width, da.crs, da.transform) != (
            db.height,
            db.width,
            db.crs,
            db.transform,
        ):
            return -1, da.height * da.width
        for y0 in range(0, da.height, 1024):
            w = Window(0, y0, da.width, min(1024, da.height - y0))
            diff += int(np.count_nonzero(da.read(1, window=w) != db.read(1, window=w)))
            total += w.width * w.height
    return diff, total


# --------------------------------------------------------------------------- report


@dataclass
class SizeResult:
    size: int
    e2e: list[CliRun] = field(default_factory=list)
    forward: dict[str, Forward] = field(default_factory=dict)
    null: tuple[float, float] | None = None  # wall, cpu of a run without the network

    @property
    def e2e_seconds(self) -> float:
        return statistics.median(r.seconds for r in self.e2e)

    @property
    def e2e_cpu(self) -> float:
        return statistics.median(r.cpu for r in self.e2e)


def fmt_gb(b: float) -> str:
    return f"{b / GB:.2f}"


def report(
    results: list[SizeResult], dask: dict | None, args, run: Path, startup: float | None
) -> None:
    import torch

    print()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, {torch.get_num_threads()} torch "
        f"threads; Python {platform.python_version()}, torch {torch.__version__}"
    )
    r0 = results[0].forward["overlap"]
    print(
        f"model: {args.model} ({run}), tile {r0.tile_size} px, overlap {r0.overlap} px, "
        f"batch {args.batch_size} tiles, smooth blending, class map COG only"
    )
    print(
        f"forward: median of {args.repeats} passes before and {args.repeats} after the e2e runs "
        f"over the middle tile row x tile rows (non-overlapping: {args.repeats} after); e2e: "
        f"median of {args.repeats} runs up to {args.repeat_max_size} px, 1 run above"
    )
    print("\n(a) end-to-end / bare forward over the same tiles (target <= 1.2)")
    head = (
        f"{'size':>7} {'tiles':>6} {'e2e s':>8} {'fwd s':>8} {'ratio':>6} {'cpu ratio':>9} "
        f"{'once s':>8} {'overlap cost':>12} {'e2e Mpx/s':>9} {'load':>10}"
    )
    print(head)
    for r in results:
        f, o = r.forward["overlap"], r.forward["once"]
        ratio = r.e2e_seconds / f.seconds
        loads = [x for run_ in r.e2e for x in run_.load]
        print(
            f"{r.size:>7} {f.tiles:>6} {r.e2e_seconds:>8.1f} {f.seconds:>8.1f} {ratio:>6.3f} "
            f"{r.e2e_cpu / f.cpu:>9.3f} {o.seconds:>8.1f} {f.seconds / o.seconds:>11.2f}x "
            f"{r.size**2 / 1e6 / r.e2e_seconds:>9.2f} {min(loads):>4.1f}-{max(loads):<4.1f}  "
            f"{'PASS' if ratio <= 1.2 else 'FAIL'}"
        )
    if any(r.null for r in results):
        print("\noverhead alone: predict_raster in-process with a zero-cost network (1 run)")
        print(
            f"{'size':>7} {'wall s':>8} {'cpu s':>8} {'cpu / fwd cpu':>13} {'fwd + null / fwd':>16}"
        )
        for r in results:
            if r.null:
                f = r.forward["overlap"]
                print(
                    f"{r.size:>7} {r.null[0]:>8.1f} {r.null[1]:>8.1f} {r.null[1] / f.cpu:>13.3f} "
                    f"{(f.seconds + r.null[0]) / f.seconds:>16.3f}"
                )
    if startup is not None:
        print(
            f"\nfixed start-up (a {STARTUP_SIZE} px one-tile prediction, median): {startup:.1f} s; "
            "without it, end-to-end / forward:"
        )
        print("  " + ", ".join(
            f"{r.size}: {(r.e2e_seconds - startup) / r.forward['overlap'].seconds:.3f}"
            for r in results
        ))  # fmt: skip
    extra = [k for k in results[-1].forward if "@" in k and k.startswith("overlap")]
    if extra:
        big = results[-1]
        print(f"\noverlap cost by tile size on {big.size} px (forward only, 1 pass, same overlap)")
        print(
            f"{'tile':>6} {'tiles':>6} {'fwd s':>8} {'once s':>8} {'overlap cost':>12} {'px forwarded':>13}"
        )
        for key in ["overlap", *extra]:
            f = big.forward[key]
            o = big.forward[key.replace("overlap", "once")]
            print(
                f"{f.tile_size:>6} {f.tiles:>6} {f.seconds:>8.1f} {o.seconds:>8.1f} "
                f"{f.seconds / o.seconds:>11.2f}x {f.forwarded_px / big.size**2:>12.2f}x"
            )
    print("\n(b) peak RSS of `terralearn predict` (target < 2 GB)")
    print(f"{'size':>7} {'ru_maxrss GB':>12} {'tree peak GB':>12}")
    for r in results:
        print(
            f"{r.size:>7} {fmt_gb(max(x.rss_main for x in r.e2e)):>12} "
            f"{fmt_gb(max(x.rss_tree for x in r.e2e)):>12}  "
            f"{'PASS' if max(x.rss_main for x in r.e2e) < 2 * GB else 'FAIL'}"
        )
    if dask:
        print(f"\n(c) --dask local:2 vs single process on {dask['size']} px")
        print(f"{'mode':>10} {'e2e s':>8} {'cpu s':>8} {'tree peak GB':>12} {'load':>10}")
        for name in ("single", "dask"):
            r = dask[name]
            print(
                f"{name:>10} {r.seconds:>8.1f} {r.cpu:>8.1f} {fmt_gb(r.rss_tree):>12} "
                f"{r.load[0]:>4.1f}-{r.load[1]:<4.1f}"
            )
        diff, total = dask["differences"]
        print(
            f"dask / single: {dask['dask'].seconds / dask['single'].seconds:.3f}; class maps: "
            f"{diff} of {total} pixels differ" + (" (identical)" if diff == 0 else "")
        )


def main() -> None:
    enable_for_cli()  # in-process runs keep freed memory as `terralearn` does (_memory)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192, 16384])
    parser.add_argument("--model", default="unet_small", help="registry model to train a run of")
    parser.add_argument("--run", type=Path, default=None, help="use this run instead")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the benchmark run")
    parser.add_argument("--tile-size", type=int, default=None, help="[the run's default]")
    parser.add_argument("--overlap", type=int, default=None, help="[the run's default]")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--repeat-max-size", type=int, default=4096, help="larger scenes run end to end once"
    )
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--dask-size", type=int, default=8192)
    parser.add_argument(
        "--skip-tile-table", action="store_true",
        help="skip the forward-only overlap cost at 512 px tiles on the largest scene",
    )  # fmt: skip
    parser.add_argument(
        "--skip-null", action="store_true",
        help="skip the in-process run with a zero-cost network (the overhead alone)",
    )  # fmt: skip
    parser.add_argument(
        "--skip-startup", action="store_true",
        help=f"skip timing the fixed start-up (a {STARTUP_SIZE} px, one-tile prediction)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    run = args.run or ensure_run(args.model, args.epochs)
    if args.run:
        args.model = json.loads((run / "run.json").read_text()).get("model", str(run))
    startup = None
    if not args.skip_startup:
        # one tile: what predict_raster spends whatever the raster's size (loading the model
        # and Lightning, the first forward's set-up, the COG)
        image = ensure_scene(STARTUP_SIZE)
        print(f"start-up: terralearn predict on {STARTUP_SIZE} px ...", flush=True)
        startup = statistics.median(
            predict_cli(
                run, image, OUT / "startup.tif", args.tile_size, args.overlap, args.batch_size
            ).seconds
            for _ in range(args.repeats)
        )
        print(f"  {startup:.1f} s", flush=True)
    sizes = sorted(set(args.sizes))
    results = []
    for size in sizes:
        image = ensure_scene(size)
        res = SizeResult(size)
        n = args.repeats if size <= args.repeat_max_size else 1
        # the forward is timed before and after the end-to-end runs: load drifts on a shared box
        print(f"{size}: bare forward, before (load {loadavg():.1f}) ...", flush=True)
        before = forward_baseline(
            run, image, args.tile_size, args.overlap, args.batch_size, args.repeats,
            kinds=("overlap",),
        )["overlap"]  # fmt: skip
        for i in range(n):
            print(
                f"{size}: terralearn predict, run {i + 1}/{n} (load {loadavg():.1f}) ...",
                flush=True,
            )
            r = predict_cli(
                run, image, OUT / f"pred_{size}.tif", args.tile_size, args.overlap, args.batch_size
            )
            print(
                f"  {r.seconds:.1f} s, cpu {r.cpu:.0f} s, rss {fmt_gb(r.rss_main)} GB", flush=True
            )
            res.e2e.append(r)
        extra = ()
        if size == sizes[-1] and not args.skip_tile_table and res.e2e[0].tile_size != 512:
            extra = (512,)
        print(f"{size}: bare forward, after (load {loadavg():.1f}) ...", flush=True)
        res.forward = forward_baseline(
            run, image, args.tile_size, args.overlap, args.batch_size, args.repeats, extra
        )
        f = res.forward["overlap"]
        print(
            f"  {before.seconds:.1f} s before, {f.seconds:.1f} s after, over {f.tiles} tiles "
            f"(load {loadavg():.1f})",
            flush=True,
        )
        f.row_seconds = before.row_seconds + f.row_seconds
        f.row_cpu = before.row_cpu + f.row_cpu
        if not args.skip_null:
            print(f"{size}: predict_raster without the network ...", flush=True)
            res.null = null_run(run, image, args.tile_size, args.overlap, args.batch_size)
            print(f"  {res.null[0]:.1f} s, cpu {res.null[1]:.1f} s", flush=True)
        results.append(res)
    dask = None
    if not args.skip_dask:
        size = args.dask_size
        image = ensure_scene(size)
        single_out = OUT / f"pred_{size}.tif"
        done = [r for r in results if r.size == size]
        if done and single_out.exists():
            single = done[0].e2e[-1]
        else:
            print(f"{size}: terralearn predict (for --dask) ...", flush=True)
            single = predict_cli(
                run, image, single_out, args.tile_size, args.overlap, args.batch_size
            )
        print(f"{size}: terralearn predict --dask local:2 (load {loadavg():.1f}) ...", flush=True)
        dask_out = OUT / f"pred_{size}_dask.tif"
        on_dask = predict_cli(
            run, image, dask_out, args.tile_size, args.overlap, args.batch_size, "local:2"
        )
        dask = {
            "size": size, "single": single, "dask": on_dask,
            "differences": count_differences(single_out, dask_out),
        }  # fmt: skip
    report(results, dask, args, run, startup)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "startup": startup,
                    "results": [
                        {
                            "size": r.size,
                            "null": r.null,
                            "e2e": [asdict(x) for x in r.e2e],
                            "forward": {
                                k: {**asdict(v), "seconds": v.seconds, "cpu": v.cpu}
                                for k, v in r.forward.items()
                            },
                        }
                        for r in results
                    ],
                    "dask": None
                    if dask is None
                    else {
                        "size": dask["size"],
                        "single": asdict(dask["single"]),
                        "dask": asdict(dask["dask"]),
                        "differences": dask["differences"],
                    },
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
