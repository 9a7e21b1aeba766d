"""Encoder weights transfer by name: all for a matching model, a report of mismatches otherwise."""

from __future__ import annotations

import torch

from terralearn.models import create_model
from terralearn.runs.transfer import transfer_weights


def _encoder_state(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.encoder.state_dict().items()}


def test_matching_unet_loads_every_encoder_tensor():
    torch.manual_seed(0)
    source = create_model("unet_small", 6, 1)
    target = create_model("unet_small", 6, 4)  # another head does not matter
    state = _encoder_state(source)
    report = transfer_weights(target.encoder, state, name="run")
    assert sorted(report.loaded) == sorted(target.encoder.state_dict())
    assert report.total == len(state) and not report.new and not report.mismatched
    assert not report.unused and not report.resized
    for key, value in target.encoder.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert (
        report.lines()[0]
        == f"encoder weights from run: {len(state)} of {len(state)} tensors loaded"
    )


def test_matching_vit_loads_every_encoder_tensor_and_leaves_the_decoder():
    torch.manual_seed(0)
    source = create_model("vit_tiny", 6, 1, img_size=32)
    target = create_model("vit_tiny", 6, 6, img_size=32)
    decoder_before = {k: v.clone() for k, v in target.decoder.state_dict().items()}
    report = transfer_weights(target.encoder, _encoder_state(source))
    assert len(report.loaded) == len(target.encoder.state_dict()) == report.total
    assert torch.equal(target.encoder.pos_embed, source.encoder.pos_embed)
    for key, value in target.decoder.state_dict().items():
        assert torch.equal(value, decoder_before[key])


def test_other_widths_are_reported_as_not_fitting_and_keep_their_values():
    torch.manual_seed(0)
    source = create_model("unet_small", 6, 1, base_width=8)
    target = create_model("unet_small", 6, 1)  # base_width 16
    before = _encoder_state(target)
    report = transfer_weights(target.encoder, _encoder_state(source))
    first = next(k for k in before if k.endswith("weight") and before[k].ndim == 4)
    assert report.mismatched[first] == (
        list(source.encoder.state_dict()[first].shape),
        list(before[first].shape),
    )
    assert torch.equal(target.encoder.state_dict()[first], before[first])
    # only shape-free tensors (batch-norm step counters) fit
    assert all(k.endswith("num_batches_tracked") for k in report.loaded)
    text = "\n".join(report.lines())
    assert "did not fit (checkpoint -> model shape): " in text
    assert f"{first} {tuple(source.encoder.state_dict()[first].shape)}" in text


def test_different_depth_reports_new_and_unused_tensors():
    source = create_model("unet_small", 3, 1, depth=2)
    target = create_model("unet_small", 3, 1, depth=3)
    report = transfer_weights(target.encoder, _encoder_state(source))
    assert report.new and all(k.startswith("stages.2.") for k in report.new)
    assert not report.unused
    assert len(report.loaded) == len(source.encoder.state_dict())
    assert any(
        line.startswith("  new (not in the checkpoint): stages.2.") for line in report.lines()
    )


def test_vit_positions_of_another_grid_are_interpolated():
    source = create_model("vit_tiny", 3, 1, img_size=32)  # 4 x 4 positions
    target = create_model("vit_tiny", 3, 1, img_size=64)  # 8 x 8
    report = transfer_weights(target.encoder, _encoder_state(source))
    assert report.resized == ["pos_embed"]
    assert target.encoder.pos_embed.shape == (1, 192, 8, 8)
    expected = torch.nn.functional.interpolate(
        source.encoder.pos_embed, size=(8, 8), mode="bicubic", align_corners=False
    )
    assert torch.allclose(target.encoder.pos_embed, expected)
