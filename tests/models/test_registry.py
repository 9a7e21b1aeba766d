"""Model registry: names, options, errors."""

from __future__ import annotations

import pytest
from torch import nn

from terralearn.errors import ConfigError
from terralearn.models import create_model, list_models, model_info, receptive_field
from terralearn.models.registry import register_model


def test_list_models_has_the_unet_family() -> None:
    names = list_models()
    assert {"unet", "unet_small", "unet_large"} <= set(names)
    assert names == sorted(names)


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        create_model("unet_tiny", 3, 2)
    assert str(err.value).startswith("unknown model 'unet_tiny'; known models: ")
    assert "unet, unet_large, unet_small" in str(err.value)


def test_unknown_option_is_named() -> None:
    with pytest.raises(
        ConfigError, match="model 'unet' has no option 'widht'; valid options: depth, base_width"
    ):
        create_model("unet", 3, 2, widht=16)


@pytest.mark.parametrize(
    ("arg", "value"), [("in_channels", 0), ("num_classes", 0), ("in_channels", 2.0)]
)
def test_channel_counts_must_be_positive_integers(arg: str, value: object) -> None:
    kwargs = {"in_channels": 3, "num_classes": 2, arg: value}
    with pytest.raises(ConfigError, match=f"model 'unet_small': {arg} must be a positive integer"):
        create_model("unet_small", **kwargs)


def test_options_override_defaults() -> None:
    model = create_model("unet_small", 3, 2, depth=2, base_width=8)
    assert model.depth == 2 and model.encoder.stem[0].out_channels == 8


def test_duplicate_registration_is_refused() -> None:
    def unet(in_channels: int, num_classes: int) -> nn.Module:
        return nn.Identity()

    with pytest.raises(ValueError, match="model 'unet' is already registered"):
        register_model(unet)


def test_builder_signature_is_checked() -> None:
    def broken_builder(channels: int) -> nn.Module:
        return nn.Identity()

    with pytest.raises(ValueError, match="lacks the argument"):
        register_model(broken_builder)
    assert "broken_builder" not in list_models()


def test_model_info() -> None:
    info = model_info("unet_small")
    assert info["name"] == "unet_small"
    assert info["family"] == "unet"
    assert info["defaults"] == {
        "depth": 3,
        "base_width": 16,
        "norm": "batch",
        "dropout": 0.0,
        "upsampling": "bilinear",
    }
    assert info["description"].startswith("Small U-Net, depth 3")
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        model_info("nope")


def test_receptive_field_needs_a_declaration() -> None:
    with pytest.raises(ConfigError, match="model Conv2d does not declare a receptive_field"):
        receptive_field(nn.Conv2d(1, 1, 3))
