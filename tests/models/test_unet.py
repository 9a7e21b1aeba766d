"""U-Net family: variants, options, odd sizes, band counts, receptive field."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from terralearn.errors import ConfigError, IncompatibleError
from terralearn.models import create_model
from terralearn.models.layers import pad_to_multiple
from terralearn.models.unet import UNet, unet_receptive_field


@pytest.fixture(autouse=True)
def _one_thread():
    """Small convolutions run faster on one thread, and much faster on a shared, busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_variant_configurations() -> None:
    small = create_model("unet_small", 3, 2)
    assert small.depth == 3 and small.encoder.stem[0].out_channels == 16
    assert small.encoder.stages[-1][1][0].out_channels == 128
    default = create_model("unet", 3, 2)
    assert default.depth == 4 and default.encoder.stages[-1][1][0].out_channels == 512
    large = create_model("unet_large", 3, 2)
    assert large.depth == 5 and large.encoder.stem[0].out_channels == 64


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
@pytest.mark.parametrize("upsampling", ["bilinear", "transposed"])
def test_options_build_and_run(norm: str, upsampling: str) -> None:
    model = create_model(
        "unet_small", 4, 2, norm=norm, upsampling=upsampling, dropout=0.5, base_width=6
    )
    kinds = {type(m) for m in model.modules()}
    expected_norm = {"batch": nn.BatchNorm2d, "group": nn.GroupNorm, "none": None}[norm]
    assert (
        (expected_norm in kinds) if expected_norm else not ({nn.BatchNorm2d, nn.GroupNorm} & kinds)
    )
    assert (nn.ConvTranspose2d in kinds) == (upsampling == "transposed")
    assert isinstance(model.dropout, nn.Dropout) and model.dropout.p == 0.5
    assert model(torch.randn(2, 4, 37, 50)).shape == (2, 2, 37, 50)


def test_dropout_zero_is_identity() -> None:
    assert isinstance(create_model("unet_small", 1, 2).dropout, nn.Identity)


