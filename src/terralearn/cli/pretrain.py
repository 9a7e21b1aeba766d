"""``terralearn pretrain``: self-supervised pretraining of an encoder on unlabelled imagery."""

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
from terralearn.runs.pretrain import PretrainConfig
from terralearn.runs.pretrain import pretrain as run_pretrain

option = defaults_from(PretrainConfig)


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option(
    "--out", required=True, help="Run directory to create (or to continue with --resume)."
)
@option(
    "--method",
    type=click.Choice(["mae", "contrastive"]),
    help="mae: masked autoencoder (ViT); contrastive: SimCLR (U-Net or ViT).",
)
@option("--model", help="Model whose encoder is pretrained.")
@option("--chip-size", type=int, help="Chip side in pixels.")
@option("--mask-ratio", type=float, help="MAE share of hidden patches.")
@option("--chips-per-epoch", type=int, describe="every grid chip once", help="Chips per epoch.")
@option("--epochs", type=int, help="Epochs.")
@option("--batch-size", type=int, help="Chips per batch.")
@option("--lr", type=float, help="Peak learning rate of AdamW.")
@option("--max-time", type=float, help="Stop after this many minutes.")
@trainer_options(PretrainConfig)
@seed_option(PretrainConfig)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --out from its last checkpoint (same options; --epochs may grow).",
)
@config_option
@overwrite_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def pretrain(images, out, config_path, resume, overwrite, quiet, devices, **options) -> None:
    """Pretrain an encoder on chips of unlabelled IMAGES (rasters or chip stores).

    The run directory feeds `terralearn train STORE --init-from RUN`. A killed run continues
    with the same command plus --resume, from the end of its last finished epoch.
    """
    file_values = load_yaml(config_path) if config_path else {}
    config = build_config(
        PretrainConfig,
        file_values,
        images=list(images),
        out=out,
        devices=devices_value(devices),
        progress=False if quiet else None,
        **options,
    )
    path = run_pretrain(config, resume=resume, overwrite=overwrite)
    metrics_file = path / "metrics.json"
    if metrics_file.is_file():
        print_mapping(f"run {path}", json.loads(metrics_file.read_text()))
