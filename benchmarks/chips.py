"""Chip-extraction speed: terralearn against xbatcher, TorchGeo and the in-memory limit.

Every method makes one full pass over the same regular grid of ``size x size`` chips (stride =
size) of the same GeoTIFF, materialises each chip (numpy array or torch tensor), checks its shape
and adds its first and last element to a checksum. Chip counts and checksums must agree across
methods, so all of them did the same work. The grid covers the largest chip-aligned region at the
scene's top-left corner (the whole scene when its sides are multiples of the chip size), because
xbatcher has no way to reach a partial last row or column.

- ``memory``: the in-memory limit; rasterio reads the region once (timed), numpy copies chips out.
- ``terralearn``: ``terralearn.store.chips.iter_chips``.
- ``xbatcher``: ``rioxarray.open_rasterio`` -> ``xbatcher.BatchGenerator``, ``.values`` per chip.
- ``torchgeo``: a ``RasterDataset`` over the file + ``GridGeoSampler`` (pixel units),
  ``dataset[query]`` per chip, in this process (as a DataLoader with ``num_workers=0``).

Each timed pass opens the file and builds the method's objects itself (that time is included).
File cache: the scene file is read once before any timing and every method runs an untimed
warm-up of a few hundred chips, so all timed passes read from a warm page cache; each pass still
starts from freshly opened files (no GDAL block cache carried over from an earlier pass).

The anchors need torchvision; run in the benchmark environment described in benchmarks/README.md::

    python benchmarks/chips.py --json benchmarks/_work/chips.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import rasterio
from rasterio.windows import Window

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LANDSAT = REPO / "src" / "terralearn" / "datasets" / "data" / "landsat8_sample.tif"
WORK = HERE / "_work"
SYNTH_SIZE = 8192
SYNTH_BANDS = 6

METHODS = ("memory", "terralearn", "xbatcher", "torchgeo")
# terralearn's targets against each reference: (kind, factor)
TARGETS = {"memory": 0.7, "torchgeo": 20.0, "xbatcher": 5.0}


@dataclass
class Region:
    """The chip-aligned region of a scene that every method tiles."""

    path: Path
    height: int  # full scene
    width: int
    bands: int
    dtype: str
    size: int
    rows: int  # chips per column / row of the grid
    cols: int

    @property
    def n_chips(self) -> int:
        return self.rows * self.cols

    @property
    def crop(self) -> tuple[int, int]:
        return self.rows * self.size, self.cols * self.size

    @property
    def cropped(self) -> bool:
        return self.crop != (self.height, self.width)


@dataclass
class Pass:
    seconds: float  # wall clock
    cpu_seconds: float  # process CPU time, all threads: less sensitive to a busy machine
    chips: int
    checksum: int


@dataclass
class MethodResult:
    method: str
    passes: list[Pass] = field(default_factory=list)

    @property
    def median_rate(self) -> float:
        return statistics.median(p.chips / p.seconds for p in self.passes)

    @property
    def median_cpu_rate(self) -> float:
        return statistics.median(p.chips / p.cpu_seconds for p in self.passes)


# --------------------------------------------------------------------------- scenes


def region_of(path: Path, size: int) -> Region:
    with rasterio.open(path) as src:
        h, w, c, dtype = src.height, src.width, src.count, src.dtypes[0]
    if size > h or size > w:
        sys.exit(
            f"error: chip size {size} is larger than {path} ({h} x {w}); use --chip-size <= {min(h, w)}"
        )
    return Region(path, h, w, c, dtype, size, h // size, w // size)


def make_synthetic(size: int = SYNTH_SIZE) -> Path:
    """The synthetic benchmark scene in benchmarks/_work/ (what ``terralearn synth`` writes), made once."""
    from terralearn.datasets.synthetic import make_scene

    out = WORK / f"synthetic_{size}.tif"
    if not out.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        print(f"generating {out} ...", flush=True)
        make_scene(out, WORK / f"synthetic_{size}_labels.tif", size=(size, size), seed=0)
    return out


def warm_file(path: Path) -> None:
    """Read the file's bytes once so every method starts from a warm page cache."""
    with open(path, "rb") as f:
        while f.read(16 * 2**20):
            pass