def test_wrong_band_count_is_incompatible() -> None:
    model = create_model("unet_small", 4, 2)
    with pytest.raises(
        IncompatibleError, match=r"expects images of shape \(B, 4, H, W\), got \(1, 3, 8, 8\)"
    ):
        model(torch.randn(1, 3, 8, 8))


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("norm", "layer", "U-Net option norm must be one of 'batch', 'group', 'none', got 'layer'"),
        ("depth", 0, "U-Net option depth must be an integer >= 1, got 0"),
        ("base_width", 2.5, "U-Net option base_width must be an integer >= 1, got 2.5"),
        ("dropout", 1.0, r"U-Net option dropout must be a number in \[0, 1\), got 1.0"),
        (
            "upsampling",
            "nearest",
            "U-Net option upsampling must be one of 'bilinear', 'transposed'",
        ),
    ],
)
def test_bad_option_values(option: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_model("unet", 3, 2, **{option: value})


def test_padding_reflects_and_falls_back_for_tiny_inputs() -> None:
    x = torch.arange(6.0).view(1, 1, 2, 3)
    padded = pad_to_multiple(x, 2)
    assert padded.shape == (1, 1, 2, 4)
    assert padded[0, 0, :, 3].tolist() == [1.0, 4.0]  # reflect: column 3 mirrors column 1
    padded = pad_to_multiple(x, 4)  # a pad of 2 rows is not < 2 rows: replicate instead
    assert padded.shape == (1, 1, 4, 4)
    assert padded[0, 0, :, 3].tolist() == [2.0, 5.0, 5.0, 5.0]
    tiny = pad_to_multiple(torch.ones(1, 1, 1, 1) * 7, 16)
    assert tiny.shape == (1, 1, 16, 16) and (tiny == 7).all()
    assert pad_to_multiple(x, 1) is x


def test_receptive_field_values() -> None:
    assert [unet_receptive_field(d, "bilinear") for d in range(1, 6)] == [20, 52, 116, 236, 476]
    assert [unet_receptive_field(d, "transposed") for d in range(1, 6)] == [18, 44, 100, 204, 412]
    assert create_model("unet", 3, 2).receptive_field == 236
    assert create_model("unet_small", 3, 2, upsampling="transposed").receptive_field == 100


@pytest.mark.parametrize("upsampling", ["bilinear", "transposed"])
def test_receptive_field_matches_gradient_support(upsampling: str) -> None:
    """The analytic field is the widest input window any output pixel depends on."""
    torch.manual_seed(0)
    model = UNet(1, 1, depth=3, base_width=8, norm="none", upsampling=upsampling).double().eval()
    x = torch.randn(1, 1, 8, 256, dtype=torch.float64, requires_grad=True)
    widths = []
    for col in range(124, 132):  # all 8 alignments w.r.t. the 2**3 pooling grid
        x.grad = None
        model(x)[0, 0, 4, col].backward()
        cols = (x.grad[0, 0].abs().sum(0) > 0).nonzero()[:, 0]
        widths.append(int(cols.max() - cols.min() + 1))
    assert max(widths) == model.receptive_field


def _trained_like(net: nn.Module) -> nn.Module:
    """Batch-norm statistics away from (0, 1), so a cut that reads a wrong row shows."""
    torch.manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval().to(memory_format=torch.channels_last)


@pytest.mark.parametrize("rewritten", [False, True])
@pytest.mark.parametrize(("depth", "upsampling"), [(3, "bilinear"), (2, "transposed")])
def test_rows_are_the_rows_of_the_whole_output(depth: int, upsampling: str, rewritten: bool):
    from terralearn.models.fold import (
        conv_before_upsampling,
        fold_batch_norms,
        split_skip_concatenation,
    )

    torch.manual_seed(0)
    net = _trained_like(UNet(5, 4, depth=depth, base_width=8, upsampling=upsampling))
    if rewritten:  # as predict loads a run
        fold_batch_norms(net), conv_before_upsampling(net), split_skip_concatenation(net)
    for h, w in [(100, 70), (128, 64), (37, 50)]:  # 100 and 37: padded to a multiple inside
        x = torch.randn(1, 5, h, w).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            whole = net(x)
            for start, stop in [(0, h), (10, h - 10), (0, 5), (h - 3, h), (7, 8), (31, 33)]:
                part = net(x, rows=(start, stop))
                assert part.shape == (1, 4, stop - start, w)
                torch.testing.assert_close(part, whole[..., start:stop, :], rtol=0, atol=1e-6)


def test_row_plan_computes_only_the_rows_the_output_reads():
    net = _trained_like(UNet(3, 2, depth=3, base_width=4))
    x = torch.randn(1, 3, 128, 96).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        features = net.encoder(x)
        # output rows 32..96; each block widens by its two 3x3 convs (2 rows), then bilinear
        # 2x reads coarse rows (2 o - 1) // 4 .. (2 o - 1) // 4 + 1 of its rows o
        plan = net.decoder.row_plan(features, (32, 96))
        assert plan == [((3, 29), (1, 15)), ((12, 52), (5, 27)), ((30, 98), (14, 50))]
        # at the edges the rows stop at the level's first and last rows
        assert net.decoder.row_plan(features, (0, 4))[-1] == ((0, 6), (0, 4))
        # a batch of two, or NCHW: a row range is not one run of memory; every row computed
        assert net.decoder.row_plan([f.repeat(2, 1, 1, 1) for f in features], (32, 96)) is None
        assert net.decoder.row_plan([f.contiguous() for f in features], (32, 96)) is None
        two = torch.randn(2, 3, 64, 64)
        torch.testing.assert_close(net(two, rows=(8, 40)), net(two)[..., 8:40, :])


def test_rows_outside_the_input_are_an_error():
    net = UNet(3, 2, depth=2, base_width=4).eval()
    with pytest.raises(ValueError, match=r"rows \(5, 40\) are not within the input's 32 rows"):
        net(torch.zeros(1, 3, 32, 32), rows=(5, 40))
