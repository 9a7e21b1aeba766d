"""``terralearn train``: train a segmentation model on a chip store."""

from __future__ import annotations

import json

import click

from terralearn.cli.options import (
    config_option,
    defaults_from,
    devices_value,
    overwrite_option,
    seed_option,
    trainer_options,
)
from terralearn.cli.render import print_mapping
from terralearn.config import build_config, load_yaml
from terralearn.runs.train import DEFAULT_EPOCHS, TrainConfig
from terralearn.runs.train import train as run_train

option = defaults_from(TrainConfig)


@click.command()
@click.argument("store")
@click.option(
    "--out", required=True, help="Run directory to create (or to continue with --resume)."
)
@option("--model", help="Model name from the registry; see `terralearn models`.")
@option(
    "--epochs",
    type=int,
    describe=f"{DEFAULT_EPOCHS}, within --min-steps .. --max-steps steps; with --max-time: "
    "until the time",
    help="Epochs to train.",
)
@option("--batch-size", type=int, help="Chips per batch.")
@option("--lr", type=float, help="Peak learning rate of AdamW.")
@option("--loss", type=click.Choice(["ce", "dice", "focal", "ce+dice"]), help="Loss.")
@option(
    "--class-weights/--no-class-weights", default=None, help="Weight classes by inverse frequency."
)
@option(
    "--schedule", type=click.Choice(["cosine", "onecycle", "none"]), help="Learning-rate schedule."
)
@option(
    "--augment",
    type=click.Choice(["none", "d4", "strong"]),
    help="Training augmentation: d4 rotations/flips, strong = d4 + crops + band jitter.",
)
@option(
    "--patience",
    type=int,
    help="Early stopping after this many validation checks without improvement; a check "
    "follows every epoch (without --epochs: at most one per 50 steps); 0 turns it off.",
)
@option(
    "--min-steps",
    type=int,
    help="Optimiser steps before early stopping may stop the run; without --epochs and "
    "--max-time the run also lasts at least this long.",
)
@option(
    "--max-steps",
    type=int,
    help="Without --epochs and --max-time: stop after this many optimiser steps even if the "
    f"{DEFAULT_EPOCHS} epochs are not done, so a large store does not train for hours on a CPU.",
)
@option(
    "--max-time",
    type=float,
    help="Train for this many minutes; the learning-rate schedule spans them.",
)
@trainer_options(TrainConfig)
@option("--label-fraction", type=float, help="Train on this seeded share of training chips.")
@seed_option(TrainConfig)
@option(
    "--init-from",
    metavar="PRETRAIN_RUN",
    help="Start the encoder from a `terralearn pretrain` run (weights matched by name).",
)
@option(
    "--freeze-encoder/--no-freeze-encoder",
    default=None,
    help="With --init-from: train only decoder and head (linear probing).",
)
@option(
    "--encoder-lr-scale",
    type=float,
    help="Learning-rate factor of the encoder, e.g. 0.1 to fine-tune --init-from gently.",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@config_option
@overwrite_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(store, out, config_path, resume, overwrite, quiet, devices, **options) -> None:
    """Train a segmentation model on the chip STORE; writes a run directory."""
    file_values = load_yaml(config_path) if config_path else {}
    config = build_config(
        TrainConfig,
        file_values,
        store=store,
        out=out,
        devices=devices_value(devices),
        progress=False if quiet else None,
        **options,
    )
    path = run_train(config, resume=resume, overwrite=overwrite, echo=click.echo)
    metrics_file = path / "metrics.json"
    if metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text())
        print_mapping(
            f"run {path}",
            {k: v for k, v in metrics.items() if k != "figures"}
            | {"figures": metrics.get("figures", [])},
        )
