"""Graphs on points: kNN construction speed, and GNN vs IDW / kriging / random forest accuracy.

Four parts, in one run:

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
4. ``segments``: object-based classification on the synthetic scene, segment GNN vs random
   forest on the same segments vs pixel U-Net, same split (``graphs_segments.py``, its options
   prefixed ``--seg-``, ``--unet-``, ``--gnn-``).

The GNN is :class:`terralearn.graph.learner.GraphLearner` with its defaults (``sage``, knn:8,
200 mini-batch steps: 100 fitting the learned-kriging layer, 100 the GNN residual, early
stopping on validation cells of the *training* points); every option is fixed in code, none
was tuned on these folds (they were chosen on another random field, seed 11, and
matplotlib's topobathy sample). Torch runs single-threaded (see GraphLearner.num_threads).
Run::

    python benchmarks/graphs.py --json benchmarks/_work/graphs.json        # all parts
    python benchmarks/graphs.py --parts field,dem --sizes 1000,10000       # no 10^6 kNN timing
    python benchmarks/graphs.py --quick                                      # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

import graphs_segments  # benchmarks/graphs_segments.py (this folder is on sys.path)
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


def methods(n_train: int, epochs: int | None, gnns: list[str]) -> dict:
    out = {}
    options = {} if epochs is None else {"epochs": epochs}
    for name in gnns:
        out[name] = lambda name=name: make_estimator(name, **options)
    out["idw"] = lambda: make_estimator("idw")
    if n_train <= 20_000:
        out["kriging"] = lambda: make_estimator("kriging")
    out["rf"] = lambda: make_estimator("rf")
    return out


def run_cv(points: PointSet, label: str, folds: int, max_folds: int, block: float,
           epochs: int | None, gnns: list[str]) -> dict:  # fmt: skip
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
    parser.add_argument("--epochs", type=int, default=None,
                        help="GNN training steps (default: GraphLearner's)")  # fmt: skip
    parser.add_argument("--gnns", default="sage", help="comma-separated GNNs to compare")
    parser.add_argument("--parts", default="knn,field,dem,segments",
                        help="comma-separated parts to run")  # fmt: skip
    parser.add_argument("--sizes", default="1000,10000,100000", help="field sizes N to run")
    graphs_segments.add_arguments(parser)
    args = parser.parse_args(argv)
    gnns, parts = args.gnns.split(","), args.parts.split(",")
    quick = args.quick
    results: dict = {"machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                                 "cpus": os.cpu_count(), "load": os.getloadavg()}}  # fmt: skip
    started = time.perf_counter()
    if "knn" in parts:
        sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
        results["knn"] = bench_knn(sizes, 3)
    epochs = 50 if quick else args.epochs
    if "field" in parts:
        field = gaussian_random_field(512, 24.0, seed=1)
        folds_run = {1_000: 5, 10_000: 2, 100_000: 1}
        sizes = [1_000] if quick else [int(n) for n in args.sizes.split(",")]
        results["field"] = []
        for n in sizes:
            points, _ = sample_field(field, n, seed=2, noise=0.1)
            label = f"field N={n:,}"
            max_folds = folds_run.get(n, 1)
            results["field"].append(run_cv(points, label, 5, max_folds, 512 / 5, epochs, gnns))
    if "dem" in parts:
        dem = dem_points(2_000 if quick else 10_000)
        extent = np.ptp(dem.xy, axis=0).max()
        results["dem"] = run_cv(dem, "DEM", 5, 1 if quick else 2, extent / 5, epochs, gnns)
    if "segments" in parts and not quick:
        results["segments"] = graphs_segments.run(args)
        print(graphs_segments.format_table(results["segments"]))
    results["machine"]["load_end"] = os.getloadavg()
    results["seconds"] = time.perf_counter() - started
    print(f"total {results['seconds']:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
