"""`terralearn pretrain` and `terralearn train --init-from`: runs, weight transfer, bad input."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from click.testing import CliRunner

from terralearn.cli.main import cli

QUIET = ["--quiet", "--batch-size", "8"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    from terralearn.datasets.synthetic import make_scene
    from terralearn.store import PrepareConfig, prepare

    root = tmp_path_factory.mktemp("pretrain")
    unlabelled = make_scene(root / "u.tif", root / "ul.tif", size=(96, 96), seed=1,
                            nodata_edges=True, progress=False)  # fmt: skip
    labelled = make_scene(root / "s.tif", root / "l.tif", size=(192, 192), seed=3, progress=False)
    store = prepare(
        PrepareConfig(images=[str(labelled.image)], labels=[str(labelled.labels)],
                      out=str(root / "store"), chip_size=32, block_size=64, buffer=0, seed=0),
        progress=False,
    )  # fmt: skip
    return {"image": unlabelled.image, "store": store, "root": root}


@pytest.fixture(scope="module")
def mae_run(scenes):
    out = scenes["root"] / "mae"
    result = run("pretrain", scenes["image"], "--out", out, "--model", "vit_tiny",
                 "--chip-size", "32", "--epochs", "1", *QUIET)  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_mae_pretraining_writes_a_run_with_a_loadable_checkpoint(mae_run):
    for part in ("config.yaml", "run.json", "metrics.json", "checkpoints/last.ckpt",
                 "logs/metrics.csv", "figures/loss.png", "figures/reconstructions.png"):  # fmt: skip
        assert (mae_run / part).is_file(), part
    info = json.loads((mae_run / "run.json").read_text())
    assert info["kind"] == "pretraining" and info["model"] == "vit_tiny"
    assert info["bands"] == ["B2", "B3", "B4", "B8", "B11", "B12"] and info["chip_size"] == 32
    ckpt = torch.load(mae_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["hyper_parameters"]["method"] == "mae"
    assert ckpt["hyper_parameters"]["mask_ratio"] == 0.75
    encoder = [k for k in ckpt["state_dict"] if k.startswith("encoder.")]
    assert "encoder.pos_embed" in encoder and len(encoder) == 149
    metrics = json.loads((mae_run / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["final_train_loss"] > 0
    # 96 x 96 scene, 32-pixel chips: 9 grid chips per epoch
    assert metrics["chips_per_epoch"] == 9


def test_fine_tuning_from_mae_with_a_frozen_encoder(mae_run, scenes, tmp_path):
    out = tmp_path / "ft"
    result = run("train", scenes["store"], "--out", out, "--model", "vit_tiny", "--epochs", "1",
                 "--init-from", mae_run, "--freeze-encoder", "--label-fraction", "0.5",
                 *QUIET)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"encoder weights from {mae_run}: 149 of 149 tensors loaded" in result.output
    report = json.loads((out / "init_from.json").read_text())
    assert len(report["loaded"]) == 149 and not report["new"] and not report["did_not_fit"]
    pre = torch.load(mae_run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    best = torch.load(out / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    for key in ("encoder.pos_embed", "encoder.blocks.11.mlp.2.weight", "encoder.norm.weight"):
        assert torch.equal(best[f"model.{key}"], pre[key]), key  # frozen: unchanged
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_chips"] == 14  # half of the 28 training chips (7 of 9 blocks)


def test_contrastive_unet_pretraining_and_full_fine_tuning(scenes, tmp_path):
    pre = tmp_path / "simclr"
    result = run("pretrain", scenes["image"], "--out", pre, "--method", "contrastive",
                 "--model", "unet_small", "--chip-size", "32", "--epochs", "1", *QUIET)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (pre / "figures" / "loss.png").is_file()
    assert not (pre / "figures" / "reconstructions.png").exists()
    ckpt = torch.load(pre / "checkpoints" / "last.ckpt", weights_only=True)
    encoder = {k for k in ckpt["state_dict"] if k.startswith("encoder.")}
    assert "encoder.stem.0.weight" in encoder and len(encoder) == 48  # unet_small's encoder
    assert ckpt["hyper_parameters"]["method"] == "contrastive"

    out = tmp_path / "ft"
    result = run("train", scenes["store"], "--out", out, "--model", "unet_small", "--epochs",
                 "1", "--init-from", pre, *QUIET)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "48 of 48 tensors loaded" in result.output


def _one_line_error(result, message: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    return lines[0]


def _fake_run(src, dst, **changes):
    shutil.copytree(src, dst)
    info = json.loads((dst / "run.json").read_text()) | changes
    (dst / "run.json").write_text(json.dumps(info))
    return dst


def test_init_from_a_segmentation_run_is_refused(mae_run, scenes, tmp_path):
    seg = _fake_run(mae_run, tmp_path / "seg", kind="segmentation")
    out = tmp_path / "x"
    result = run("train", scenes["store"], "--out", out, "--model", "vit_tiny",
                 "--init-from", seg, *QUIET)  # fmt: skip
    _one_line_error(
        result, f"--init-from {str(seg)!r} is a segmentation run, not a pretraining run"
    )
    assert not out.exists()


def test_init_from_a_run_with_another_band_count_is_refused(mae_run, scenes, tmp_path):
    three = _fake_run(mae_run, tmp_path / "rgb", in_channels=3, bands=["B4", "B3", "B2"])
    out = tmp_path / "x"
    result = run("train", scenes["store"], "--out", out, "--model", "vit_tiny",
                 "--init-from", three, *QUIET)  # fmt: skip
    line = _one_line_error(result, "was pretrained on 3 bands (B4, B3, B2) but the store has 6")
    assert "pretrain on images with the store's bands" in line
    assert not out.exists()


def test_init_from_other_model_family_and_missing_run(mae_run, scenes, tmp_path):
    out = tmp_path / "x"
    result = run("train", scenes["store"], "--out", out, "--model", "unet_small",
                 "--init-from", mae_run, *QUIET)  # fmt: skip
    _one_line_error(
        result, "none of its encoder tensors fit this model (pretrained model 'vit_tiny')"
    )
    result = run("train", scenes["store"], "--out", out, "--init-from", tmp_path / "nope", *QUIET)
    _one_line_error(result, "is not a terralearn run directory (no run.json)")
    result = run("train", scenes["store"], "--out", out, "--freeze-encoder", *QUIET)
    _one_line_error(result, "--freeze-encoder needs --init-from PRETRAIN_RUN")
    assert not out.exists()


def test_pretrain_bad_input(scenes, tmp_path):
    out = tmp_path / "p"
    result = run("pretrain", scenes["image"], "--out", out, "--model", "unet_small", *QUIET)
    _one_line_error(result, "--method mae needs a ViT model")
    result = run("pretrain", tmp_path / "missing.tif", "--out", out, *QUIET)
    _one_line_error(result, "missing.tif")
    result = run("pretrain", scenes["image"], "--out", out, "--mask-ratio", "1", "--chip-size",
                 "32", *QUIET)  # fmt: skip
    _one_line_error(result, "--mask-ratio 1.0 must be a number in [0, 1)")
    assert not out.exists()