# --------------------------------------------------------------------------- methods
# Each runner does one pass over (at most ``limit``) chips and returns (chips, checksum).


def _check(chip_shape: tuple[int, ...], expected: tuple[int, ...], method: str) -> None:
    if chip_shape != expected:
        raise RuntimeError(f"{method} gave a chip of shape {chip_shape}, expected {expected}")


def run_memory(reg: Region, limit: int | None = None) -> tuple[int, int]:
    s = reg.size
    ch, cw = reg.crop
    with rasterio.open(reg.path) as src:
        arr = src.read(window=Window(0, 0, cw, ch))
    expected = (reg.bands, s, s)
    n = acc = 0
    for r in range(0, ch, s):
        for c in range(0, cw, s):
            chip = arr[:, r : r + s, c : c + s].copy()
            _check(chip.shape, expected, "memory")
            acc += int(chip.item(0)) + int(chip.item(-1))
            n += 1
            if n == limit:
                return n, acc
    return n, acc


def terralearn_chips(reg: Region):
    """terralearn's chip iterator over the region (the path itself when nothing is cropped)."""
    from terralearn.store.chips import iter_chips

    image: object = reg.path
    if reg.cropped:
        from terralearn.io import open_image

        ch, cw = reg.crop
        image = open_image(reg.path).isel(y=slice(0, ch), x=slice(0, cw))
    return iter_chips(image, reg.size)


def run_terralearn(reg: Region, limit: int | None = None) -> tuple[int, int]:
    expected = (reg.bands, reg.size, reg.size)
    n = acc = 0
    for _, _, chip in terralearn_chips(reg):
        _check(chip.shape, expected, "terralearn")
        acc += int(chip.item(0)) + int(chip.item(-1))
        n += 1
        if n == limit:
            break
    return n, acc


def run_xbatcher(reg: Region, limit: int | None = None) -> tuple[int, int]:
    import rioxarray
    import xbatcher

    s = reg.size
    da = rioxarray.open_rasterio(reg.path)
    gen = xbatcher.BatchGenerator(da, input_dims={"x": s, "y": s})
    expected = (reg.bands, s, s)
    n = acc = 0
    for batch in gen:
        chip = batch.values
        _check(chip.shape, expected, "xbatcher")
        acc += int(chip.item(0)) + int(chip.item(-1))
        n += 1
        if n == limit:
            break
    da.close()
    return n, acc


def _torchgeo_dataset_cls():
    from torchgeo.datasets import RasterDataset

    class Scene(RasterDataset):
        """One GeoTIFF, all bands, as image."""

        is_image = True

    return Scene


def run_torchgeo(reg: Region, limit: int | None = None) -> tuple[int, int]:
    import shapely
    from torchgeo.samplers import GridGeoSampler, Units

    cls = _torchgeo_dataset_cls()
    cls.filename_glob = reg.path.name
    ds = cls(paths=str(reg.path))
    with rasterio.open(reg.path) as src:
        left, top, res_x, res_y = src.bounds.left, src.bounds.top, src.res[0], src.res[1]
    ch, cw = reg.crop
    roi = shapely.box(left, top - ch * res_y, left + cw * res_x, top)
    sampler = GridGeoSampler(ds, size=reg.size, stride=reg.size, roi=roi, units=Units.PIXELS)
    if len(sampler) != reg.n_chips:
        raise RuntimeError(f"torchgeo's sampler has {len(sampler)} chips, expected {reg.n_chips}")
    expected = (reg.bands, reg.size, reg.size)
    n = acc = 0
    for query in sampler:
        chip = ds[query]["image"]
        _check(tuple(chip.shape), expected, "torchgeo")
        a = chip.numpy()
        acc += int(a.item(0)) + int(a.item(-1))
        n += 1
        if n == limit:
            break
    # RasterDataset caches open file handles per instance in a class-level lru_cache; release them
    # so the next pass starts from a fresh handle (no GDAL block cache carried over).
    from torchgeo.datasets import RasterDataset

    RasterDataset._cached_load_warp_file.cache_clear()
    return n, acc


