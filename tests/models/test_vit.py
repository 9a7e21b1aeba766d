"""ViT family: variants, interpolated positions, attention paths, padding, options, tiling facts."""

from __future__ import annotations

import pytest
import torch

from terralearn.errors import ConfigError, IncompatibleError
from terralearn.models import create_model, list_models, model_info
from terralearn.models.layers import pad_to_multiple
from terralearn.models.vit import ConvStem, PatchStem, ViT

VITS = [m for m in list_models() if model_info(m)["family"] == "vit"]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_vit(**options) -> ViT:
    """A narrow ViT that runs in milliseconds."""
    defaults = dict(embed_dim=16, depth=2, num_heads=2, img_size=32, decoder_width=16, levels=2)
    return ViT(2, 3, **(defaults | options))


def test_the_family_is_registered() -> None:
    assert VITS == ["vit_hybrid_tiny", "vit_small", "vit_tiny"]


def test_variant_configurations() -> None:
    tiny = create_model("vit_tiny", 3, 2)
    assert isinstance(tiny.encoder.stem, PatchStem)
    assert tiny.encoder.stem.proj.kernel_size == (8, 8) and tiny.encoder.stem.proj.stride == (8, 8)
    assert tiny.encoder.pos_embed.shape == (1, 192, 16, 16)  # img_size 128 / patch 8
    assert tiny.num_blocks == 12 and tiny.num_heads == 3 and tiny.levels == [2, 5, 8, 11]
    small = create_model("vit_small", 3, 2)
    assert small.encoder.pos_embed.shape[1] == 384 and small.num_heads == 6
    hybrid = create_model("vit_hybrid_tiny", 3, 2)
    assert isinstance(hybrid.encoder.stem, ConvStem)
    assert hybrid.encoder.stem.skip_channels == [32, 64, 128]
    assert hybrid.num_blocks == 12 and hybrid.encoder.pos_embed.shape[1] == 192
    params = {m: sum(p.numel() for p in create_model(m, 3, 2).parameters()) for m in VITS}
    assert 5.5e6 < params["vit_tiny"] < 6e6 and 21e6 < params["vit_small"] < 22.5e6
    assert params["vit_hybrid_tiny"] > params["vit_tiny"]


@pytest.mark.parametrize("name", VITS)
def test_positions_interpolate_to_a_new_input_size(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, 4, 2, img_size=32, patch_size=8).eval()
    encoder = model.encoder
    # the training grid uses the parameter itself; other grids an interpolation of it
    assert encoder.positions((4, 4)) is encoder.pos_embed
    with torch.no_grad():
        encoder.pos_embed.copy_(torch.arange(4.0).view(1, 1, 1, 4).expand_as(encoder.pos_embed))
        wide = encoder.positions((3, 10))
    assert wide.shape == (1, encoder.pos_embed.shape[1], 3, 10)
    # a ramp along x stays a ramp: constant down the rows, increasing along the columns
    assert torch.allclose(wide[:, :, 0], wide[:, :, 2])
    assert (wide[0, 0, 0].diff() > 0).all()
    assert wide[0, 0, 0, 0] < 0.5 and wide[0, 0, 0, -1] > 2.5
    with torch.no_grad():  # training size, a larger size, and a size off the patch grid
        for h, w in ((32, 32), (48, 80), (37, 51)):
            out = model(torch.randn(1, 4, h, w))
            assert out.shape == (1, 2, h, w) and torch.isfinite(out).all()


def test_positions_change_the_output_where_they_differ() -> None:
    torch.manual_seed(0)
    model = small_vit().eval()
    x = torch.randn(1, 2, 48, 48)  # a 6 x 6 grid from the 4 x 4 positions
    with torch.no_grad():
        before = model(x)
        model.encoder.pos_embed.zero_()
        after = model(x)
    assert not torch.allclose(before, after)


def test_explicit_attention_matches_the_fused_path() -> None:
    torch.manual_seed(0)
    model = small_vit(depth=3, levels=3).eval()
    x = torch.randn(2, 2, 21, 30)
    with torch.no_grad():
        fused = model(x)
        logits, attentions, grid = model.forward_with_attention(x)
    assert torch.allclose(fused, logits, atol=1e-5)
    assert grid == (3, 4)  # 21 x 30 padded to 24 x 32, patches of 8
    assert len(attentions) == 3
    for a in attentions:
        assert a.shape == (2, 2, 12, 12)
        assert torch.allclose(a.sum(-1), torch.ones(2, 2, 12))
        assert (a >= 0).all()


def test_inputs_off_the_patch_grid_are_padded_then_cropped() -> None:
    torch.manual_seed(0)
    model = small_vit(patch_size=4).eval()
    x = torch.randn(1, 2, 13, 10)
    with torch.no_grad():
        out = model(x)
        reference = model(pad_to_multiple(x, 4))  # 16 x 12: on the grid, no padding inside
    assert out.shape == (1, 3, 13, 10)
    assert torch.allclose(out, reference[..., :13, :10], atol=1e-6)


def test_hybrid_skips_carry_gradients() -> None:
    torch.manual_seed(0)
    model = small_vit(stem="conv", stem_width=4, patch_size=4)
    model(torch.randn(2, 2, 16, 16)).square().mean().backward()
    stages = model.encoder.stem.stages
    assert len(stages) == 2 and model.encoder.stem.skip_channels == [4, 8]
    assert stages[0][0].weight.grad.abs().sum() > 0
    assert [s.conv[0].in_channels for s in model.decoder.stages] == [16 + 8, 16 + 4]


def test_tiling_facts_for_prediction() -> None:
    from terralearn.predict.model import load_predictor

    model = create_model("vit_tiny", 3, 2, img_size=64)
    assert model.receptive_field == 64 and model.global_context and model.align == 8
    # prediction reads `depth` as U-Net pooling levels: the ViT must not declare one
    assert not hasattr(model, "depth")
    predictor = load_predictor(model)
    # tiles start on patch boundaries, so tiled and whole-image patch grids agree
    assert predictor.receptive_field == 64 and predictor.align == 8


def test_wrong_band_count_is_incompatible() -> None:
    with pytest.raises(
        IncompatibleError,
        match=r"the ViT expects images of shape \(B, 2, H, W\), got \(1, 3, 8, 8\)",
    ):
        small_vit()(torch.randn(1, 3, 8, 8))


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("patch_size", 6, "ViT option patch_size must be one of 2, 4, 8, 16, 32, got 6"),
        ("img_size", 36, r"ViT option img_size must be a positive multiple of patch_size \(8\)"),
        ("embed_dim", 15, r"ViT option embed_dim must be a multiple of num_heads \(2\), got 15"),
        ("levels", 3, r"ViT option levels must be at most depth \(2\), got 3"),
        ("drop_path", 1.0, r"ViT option drop_path must be a number in \[0, 1\), got 1.0"),
        ("stem", "resnet", "ViT option stem must be one of 'patch', 'conv', got 'resnet'"),
        ("depth", 0, "ViT option depth must be an integer >= 1, got 0"),
    ],
)
def test_bad_option_values(option: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        small_vit(**{option: value})


def test_registry_checks_vit_options() -> None:
    with pytest.raises(ConfigError, match="model 'vit_tiny' has no option 'depth'"):
        create_model("vit_tiny", 3, 2, depth=4)
    with pytest.raises(ConfigError, match="ViT option patch_size must be one of"):
        create_model("vit_small", 3, 2, patch_size=3)
