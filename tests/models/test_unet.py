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
