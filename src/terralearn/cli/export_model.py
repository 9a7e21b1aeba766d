"""``terralearn export-model``: a trained run's PyTorch model as ONNX."""

from __future__ import annotations

import click

from terralearn.cli.options import defaults_from, overwrite_option
from terralearn.export.onnx import export_onnx

option = defaults_from(export_onnx)


@click.command("export-model")
@click.argument("run")
@click.argument("out")
@click.option(
    "--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True,
    help="Model format.",
)  # fmt: skip
@option("--which", type=click.Choice(["best", "last"]), help="Checkpoint to export.")
@option("--opset", type=int, help="ONNX opset version.")
@overwrite_option
def export_model(run: str, out: str, fmt: str, which: str, opset: int, overwrite: bool) -> None:
    """Export the model of RUN to OUT (e.g. model.onnx), checked against PyTorch."""
    path, diff = export_onnx(run, out, which=which, opset=opset, overwrite=overwrite)
    click.echo(f"wrote {path} (onnxruntime vs PyTorch: max abs difference {diff:.1e})")
