"""Label efficiency: fine-tuning from a self-supervised encoder against training from scratch.

Every step is the `terralearn` command a user would run (printed as it runs):

    terralearn synth unlabelled.tif --labels unused.tif --size U U --seed 100      # unlabelled
    terralearn synth scene.tif --labels labels.tif --size S S --seed 0              # labelled
    terralearn prepare scene.tif --labels labels.tif --out store --chip-size C --block-size 256 \
        --buffer C --val 0.05 --test 0.2
    terralearn pretrain unlabelled.tif SENTINEL2_SAMPLE --method M --model MODEL --chip-size C \\
        --epochs E --out pretrain_M_MODEL
    terralearn train store --model MODEL --label-fraction F --seed K --epochs N --patience 0 \\
        [--init-from pretrain_M_MODEL [--freeze-encoder]] --out runs/...
    terralearn evaluate RUN store --split test

The unlabelled pool is a larger synthetic scene (another seed: other fields, towns and rivers)
plus the shipped Sentinel-2 sample (same six bands); the labelled store is a separate scene whose
test split is held-out spatial blocks. Each (label fraction, seed) trains from scratch and from
the pretrained encoder (and, with ``--probe``, with the encoder frozen). Every run gets the same
number of optimisation steps (``--steps``), so small fractions repeat their few chips for more
epochs rather than stopping after a handful of steps. The label subset of a seed is the same for
scratch and pretrained (``ChipDataModule(label_fraction, seed)``).

Output: a Markdown table (test mIoU mean +- std over seeds, and the pretrained - scratch gap in
units of the larger seed spread), ``label_efficiency.png`` (mIoU vs label fraction, mean and
min-max band) and a JSON file of every run.

    python benchmarks/label_efficiency.py [--method mae --model vit_tiny]
        [--fractions 0.01 0.05 0.1 1] [--seeds 0 1 2] [--steps 300] [--pretrain-epochs 30]
    python benchmarks/label_efficiency.py --quick      # a tiny end-to-end check (minutes)
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import subprocess
import time
from pathlib import Path

WORK = Path(__file__).resolve().parent / "_work" / "label_efficiency"


def sh(*args: object, cwd: Path) -> None:
    command = ["terralearn", *map(str, args)]
    print("$", shlex.join(command), flush=True)
    subprocess.run(command, check=True, cwd=cwd)


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


def fine_tune(args, work: Path, store: Path, fraction: float, seed: int, init: str,
              pretrain_run: Path, config: Path | None) -> dict:  # fmt: skip
    chips = max(1, round(train_chips(store) * fraction))
    batch = min(args.batch_size, chips)
    epochs = max(1, math.ceil(args.steps / math.ceil(chips / batch)))
    out = work / "runs" / f"{init}_f{fraction:g}_s{seed}"
    out.parent.mkdir(exist_ok=True)
    extra: list[object] = []
    if init != "scratch":
        extra += ["--init-from", pretrain_run]
    if init == "probe":
        extra += ["--freeze-encoder"]
    if config is not None:
        extra += ["--config", config]
    started = time.perf_counter()
    sh("train", store, "--model", args.model, "--label-fraction", fraction, "--seed", seed,
       "--epochs", epochs, "--batch-size", batch, "--lr", args.lr, "--patience", 0,
       "--quiet", "--overwrite", "--out", out, *extra, cwd=work)  # fmt: skip
    sh("evaluate", out, store, "--split", "test", "--quiet", cwd=work)
    report = json.loads((out / "eval" / "test.json").read_text())
    return {
        "init": init, "fraction": fraction, "seed": seed, "train_chips": chips,
        "epochs": epochs, "test_miou": report["mean_iou"],
        "minutes": round((time.perf_counter() - started) / 60, 2),
    }  # fmt: skip


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
    head = "| labels | train chips | " + " | ".join(f"{i} mIoU" for i in inits)
    head += " | pretrained - scratch | gap / spread |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        cells = [f"{row['fraction']:.0%}", str(row.get("chips", ""))]
        cells += [f"{row[i]['mean']:.3f} ± {row[i]['std']:.3f}" if i in row else "-" for i in inits]
        if "scratch" in row and "pretrained" in row:
            gap = row["pretrained"]["mean"] - row["scratch"]["mean"]
            spread = max(row["pretrained"]["std"], row["scratch"]["std"], 1e-9)
            cells += [f"{gap:+.3f}", f"{gap / spread:+.1f}"]
        else:
            cells += ["-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], inits: list[str], out: Path, title: str) -> None:
    from terralearn.viz._figure import new_figure, save_figure

    fig = new_figure(6.5, 4.2)
    ax = fig.subplots()
    colors = {"scratch": "tab:gray", "pretrained": "tab:blue", "probe": "tab:orange"}
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--method", choices=["mae", "contrastive"], default="mae")
    parser.add_argument("--model", default="vit_tiny")
    parser.add_argument("--size", type=int, default=2048, help="labelled scene side")
    parser.add_argument("--unlabelled-size", type=int, default=4096)
    parser.add_argument("--chip-size", type=int, default=64)
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--pretrain-batch-size", type=int, default=64)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.05, 0.1, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300, help="optimisation steps per run")
    parser.add_argument(
        "--val",
        type=float,
        default=0.05,
        help="validation share: small, as tiny fractions validate every one of many epochs",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--probe", action="store_true", help="also fine-tune a frozen encoder")
    parser.add_argument("--no-sample", action="store_true", help="skip the Sentinel-2 sample")
    parser.add_argument("--quick", action="store_true", help="tiny end-to-end check")
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args()
    if args.quick:
        args.size, args.unlabelled_size, args.chip_size = 256, 256, 32
        args.pretrain_epochs, args.pretrain_batch_size = 1, 16
        args.fractions, args.seeds, args.steps, args.batch_size = [0.1, 1.0], [0, 1], 4, 8
        args.work = args.work.with_name(args.work.name + "_quick")

    from terralearn.datasets.samples import sample_path

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    tag = f"{args.method}_{args.model}"
    config = write_model_config(work / f"model_{args.model}.yaml", args.model, args.chip_size)
    started = time.perf_counter()
    if not (work / "unlabelled.tif").exists():
        sh("synth", "unlabelled.tif", "--labels", "unused_labels.tif", "--size",
           args.unlabelled_size, args.unlabelled_size, "--seed", 100, cwd=work)  # fmt: skip
    if not (work / "scene.tif").exists():
        sh("synth", "scene.tif", "--labels", "labels.tif", "--size", args.size, args.size,
           "--seed", 0, cwd=work)  # fmt: skip
    store = work / f"store_{args.chip_size}"
    if not store.exists():
        sh("prepare", "scene.tif", "--labels", "labels.tif", "--out", store.name, "--chip-size",
           args.chip_size, "--block-size", 256 if args.size > 256 else 64, "--buffer",
           args.chip_size if args.size > 256 else 0, "--val", args.val, "--test", 0.2,
           cwd=work)  # fmt: skip
    pretrain_run = work / f"pretrain_{tag}"
    sources: list[object] = ["unlabelled.tif"]
    if not args.no_sample:
        sources.append(sample_path("sentinel2"))
    if not (pretrain_run / "checkpoints" / "last.ckpt").exists():
        extra = ["--config", config] if config is not None else []
        sh("pretrain", *sources, "--method", args.method, "--model", args.model, "--chip-size",
           args.chip_size, "--epochs", args.pretrain_epochs, "--batch-size",
           args.pretrain_batch_size, "--quiet", "--overwrite", "--out", pretrain_run.name,
           *extra, cwd=work)  # fmt: skip
    pretrain_minutes = (time.perf_counter() - started) / 60

    inits = ["scratch", "pretrained"] + (["probe"] if args.probe else [])
    results = []
    for fraction in args.fractions:
        for seed in args.seeds:
            for init in inits:
                results.append(fine_tune(args, work, store, fraction, seed, init,
                                         pretrain_run, config))  # fmt: skip
                print(json.dumps(results[-1]), flush=True)
    rows = summarise(results, inits, args.fractions)
    n_train = train_chips(store)
    for row in rows:
        row["chips"] = max(1, round(n_train * row["fraction"]))
    text = table(rows, inits)
    title = f"{args.model}: {args.method} pretraining vs scratch ({len(args.seeds)} seeds)"
    plot(rows, inits, work / f"label_efficiency_{tag}.png", title)
    total = (time.perf_counter() - started) / 60
    out = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
           "pretrain_minutes": round(pretrain_minutes, 2), "total_minutes": round(total, 2),
           "runs": results, "summary": rows}  # fmt: skip
    (work / f"label_efficiency_{tag}.json").write_text(json.dumps(out, indent=2))
    print(f"\n{title}; pretraining + data {pretrain_minutes:.1f} min, total {total:.1f} min\n")
    print(text)
    print(f"\nplot: {work / f'label_efficiency_{tag}.png'}")


if __name__ == "__main__":
    main()