RUNNERS: dict[str, Callable[[Region, int | None], tuple[int, int]]] = {
    "memory": run_memory,
    "terralearn": run_terralearn,
    "xbatcher": run_xbatcher,
    "torchgeo": run_torchgeo,
}


def _release() -> None:
    """Close files that rioxarray keeps open between passes and collect garbage."""
    try:
        from xarray.backends.file_manager import FILE_CACHE

        FILE_CACHE.clear()
    except ImportError:
        pass
    gc.collect()


def time_pass(method: str, reg: Region) -> Pass:
    _release()
    c0, t0 = time.process_time(), time.perf_counter()
    n, acc = RUNNERS[method](reg, None)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return Pass(seconds, cpu, n, acc)


# --------------------------------------------------------------------------- reporting


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("numpy", "rasterio", "xarray", "rioxarray", "xbatcher", "torch", "torchgeo"):
        m = sys.modules.get(mod)
        if m is not None:
            versions[mod] = getattr(m, "__version__", "?")
    import terralearn

    versions["terralearn"] = terralearn.__version__
    versions["gdal"] = rasterio.__gdal_version__
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def target_checks(results: dict[str, MethodResult]) -> list[dict]:
    checks = []
    tl = results.get("terralearn")
    if tl is None:
        return checks
    for ref, factor in TARGETS.items():
        if ref not in results:
            continue
        ratio = tl.median_rate / results[ref].median_rate
        cpu_ratio = tl.median_cpu_rate / results[ref].median_cpu_rate
        check = {"target": f">= {factor:g}x {ref}", "ratio": ratio, "cpu_ratio": cpu_ratio}
        check["pass"] = ratio >= factor
        if ref != "memory" and "memory" in results:
            # the ceiling for any reader of this file: the in-memory limit's own ratio
            check["memory_ratio"] = results["memory"].median_rate / results[ref].median_rate
        checks.append(check)
    return checks


