"""Prediction benchmark: one machine against the one-pass limit, seams, and Dask workers.

On synthetic 6-band scenes (``terralearn.datasets.synthetic.make_scene``, made once in
benchmarks/_work/ and reused) and a small trained run (trained once into benchmarks/_work/):

(a) one machine: ``terralearn predict`` end to end (``predict_raster``'s own timer, as the CLI
    prints it) before issue 17 (the older checkout of ``--baseline-src`` with its defaults:
    smooth blending over 256 px tiles, 4x the 64 px training chips, overlap 64, batches of 8,
    float32 NCHW; without ``--baseline-src``, today's code given those options) and with today's
    defaults (``"crop"``: 768 px tiles, 32 px margins, one tile per batch, channels-last),
    both divided by **the one-pass limit**: the bare network forward over non-overlapping tiles
    covering each pixel once, on tensors in memory, with today's device plan (channels-last
    here), at 256 px (batches of 8) and at 1024 px (batches of 1), the faster of the two. The forward is timed on the middle tile row and
    multiplied by the number of tile rows (a CNN's time does not depend on pixel values), with
    glibc keeping freed memory as ``predict_raster`` has it; median of ``--repeats`` passes.
    Target: today's defaults <= 1.35x the limit at 16,384 px. Today's run and the limit are
    measured in ``--rounds`` interleaved pairs (run, then limit: the load they see is alike); the
    verdict is the median of the rounds' ratios, shown with their range. Peak RSS of each CLI
    process. ``--full-limit`` also times the limit itself: every 1024 px tile forwarded once
    (each tile row read and normalised untimed), next to the one-row estimate.
(b) seams: a 2048 px scene predicted with each set of defaults vs one forward pass of the
    whole scene: the share of pixels with the same class (target >= 99.9 %). With
    ``--seam-real RUN IMAGE``, also a real scene at small tiles (many seams) and several
    overlaps, against one tile over the whole scene.
(c) Dask: a real ``dask scheduler`` and two ``dask worker --nthreads 1`` processes on
    127.0.0.1; the client (``terralearn predict ... OUT.zarr --dask ADDRESS`` through
    ``benchmarks/cli_probe.py``): its peak RSS and the bytes it sends over Dask comms, at
    each size, today's worker-side reading and writing next to the client-side reading of an
    older checkout (``--baseline-src DIR``: the ``src`` folder of terralearn at 234d387).

The input file is read once before each run (warm page cache). Wall times on a shared
machine move with the load, so CPU seconds and the load average are shown beside them.

    python benchmarks/predict.py [--sizes 4096 8192 16384] [--model unet_small | --run DIR]
        [--repeats 3] [--rounds 3] [--full-limit] [--seam-size 2048] [--seam-real RUN IMAGE] [--dask-sizes 4096 8192 16384]
        [--baseline-src DIR] [--baseline-dask-sizes 4096 8192] [--candidates 1024:64 ...]
        [--skip-single] [--skip-seams]
        [--skip-dask] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
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
    rss_main: float  # peak RSS of the CLI process (cli_probe.py's VmHWM, else ru_maxrss), bytes
    rss_tree: float  # peak of the RSS summed over the process tree (psutil polling), bytes
    tiles: int
    tile_size: int
    overlap: int
    load: tuple[float, float] = (0.0, 0.0)  # 1-min load average before, after
    client_bytes: int | None = None  # bytes the client sent over Dask comms (cli_probe.py)


def terralearn_cmd() -> list[str]:
    script = Path(sys.executable).parent / "terralearn"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from terralearn.cli.main import main; main()"]


def run_cli(
    args: list[str], poll: float = 0.1, command: list[str] | None = None, env: dict | None = None
) -> CliRun:
    """Run ``terralearn ARGS`` (or ``COMMAND ARGS``), polling the RSS of its process tree until
    it exits."""
    import psutil

    log = OUT / "cli.log"
    load0 = loadavg()
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*(command or terralearn_cmd()), *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )
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
    # today's line names the blending ("overlap 64 (crop), 12.3 s"); older ones did not
    m = re.search(r"in (\d+) tiles of (\d+) px, overlap (\d+)(?: \(\w+\))?, ([\d.]+) s", text)
    if m is None:
        raise SystemExit(f"cannot parse the output of terralearn predict:\n{text}")
    sent = re.search(r"client bytes sent: (\d+)", text)
    peak = re.search(r"peak rss: (\d+)", text)
    return CliRun(
        seconds=float(m[4]), wall=wall, cpu=usage.ru_utime + usage.ru_stime,
        rss_main=float(peak[1]) if peak else usage.ru_maxrss * 1024.0, rss_tree=float(peak_tree), tiles=int(m[1]),
        tile_size=int(m[2]), overlap=int(m[3]), load=(load0, loadavg()),
        client_bytes=int(sent[1]) if sent else None,
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


PROBE = [sys.executable, str(Path(__file__).with_name("cli_probe.py"))]
OLD_DEFAULTS = ["--blend", "smooth", "--tile-size", "256", "--overlap", "64", "--batch-size", "8"]
FULL_LIMIT_TILE = 1024  # --full-limit: tile side of the full pass
LIMIT_TILES = ((256, 8), (1024, 1))  # tile size, batch: the one-pass forward is the faster


@dataclass
class Forward:
    """Bare network forward over non-overlapping tiles, extrapolated from one tile row."""

    tile_size: int
    batch: int
    rows: int
    row_seconds: list[float]  # one per repeat
    row_cpu: list[float]

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


def bare_model(run: Path, image: Path):
    """``(task, device plan, image)`` as predict has them (on this CPU: channels-last)."""
    from terralearn.io import open_image
    from terralearn.predict import load_predictor
    from terralearn.predict.model import check_image

    predictor = load_predictor(str(run), device="auto")
    image_ = check_image(predictor, open_image(str(image), chunks=None), str(image))
    return predictor.module, predictor.plan, image_


def row_tiles(task, da, y0: int, tile: int) -> list:
    """The normalised ``(C, h, tile)`` tiles of the tile row starting at image row ``y0``."""
    import torch

    band = np.asarray(da.isel(y=slice(y0, y0 + tile)).values, dtype=np.float32)
    with torch.inference_mode():
        x = task.normalize(torch.from_numpy(band)[None])[0]
    return [x[:, :, x0 : x0 + tile] for x0 in range(0, int(da.sizes["x"]), tile)]


def one_pass_forward(run: Path, image: Path, tile: int, batch: int, repeats: int) -> Forward:
    """The bare forward over non-overlapping ``tile`` px tiles covering each pixel once."""
    import torch

    task, plan, da = bare_model(run, image)
    height = int(da.sizes["y"])
    tiles = row_tiles(task, da, (height // tile // 2) * tile, tile)
    batches = [
        plan.place_batch(torch.stack(tiles[i : i + batch])) for i in range(0, len(tiles), batch)
    ]
    walls, cpus = time_forward(task.model, batches, repeats)
    return Forward(tile, batch, math.ceil(height / tile), walls, cpus)


def full_pass_forward(run: Path, image: Path, tile: int) -> float:
    """Wall seconds of the bare forward over every non-overlapping ``tile`` px tile of the
    raster once (each tile row read and normalised untimed before its forwards): the limit
    itself rather than one tile row times the rows."""
    import torch

    from terralearn._memory import retained_memory

    task, plan, da = bare_model(run, image)
    total = 0.0
    with torch.inference_mode(), retained_memory():
        for y0 in range(0, int(da.sizes["y"]), tile):
            tiles = [plan.place_batch(t[None]) for t in row_tiles(task, da, y0, tile)]
            if y0 == 0:
                task.model(tiles[0])  # warm-up: allocator, oneDNN kernels
            start = time.perf_counter()
            for t in tiles:
                task.model(t)
            total += time.perf_counter() - start
    return total


# --------------------------------------------------------------------------- seams


def seam_check(run: Path, image: Path) -> dict[str, float]:
    """Share of pixels whose class is the one of a whole-scene forward, per set of defaults."""
    import rasterio

    from terralearn.io import open_image
    from terralearn.predict import load_predictor, predict_array, predict_raster
    from terralearn.predict.model import check_image

    predictor = load_predictor(str(run))
    da = check_image(predictor, open_image(str(image), chunks=None), str(image))
    whole = predictor(np.asarray(da.values, dtype=np.float32)[None])[0].argmax(0)
    before = predict_array(
        predictor, image, tile_size=256, overlap=64, batch_size=8, blend="smooth"
    )
    # today: the class map `terralearn predict` writes (from the logits of the cores' rows)
    out = OUT / "seams_today.tif"
    predict_raster(str(run), str(image), str(out), overwrite=True, progress=False)
    with rasterio.open(out) as src:
        today = src.read(1)
    return {
        "before (smooth, 256 px, overlap 64)": float(np.mean(before.values.argmax(0) == whole)),
        "today (crop, default tiles, overlap 64)": float(np.mean(today == whole)),
    }


def real_seams(
    run: Path, image: Path, tiles: list[int], overlaps: list[int]
) -> dict[tuple[int, int], float]:
    """Share of valid pixels of a (real) scene whose class, with ``crop`` tiles of each size
    and overlap, is the one of a single tile over the whole scene (nodata handled alike)."""
    from terralearn.predict import load_predictor, predict_array

    predictor = load_predictor(str(run))
    whole = predict_array(predictor, image, tile_size=1 << 16).values  # one tile
    valid = ~np.isnan(whole).any(0)
    reference = whole.argmax(0)[valid]
    return {
        (tile, overlap): float(
            np.mean(
                predict_array(predictor, image, tile_size=tile, overlap=overlap).values.argmax(0)[
                    valid
                ]
                == reference
            )
        )
        for overlap in overlaps
        for tile in tiles
    }


# --------------------------------------------------------------------------- Dask


def dask_runs(
    run: Path, sizes: list[int], baseline_src: Path | None, baseline_sizes: list[int]
) -> list[dict]:
    """Client peak RSS and bytes sent, worker-side (today) and client-side (``baseline_src``,
    with workers running that code too)."""
    from terralearn.testing.cluster import dask_cluster

    modes = [("today: workers read and write", None, sizes)]
    if baseline_src is not None:
        modes.append(("before: the client reads and writes", baseline_src, baseline_sizes))
    rows = []
    for name, src, mode_sizes in modes:
        env = {"PYTHONPATH": str(src)} if src is not None else {}
        tag = "old" if src else "new"
        with dask_cluster(OUT / f"cluster_{tag}", workers=2, env=env) as cluster:
            for size in mode_sizes:
                image = ensure_scene(size)
                out = OUT / f"dask_{size}_{tag}.zarr"
                args = ["predict", str(run), str(image), str(out), "--quiet", "--overwrite",
                        "--dask", cluster.address]  # fmt: skip
                print(f"{size}: {name} (load {loadavg():.1f}) ...", flush=True)
                warm(image)
                r = run_cli(args, command=PROBE, env={**os.environ, **env})
                print(
                    f"  {r.seconds:.1f} s, client rss {fmt_gb(r.rss_main)} GB, "
                    f"sent {r.client_bytes / 1e6:.1f} MB",
                    flush=True,
                )
                rows.append({"size": size, "mode": name, **asdict(r)})
    rows.sort(key=lambda row: (row["size"], row["mode"]), reverse=False)
    return rows


# --------------------------------------------------------------------------- report


def round_ratio(round_: dict) -> float:
    """Today's end to end over the limit measured right after it."""
    return round_["today"].seconds / min(f.seconds for f in round_["once"])


