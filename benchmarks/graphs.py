"""Graphs on points: kNN construction speed, and GNN vs IDW / kriging / random forest accuracy.

Three parts, in one run:

1. ``knn``: :func:`terralearn.graph.build.knn_graph` (k=8, self excluded, edge_index built)
   against the bare limit, scipy ``cKDTree(xy)`` + ``tree.query(xy, k=9)`` (k + 1 because every
   point finds itself first), on the same uniform random points, 10^4 / 10^5 / 10^6. Best of
   ``--repeats``; both use all cores (``workers=-1``). Target: ratio <= 1.3 at every size.
2. ``field``: a seeded Gaussian random field (512 x 512 px, Gaussian covariance, length scale
   24 px) sampled at N = 1,000 / 10,000 / 100,000 distinct pixels plus noise (sd 0.1); spatial
   block k-fold (5 folds of ~100 px blocks). RMSE against the noisy observations of the test
   fold, fit and predict times summed over the folds run. Kriging (PyKrige, spherical variogram,
   64-point moving window) stops above 20,000 training points: its variogram fit holds every
   pair distance (N^2/2 doubles: 32 GB at 90,000 points).
3. ``dem``: real data shipped with matplotlib: the Jacksboro fault DEM (344 x 403, 3 arc-second
   cells, elevation 236-1076 m), 10,000 random cells as lon/lat points, projected to UTM.

Torch runs single-threaded (see GraphLearner.num_threads). Run::

    python benchmarks/graphs.py --json benchmarks/_work/graphs.json        # about 12 minutes
    python benchmarks/graphs.py --quick                                      # about 1 minute
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

from terralearn.graph.baselines import make_estimator
from terralearn.graph.build import knn_graph
from terralearn.graph.fields import gaussian_random_field, sample_field
from terralearn.graph.points import PointSet, project_lonlat
from terralearn.graph.validation import cross_validate, format_table


def bench_knn(sizes: list[int], repeats: int, k: int = 8) -> list[dict]:
    from scipy.spatial import cKDTree

    rows = []
    for n in sizes:
        xy = np.random.default_rng(n).uniform(0, 1000, (n, 2))
        bare, ours = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            tree = cKDTree(xy)
            tree.query(xy, k=k + 1, workers=-1)
            bare.append(time.perf_counter() - start)
            start = time.perf_counter()
            graph = knn_graph(xy, k)
            ours.append(time.perf_counter() - start)
            assert graph.num_edges == n * k
        row = {"n": n, "bare_s": min(bare), "terralearn_s": min(ours)}
        row["ratio"] = row["terralearn_s"] / row["bare_s"]
        row["us_per_point"] = 1e6 * row["terralearn_s"] / n
        rows.append(row)
        print(f"knn n={n:>9,}: bare {row['bare_s']:.3f} s, terralearn {row['terralearn_s']:.3f} s, "
              f"ratio {row['ratio']:.2f}", flush=True)  # fmt: skip
    return rows


def methods(n_train: int, epochs: int, gnns: list[str]) -> dict:
    out = {}
    for name in gnns:
        out[name] = lambda name=name: make_estimator(name, epochs=epochs)
    out["idw"] = lambda: make_estimator("idw")
    if n_train <= 20_000:
        out["kriging"] = lambda: make_estimator("kriging")
    out["rf"] = lambda: make_estimator("rf")
    return out


def run_cv(points: PointSet, label: str, folds: int, max_folds: int, block: float, epochs: int,
           gnns: list[str]) -> dict:  # fmt: skip
    n_train = int(len(points) * (folds - 1) / folds)
    result = cross_validate(
        points, methods(n_train, epochs, gnns), folds=folds, block_size=block,
        max_folds=max_folds,
        on_result=lambda r: print(f"  {label} fold {r['fold']} {r['method']:8s} rmse {r['rmse']:.4f} "
                                  f"fit {r['fit_s']:.1f} s predict {r['predict_s']:.2f} s", flush=True),
    )  # fmt: skip
    summary = result.summary()[["rmse", "mae", "r2", "fit_s", "predict_s", "n_test"]]
    print(
        f"\n{label}: {len(points):,} points, {max_folds} of {folds} folds\n"
        + format_table(summary)
        + "\n",
        flush=True,
    )
    return {
        "label": label,
        "n": len(points),
        "folds_run": max_folds,
        "table": summary.reset_index().to_dict("records"),
    }


def dem_points(n: int, seed: int = 0) -> PointSet:
    from matplotlib import cbook

    dem = cbook.get_sample_data("jacksboro_fault_dem.npz")
    z = dem["elevation"].astype(np.float64)
    rows, cols = z.shape
    flat = np.random.default_rng(seed).choice(rows * cols, n, replace=False)
    r, c = np.divmod(flat, cols)
    lon = float(dem["xmin"]) + (c + 0.5) * float(dem["dx"])
    lat = float(dem["ymin"]) - (r + 0.5) * float(dem["dy"])
    xy, crs = project_lonlat(np.column_stack([lon, lat]))
    return PointSet(xy=xy, crs=crs, target=z[r, c], target_name="elevation", source="jacksboro DEM")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke run)")
    parser.add_argument("--json", default=None, help="write all results here")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--gnns", default="sage", help="comma-separated GNNs to compare")
    args = parser.parse_args(argv)
    gnns = args.gnns.split(",")
    quick = args.quick
    results: dict = {"machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                                 "cpus": os.cpu_count(), "load": os.getloadavg()}}  # fmt: skip
    started = time.perf_counter()
    results["knn"] = bench_knn([10_000, 100_000] if quick else [10_000, 100_000, 1_000_000], 3)
    field = gaussian_random_field(512, 24.0, seed=1)
    block = 512 / 5
    plan = [(1_000, 5)] if quick else [(1_000, 5), (10_000, 2), (100_000, 1)]
    epochs = 50 if quick else args.epochs
    results["field"] = []
    for n, max_folds in plan:
        points, _ = sample_field(field, n, seed=2, noise=0.1)
        results["field"].append(run_cv(points, f"field N={n:,}", 5, max_folds, block, epochs, gnns))
    dem = dem_points(2_000 if quick else 10_000)
    extent = np.ptp(dem.xy, axis=0).max()
    results["dem"] = run_cv(dem, "DEM", 5, 1 if quick else 2, extent / 5, epochs, gnns)
    results["seconds"] = time.perf_counter() - started
    print(f"total {results['seconds']:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
