"""Every registered graph model: forward, backward, shapes; layer formulas on tiny inputs."""

from __future__ import annotations

import math

import pytest
import torch

from terralearn.errors import ConfigError
from terralearn.models import create_model, list_models, model_info, require_kind


def graph_models() -> list[str]:
    return [m for m in list_models() if model_info(m)["family"] == "graph"]


def test_graph_models_registered():
    assert graph_models() == ["gat", "gcn", "sage"]


@pytest.mark.parametrize("name", ["gat", "gcn", "sage"])
@pytest.mark.parametrize("pos_frequencies", [0, 3])
def test_forward_backward_shapes(name, pos_frequencies):
    torch.manual_seed(0)
    model = create_model(
        name, in_channels=5, num_classes=3, hidden=16, pos_frequencies=pos_frequencies
    )
    x = torch.randn(10, 5)
    edge_index = torch.tensor([[1, 2, 3, 0, 5, 6], [0, 0, 1, 2, 4, 4]])
    weight = torch.rand(6)
    attr = torch.randn(6, 3)
    out = model(x, edge_index, weight, attr, torch.rand(10, 2))
    assert out.shape == (10, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_weighted_sage_is_weighted_mean():
    from terralearn.graph.models import WeightedSAGEConv

    conv = WeightedSAGEConv(1, 1)
    with torch.no_grad():
        conv.lin_neighbors.weight.fill_(1.0)
        conv.lin_neighbors.bias.fill_(0.0)
        conv.lin_root.weight.fill_(0.0)
    x = torch.tensor([[0.0], [2.0], [4.0]])
    edge_index = torch.tensor([[1, 2], [0, 0]])
    out = conv(x, edge_index, torch.tensor([1.0, 3.0]))
    assert out[0, 0].item() == pytest.approx((2 * 1 + 4 * 3) / 4)
    assert out[1, 0].item() == 0.0  # no incoming edges
    out = conv(x, edge_index)  # no weights: plain mean
    assert out[0, 0].item() == pytest.approx(3.0)


def test_sinusoidal_encoding_values():
    from terralearn.graph.models import SinusoidalEncoding

    enc = SinusoidalEncoding(2, min_wavelength=0.5, max_wavelength=1.0)
    out = enc(torch.tensor([[0.25, 0.0]]))
    assert out.shape == (1, 8)
    # sin(2 pi x / lambda) for x = 0.25, lambda = 1 and 0.5
    assert out[0, :2].tolist() == pytest.approx([1.0, math.sin(math.pi)], abs=1e-6)


def test_bad_options_and_kind():
    with pytest.raises(ConfigError, match="hidden=30 must be divisible by heads=4"):
        create_model("gat", 3, 1, hidden=30)
    with pytest.raises(ConfigError, match="model 'sage' has no option 'heads'"):
        create_model("sage", 3, 1, heads=2)
    with pytest.raises(
        ConfigError,
        match=r"model 'sage' is a graph model but terralearn train needs a raster model .*use terralearn graph train",
    ):
        require_kind("sage", "raster", "terralearn train")
    with pytest.raises(
        ConfigError, match=r"is a raster model .*needs a graph model \(gat, gcn, sage\)"
    ):
        require_kind("unet_small", "graph", "terralearn graph train")