def fmt_gb(b: float) -> str:
    return f"{b / GB:.2f}"


def report(
    single: list[dict], seams: dict | None, real: dict | None, dask: list[dict], args, run: Path
) -> None:
    import torch

    print()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, {torch.get_num_threads()} torch "
        f"threads; Python {platform.python_version()}, torch {torch.__version__}; model "
        f"{args.model} ({run})"
    )
    if single:
        print("\n(a) one machine: end to end / the one-pass forward limit (target <= 1.35)")
        print(
            f"{'size':>6} {'once@256 s':>10} {'once@1024 s':>11} {'limit s':>8} "
            f"{'before s':>9} {'ratio':>6} {'rss GB':>7} {'today s':>8} {'ratio':>6} "
            f"{'range':>11} {'rss GB':>7} {'load':>9}"
        )
        for row in single:
            rounds = row["rounds"]
            ratios = [round_ratio(o) for o in rounds]
            ratio = statistics.median(ratios)
            limit = statistics.median(min(f.seconds for f in o["once"]) for o in rounds)
            new = [o["today"] for o in rounds]
            seconds = statistics.median(n.seconds for n in new)
            old = row.get("before")
            loads = [v for n in [*new, *([old] if old else [])] for v in n.load]
            once = [statistics.median(o["once"][i].seconds for o in rounds) for i in (0, 1)]
            before = (
                f"{old.seconds:>9.1f} {old.seconds / limit:>6.2f} {fmt_gb(old.rss_main):>7}"
                if old else f"{'-':>9} {'-':>6} {'-':>7}"
            )  # fmt: skip
            print(
                f"{row['size']:>6} {once[0]:>10.1f} {once[1]:>11.1f} {limit:>8.1f} {before} "
                f"{seconds:>8.1f} {ratio:>6.2f} {min(ratios):>5.2f}-{max(ratios):<5.2f} "
                f"{fmt_gb(max(n.rss_main for n in new)):>7} {min(loads):>4.1f}-{max(loads):<4.1f}"
                f"{'  PASS' if ratio <= 1.35 else '  FAIL'}"
            )
            if len(rounds) > 1:
                print(
                    f"{'':>6} rounds (today s / limit s): "
                    + ", ".join(
                        f"{o['today'].seconds:.1f}/{min(f.seconds for f in o['once']):.1f}"
                        for o in rounds
                    )
                )
            if all("full" in o for o in rounds):
                full = [o["today"].seconds / o["full"] for o in rounds]
                print(
                    f"{'':>6} limit as every {FULL_LIMIT_TILE} px tile forwarded once: median "
                    f"{statistics.median(o['full'] for o in rounds):.1f} s; today / it: median "
                    f"{statistics.median(full):.2f} ({min(full):.2f}-{max(full):.2f}); rounds: "
                    + ", ".join(f"{o['today'].seconds:.1f}/{o['full']:.1f}" for o in rounds)
                )
            for name, cand in row.get("candidates", {}).items():
                print(
                    f"{'':>6} {name:>27}: {cand.seconds:>8.1f} s {cand.seconds / limit:>6.2f} x "
                    f"{fmt_gb(cand.rss_main):>7} GB"
                )
    if seams:
        print(f"\n(b) seams: {args.seam_size} px scene, same class as one whole-scene forward")
        for name, share in seams.items():
            print(f"  {name:<40} {100 * share:8.3f} %  {'PASS' if share >= 0.999 else 'FAIL'}")
    if real:
        print(f"\n(b') seams on {args.seam_real[1]} ({args.seam_real[0]}): same class as one tile")
        print(f"{'overlap':>8} " + " ".join(f"{f'{t} px':>9}" for t in args.seam_real_tiles))
        for overlap in args.seam_real_overlaps:
            shares = [real[(t, overlap)] for t in args.seam_real_tiles]
            print(f"{overlap:>8} " + " ".join(f"{100 * v:>8.2f}%" for v in shares))
    if dask:
        print("\n(c) Dask client (scheduler + 2 workers of 1 thread on this machine), OUT.zarr")
        print(f"{'size':>6} {'mode':<38} {'e2e s':>8} {'client rss GB':>13} {'client sent MB':>14}")
        for row in dask:
            print(
                f"{row['size']:>6} {row['mode']:<38} {row['seconds']:>8.1f} "
                f"{fmt_gb(row['rss_main']):>13} {row['client_bytes'] / 1e6:>14.2f}"
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
    parser.add_argument("--repeats", type=int, default=3, help="passes of the bare forward")
    parser.add_argument(
        "--rounds", type=int, default=3, help="(a) today's run and the limit, this many times",
    )  # fmt: skip
    parser.add_argument(
        "--full-limit", action="store_true",
        help="(a) also the limit as every tile forwarded once (not one row times the rows)",
    )  # fmt: skip
    parser.add_argument("--seam-size", type=int, default=2048)
    parser.add_argument(
        "--seam-real", nargs=2, metavar=("RUN", "IMAGE"), default=None,
        help="(b') also the seams of RUN on a real IMAGE, at small tiles and several overlaps",
    )  # fmt: skip
    parser.add_argument("--seam-real-tiles", type=int, nargs="+", default=[128, 192, 256])
    parser.add_argument("--seam-real-overlaps", type=int, nargs="+", default=[64, 32, 16])
    parser.add_argument("--dask-sizes", type=int, nargs="+", default=[4096, 8192, 16384])
    parser.add_argument(
        "--baseline-src", type=Path, default=None,
        help="src folder of an older terralearn (client-side Dask reading) to compare with",
    )  # fmt: skip
    parser.add_argument("--baseline-dask-sizes", type=int, nargs="+", default=[4096, 8192])
    parser.add_argument(
        "--candidates", nargs="*", default=[], type=lambda v: tuple(map(int, v.split(":"))),
        metavar="TILE:OVERLAP", help="(a) also time crop tiles of these sizes and overlaps",
    )  # fmt: skip
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument("--skip-before", action="store_true", help="(a) without the before run")
    parser.add_argument("--skip-seams", action="store_true")
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    run = args.run or ensure_run(args.model, args.epochs)
    if args.run:
        args.model = json.loads((run / "run.json").read_text()).get("model", str(run))
    single = []
    for size in [] if args.skip_single else sorted(set(args.sizes)):
        image = ensure_scene(size)
        row: dict = {"size": size}
        # before: the older checkout as it was (its defaults), or today's code given them
        before = (OLD_DEFAULTS, None) if args.baseline_src is None else ([], args.baseline_src)
        modes = (("before", before), ("today", ([], None)))
        for name, (extra, src) in modes[1:] if args.skip_before else modes:
            for _ in range(args.rounds if name == "today" else 1):
                print(f"{size}: terralearn predict, {name}'s defaults (load {loadavg():.1f}) ...")
                args_ = ["predict", str(run), str(image), str(OUT / f"pred_{size}_{name}.tif")]
                env = None if src is None else {**os.environ, "PYTHONPATH": str(src)}
                warm(image)
                cli = run_cli([*args_, "--quiet", "--overwrite", *extra], command=PROBE, env=env)
                print(f"  {cli.seconds:.1f} s, rss {fmt_gb(cli.rss_main)} GB", flush=True)
                if name == "before":
                    row[name] = cli
                    continue
                # the limit right after the run it divides: both see a similar load
                once = [one_pass_forward(run, image, t, b, args.repeats) for t, b in LIMIT_TILES]
                print("  once: " + ", ".join(f"{f.tile_size} px {f.seconds:.1f} s" for f in once))
                round_ = {"today": cli, "once": once}
                if args.full_limit:
                    round_["full"] = full_pass_forward(run, image, FULL_LIMIT_TILE)
                    print(f"  every tile once ({FULL_LIMIT_TILE} px): {round_['full']:.1f} s")
                row.setdefault("rounds", []).append(round_)
        for tile, overlap in args.candidates:  # other crop tile sizes and margins, side by side
            name = f"crop {tile}/{overlap}"
            print(f"{size}: terralearn predict, {name} (load {loadavg():.1f}) ...")
            out = OUT / f"pred_{size}_{tile}_{overlap}.tif"
            extra = ["--tile-size", str(tile), "--overlap", str(overlap)]
            warm(image)
            row.setdefault("candidates", {})[name] = run_cli(
                ["predict", str(run), str(image), str(out), "--quiet", "--overwrite", *extra],
                command=PROBE,
            )
            print(f"  {row['candidates'][name].seconds:.1f} s", flush=True)
        single.append(row)
    seams = None if args.skip_seams else seam_check(run, ensure_scene(args.seam_size))
    dask = []
    if not args.skip_dask:
        dask = dask_runs(run, args.dask_sizes, args.baseline_src, args.baseline_dask_sizes)
    real = None
    if args.seam_real:
        real_run, real_image = map(Path, args.seam_real)
        real = real_seams(real_run, real_image, args.seam_real_tiles, args.seam_real_overlaps)
    report(single, seams, real, dask, args, run)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "single": [
                        {
                            "size": r["size"],
                            "before": asdict(r["before"]) if "before" in r else None,
                            "rounds": [
                                {
                                    "today": asdict(o["today"]),
                                    "once": [
                                        {**asdict(f), "seconds": f.seconds} for f in o["once"]
                                    ],
                                    "ratio": round_ratio(o),
                                }
                                for o in r["rounds"]
                            ],
                            "candidates": {
                                k: asdict(v) for k, v in r.get("candidates", {}).items()
                            },
                        }
                        for r in single
                    ],
                    "seams": seams,
                    "real_seams": {f"{t}:{o}": v for (t, o), v in (real or {}).items()},
                    "dask": dask,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
