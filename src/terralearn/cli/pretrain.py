"""``terralearn pretrain``: self-supervised pretraining of an encoder on unlabelled imagery."""

from __future__ import annotations

import click

from terralearn.cli.options import config_option, overwrite_option


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option(
    "--out", required=True, help="Run directory to create (or to continue with --resume)."
)
@click.option(
    "--method",
    type=click.Choice(["mae", "contrastive"]),
    default=None,
    help="mae: masked autoencoder (ViT); contrastive: SimCLR (U-Net or ViT) [mae].",
)
@click.option("--model", default=None, help="Model whose encoder is pretrained [vit_tiny].")
@click.option("--chip-size", type=int, default=None, help="Chip side in pixels [64].")
@click.option("--mask-ratio", type=float, default=None, help="MAE share of hidden patches [0.75].")
@click.option(
    "--chips-per-epoch", type=int, default=None, help="Chips per epoch [every grid chip once]."
)
@click.option("--epochs", type=int, default=None, help="Epochs [20].")
@click.option("--batch-size", type=int, default=None, help="Chips per batch [32].")
@click.option("--lr", type=float, default=None, help="Peak learning rate of AdamW [1.5e-3].")
@click.option("--max-time", type=float, default=None, help="Stop after this many minutes.")
@click.option("--devices", default=None, help="Devices (number, or 'auto') [1].")
@click.option("--strategy", default=None, help="Lightning strategy, e.g. ddp [auto].")
@click.option("--accelerator", default=None, help="cpu, gpu or auto [auto].")
@click.option("--num-workers", type=int, default=None, help="Data loader workers [0].")
@click.option("--seed", type=int, default=None, help="Random seed [0].")
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
    import json

    from terralearn.cli.render import print_mapping
    from terralearn.config import build_config, load_yaml
    from terralearn.runs.pretrain import PretrainConfig
    from terralearn.runs.pretrain import pretrain as run_pretrain

    file_values = load_yaml(config_path) if config_path else {}
    if devices is not None:
        devices = int(devices) if devices.isdigit() else devices
    config = build_config(
        PretrainConfig,
        file_values,
        images=list(images),
        out=out,
        devices=devices,
        progress=False if quiet else None,
        **options,
    )
    path = run_pretrain(config, resume=resume, overwrite=overwrite)
    metrics_file = path / "metrics.json"
    if metrics_file.is_file():
        print_mapping(f"run {path}", json.loads(metrics_file.read_text()))
