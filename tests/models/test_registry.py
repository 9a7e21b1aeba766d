"""Model registry: names, options, errors; every raster model built, run and trained once."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from terralearn.errors import ConfigError
from terralearn.models import create_model, list_models, model_info, receptive_field
from terralearn.models.registry import register_model

# models mapping images to per-pixel logits (graph models take graphs, tested elsewhere)
RASTER_MODELS = [m for m in list_models() if model_info(m)["family"] != "graph"]


@pytest.fixture
def one_thread():
    """Small layers run faster on one thread, and much faster on a shared, busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_list_models_has_the_unet_and_vit_families() -> None:
    names = list_models()
    assert {"unet", "unet_small", "unet_large"} <= set(names)
    assert {"vit_tiny", "vit_small", "vit_hybrid_tiny"} <= set(RASTER_MODELS)
    assert names == sorted(names)


@pytest.mark.parametrize("name", RASTER_MODELS)
def test_every_model_forward_backward_shapes(name: str, one_thread) -> None:
    torch.manual_seed(0)
    # binary (one logit channel), 1 band, odd size, training mode: forward + backward
    model = create_model(name, in_channels=1, num_classes=1)
    assert {"encoder", "decoder", "head"} <= dict(model.named_children()).keys()
    assert receptive_field(model) > 0
    out = model(torch.randn(2, 1, 21, 30))
    assert out.shape == (2, 1, 21, 30)
    assert out.dtype == torch.float32
    out.square().mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["head.weight"].abs().sum() > 0
    first = next(n for n, _ in model.named_parameters() if n.startswith("encoder."))
    assert grads[first].abs().sum() > 0, first  # the gradient reaches the first layer

    # multi-class, 13 bands, inference mode: a size below the down-sampling factor, then a new
    # non-square size (models with positional embeddings interpolate them)
    model = create_model(name, in_channels=13, num_classes=3).eval()
    with torch.no_grad():
        tiny = model(torch.randn(1, 13, 5, 3))
        wide = model(torch.randn(1, 13, 40, 72))
    assert tiny.shape == (1, 3, 5, 3) and wide.shape == (1, 3, 40, 72)
    assert torch.isfinite(tiny).all() and torch.isfinite(wide).all()


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
