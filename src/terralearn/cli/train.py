"""``terralearn train``: train a segmentation model on a chip store."""

from __future__ import annotations

import click

from terralearn.cli.options import config_option, overwrite_option


@click.command()
@click.argument("store")
@click.option(
    "--out", required=True, help="Run directory to create (or to continue with --resume)."
)
@click.option(
    "--model", default=None, help="Model name from the registry [unet]; see `terralearn models`."
)
@click.option(
    "--epochs",
    type=int,
    default=None,
    help="Epochs to train [20, within --min-steps .. --max-steps steps; with --max-time: "
    "until the time].",
)
@click.option("--batch-size", type=int, default=None, help="Chips per batch [16].")
@click.option("--lr", type=float, default=None, help="Peak learning rate of AdamW [1e-3].")
@click.option(
    "--loss", type=click.Choice(["ce", "dice", "focal", "ce+dice"]), default=None, help="Loss [ce]."
)
@click.option(
    "--class-weights/--no-class-weights", default=None, help="Weight classes by inverse frequency."
)
@click.option(
    "--schedule",
    type=click.Choice(["cosine", "onecycle", "none"]),
    default=None,
    help="Learning-rate schedule [cosine].",
)
@click.option(
    "--augment",
    type=click.Choice(["none", "d4", "strong"]),
    default=None,
    help="Training augmentation: d4 rotations/flips, strong = d4 + crops + band jitter [d4].",
)
@click.option(
    "--patience",
    type=int,
    default=None,
    help="Early stopping after this many validation checks without improvement; a check "
    "follows every epoch (without --epochs: at most one per 50 steps); 0 turns it off [10].",
)
@click.option(
    "--min-steps",
    type=int,
    default=None,
    help="Optimiser steps before early stopping may stop the run; without --epochs and "
    "--max-time the run also lasts at least this long [1000].",
)
@click.option(
    "--max-steps",
    type=int,
    default=None,
    help="Without --epochs and --max-time: stop after this many optimiser steps even if the "
    "20 epochs are not done, so a large store does not train for hours on a CPU [2000].",
)
@click.option(
    "--max-time",
    type=float,
    default=None,
    help="Train for this many minutes; the learning-rate schedule spans them.",
)
@click.option("--devices", default=None, help="Devices (number, or 'auto') [1].")
@click.option("--strategy", default=None, help="Lightning strategy, e.g. ddp [auto].")
@click.option("--accelerator", default=None, help="cpu, gpu or auto [auto].")
@click.option("--num-workers", type=int, default=None, help="Data loader workers [0].")
@click.option(
    "--label-fraction",
    type=float,
    default=None,
    help="Train on this seeded share of training chips [1].",
)
@click.option("--seed", type=int, default=None, help="Random seed [0].")
@click.option(
    "--init-from",
    default=None,
    metavar="PRETRAIN_RUN",
    help="Start the encoder from a `terralearn pretrain` run (weights matched by name).",
)
@click.option(
    "--freeze-encoder/--no-freeze-encoder",
    default=None,
    help="With --init-from: train only decoder and head (linear probing).",
)
@click.option(
    "--encoder-lr-scale",
    type=float,
    default=None,
    help="Learning-rate factor of the encoder, e.g. 0.1 to fine-tune --init-from gently [1].",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@config_option
@overwrite_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(store, out, config_path, resume, overwrite, quiet, devices, **options) -> None:
    """Train a segmentation model on the chip STORE; writes a run directory."""
    from terralearn.cli.render import print_mapping
    from terralearn.config import build_config, load_yaml
    from terralearn.runs.train import TrainConfig
    from terralearn.runs.train import train as run_train

    file_values = load_yaml(config_path) if config_path else {}
    if devices is not None:
        devices = int(devices) if devices.isdigit() else devices
    config = build_config(
        TrainConfig,
        file_values,
        store=store,
        out=out,
        devices=devices,
        progress=False if quiet else None,
        **options,
    )
    path = run_train(config, resume=resume, overwrite=overwrite, echo=click.echo)
    import json

    metrics_file = path / "metrics.json"
    if metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text())
        print_mapping(
            f"run {path}",
            {k: v for k, v in metrics.items() if k != "figures"}
            | {"figures": metrics.get("figures", [])},
        )
