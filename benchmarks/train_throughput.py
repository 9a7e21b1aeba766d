"""Training throughput: `terralearn train` against a bare PyTorch loop over in-memory tensors.

Both train the same model with the same batch size, optimiser and loss on the same training
chips. The bare loop is the limit (no data pipeline, no Lightning, no augmentation); terralearn
is measured with its callback that times training epochs only (validation excluded). Medians over
epochs, leaving out the first (warm-up).

    python benchmarks/train_throughput.py [--size 1024] [--chip-size 64] [--model unet_small]
        [--batch-size 16] [--epochs 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from terralearn._memory import enable_for_cli
from terralearn.datasets.synthetic import make_scene
from terralearn.models import create_model
from terralearn.runs.train import TrainConfig, train
from terralearn.store import ChipStore, PrepareConfig, prepare
from terralearn.tasks.losses import cross_entropy

WORK = Path(__file__).resolve().parent / "_work"


def make_store(size: int, chip: int) -> Path:
    root = WORK / f"throughput_{size}_{chip}"
    store = root / "store"
    if store.exists():
        return store
    root.mkdir(parents=True, exist_ok=True)
    scene = make_scene(
        root / "scene.tif",
        root / "labels.tif",
        size=(size, size),
        seed=0,
        overwrite=True,
        progress=False,
    )
    prepare(
        PrepareConfig(
            images=[str(scene.image)],
            labels=[str(scene.labels)],
            out=str(store),
            chip_size=chip,
            block_size=4 * chip,
        ),
        overwrite=True,
        progress=False,
    )
    return store


def bare_loop(
    store_path: Path, model_name: str, batch_size: int, epochs: int, lr: float
) -> list[float]:
    """Chips/s per epoch of a plain loop: tensors in memory, forward, loss, backward, step."""
    store = ChipStore(store_path)
    arrays = store.read(store.split_ids("train"))
    images = torch.from_numpy(arrays["image"].astype(np.float32))
    masks = torch.from_numpy(arrays["mask"].astype(np.int64))
    mean, std = store.band_mean_std()
    mean_t, std_t = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
    torch.manual_seed(0)
    model = create_model(model_name, in_channels=images.shape[1], num_classes=store.num_classes)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    model.train()
    rates = []
    n = len(images)
    for _ in range(epochs):
        order = torch.randperm(n)
        start = time.perf_counter()
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            x = (images[idx] - mean_t) / std_t
            loss = cross_entropy(model(x), masks[idx], ignore_index=255)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        rates.append(n / (time.perf_counter() - start))
    return rates


def terralearn_train(store: Path, model: str, batch_size: int, epochs: int, lr: float) -> float:
    out = WORK / "throughput_run"
    train(
        TrainConfig(
            store=str(store),
            out=str(out),
            model=model,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            patience=None,
            progress=False,
        ),
        overwrite=True,
    )
    return json.loads((out / "metrics.json").read_text())["train_chips_per_second"]


def main() -> None:
    enable_for_cli()  # in-process runs keep freed memory as `terralearn` does (_memory)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--chip-size", type=int, default=64)
    parser.add_argument("--model", default="unet_small")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--repeats", type=int, default=2, help="alternating rounds of both")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    WORK.mkdir(exist_ok=True)
    store = make_store(args.size, args.chip_size)
    chips = len(ChipStore(store).split_ids("train"))
    # alternate the two methods so that a change in machine load hits both alike
    bare_rates: list[float] = []
    ours_rates: list[float] = []
    for _ in range(args.repeats):
        rates = bare_loop(store, args.model, args.batch_size, args.epochs, args.lr)
        bare_rates.extend(rates[1:] if len(rates) > 1 else rates)
        ours_rates.append(
            terralearn_train(store, args.model, args.batch_size, args.epochs, args.lr)
        )
    bare_median = statistics.median(bare_rates)
    ours = statistics.median(ours_rates)
    ratio = ours / bare_median
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
        f"threads, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{chips} training chips of {args.chip_size} px, model {args.model}, batch "
        f"{args.batch_size}, {args.epochs} epochs x {args.repeats} alternating rounds "
        "(median over epochs 2.., per method)"
    )
    print(f"{'method':<22}{'chips/s':>10}")
    print(f"{'bare PyTorch loop':<22}{bare_median:>10.1f}")
    print(f"{'terralearn train':<22}{ours:>10.1f}")
    print(
        f"ratio terralearn / bare: {ratio:.3f}  (target >= 0.9: {'PASS' if ratio >= 0.9 else 'FAIL'})"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "bare_epochs": bare_rates,
                    "terralearn_rounds": ours_rates,
                    "bare_median": bare_median,
                    "terralearn_median": ours,
                    "ratio": ratio,
                    "args": {k: str(v) for k, v in vars(args).items()},
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