def print_scene(reg: Region, results: dict[str, MethodResult], checks: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 124))  # a pipe gets 80 columns: too narrow
    crop = f", grid over the top-left {reg.crop[0]} x {reg.crop[1]} px" if reg.cropped else ""
    title = (
        f"{reg.path.name}: {reg.height} x {reg.width} x {reg.bands} {reg.dtype}, "
        f"chip {reg.size}, {reg.rows} x {reg.cols} = {reg.n_chips} chips{crop}"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("method")
    table.add_column("chips/s (median)", justify="right")
    table.add_column("range", justify="right")
    table.add_column("passes", justify="right")
    table.add_column("s / pass", justify="right")
    table.add_column("x in-memory", justify="right")
    table.add_column("terralearn speed-up", justify="right")
    table.add_column("chips/CPU-s", justify="right")
    mem = results.get("memory")
    tl = results.get("terralearn")
    for name, res in results.items():
        rates = [p.chips / p.seconds for p in res.passes]
        secs = statistics.median(p.seconds for p in res.passes)
        table.add_row(
            name,
            f"{res.median_rate:,.0f}",
            f"{min(rates):,.0f}-{max(rates):,.0f}",
            str(len(res.passes)),
            f"{secs:.3f}",
            f"{res.median_rate / mem.median_rate:.3f}" if mem else "-",
            f"{tl.median_rate / res.median_rate:.1f}x" if tl and name != "terralearn" else "-",
            f"{res.median_cpu_rate:,.0f}",
        )
    console.print(table)
    for c in checks:
        verdict = "[green]PASS[/]" if c["pass"] else "[red]FAIL[/]"
        console.print(
            f"  terralearn {c['target']}: {c['ratio']:.2f}x  {verdict}"
            f"  (per CPU-second: {c['cpu_ratio']:.2f}x"
            + (f"; in-memory limit: {c['memory_ratio']:.2f}x" if "memory_ratio" in c else "")
            + ")"
        )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--scene",
        action="append",
        type=Path,
        help="GeoTIFF to tile (repeatable); "
        f"default: the Landsat sample and a synthetic {SYNTH_SIZE} x {SYNTH_SIZE} x "
        f"{SYNTH_BANDS} scene generated into benchmarks/_work/",
    )
    p.add_argument("--chip-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3, help="timed passes per method and scene")
    p.add_argument(
        "--warmup-chips", type=int, default=256, help="chips in each method's untimed warm-up pass"
    )
    p.add_argument(
        "--min-seconds",
        type=float,
        default=2.0,
        help="keep making passes (up to 50) until their total time reaches this",
    )
    p.add_argument(
        "--skip", action="append", default=[], choices=METHODS, help="skip a method (repeatable)"
    )
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    methods = [m for m in METHODS if m not in args.skip]
    scenes = args.scene or [LANDSAT, make_synthetic()]
    out: dict = {"chip_size": args.chip_size, "repeats": args.repeats, "scenes": []}
    ok = True
    for path in scenes:
        reg = region_of(Path(path), args.chip_size)
        print(
            f"\n{reg.path}: warming the file cache, then {args.repeats} timed passes per method",
            flush=True,
        )
        load_before = os.getloadavg()
        warm_file(reg.path)
        results: dict[str, MethodResult] = {}
        for m in methods:
            try:
                RUNNERS[m](reg, args.warmup_chips)  # untimed warm-up: imports, first calls
            except ImportError as e:
                sys.exit(
                    f"error: cannot run {m}: no module {e.name!r} in this Python; use the benchmark "
                    f"environment of benchmarks/README.md, or pass --skip {m}"
                )
            res = results[m] = MethodResult(m)
            # short passes (small scenes) repeat until --min-seconds so the median means something
            while len(res.passes) < args.repeats or (
                sum(p.seconds for p in res.passes) < args.min_seconds and len(res.passes) < 50
            ):
                p = time_pass(m, reg)
                res.passes.append(p)
                if p.seconds > 1:
                    print(f"  {m} pass {len(res.passes)}: {p.seconds:.2f} s", flush=True)
            print(f"  {m:<11} {res.median_rate:>12,.0f} chips/s  ({p.chips} chips)", flush=True)
        counts = {m: {p.chips for p in r.passes} for m, r in results.items()}
        sums = {m: {p.checksum for p in r.passes} for m, r in results.items()}
        same = (
            all(c == {reg.n_chips} for c in counts.values())
            and len(set().union(*sums.values())) <= 1
        )
        if not same:
            print(f"  [!] methods disagree: chips {counts}, checksums {sums}")
            ok = False
        checks = target_checks(results)
        print_scene(reg, results, checks)
        out["scenes"].append(
            {
                "path": str(reg.path),
                "shape": [reg.bands, reg.height, reg.width],
                "dtype": reg.dtype,
                "grid": {
                    "rows": reg.rows,
                    "cols": reg.cols,
                    "chips": reg.n_chips,
                    "region": list(reg.crop),
                },
                "verified_same_chips": same,
                "loadavg_before_after": [load_before, os.getloadavg()],
                "methods": {
                    m: {
                        "median_chips_per_s": r.median_rate,
                        "median_chips_per_cpu_s": r.median_cpu_rate,
                        "passes": [asdict(p) for p in r.passes],
                    }
                    for m, r in results.items()
                },
                "targets": checks,
            }
        )
    out["machine"] = machine()
    out["warm_cache"] = (
        "scene file read once before timing; each method runs an untimed warm-up of "
        f"{args.warmup_chips} chips; each timed pass reopens the file"
    )
    out["min_seconds"] = args.min_seconds
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=float))
        print(f"\nwrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
