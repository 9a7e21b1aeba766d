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
    from terralearn.models.gnn_layers import WeightedSAGEConv

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
    from terralearn.models.gnn_layers import SinusoidalEncoding

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


def test_local_kriging_one_neighbour_formula():
    from terralearn.models.kriging import LocalKriging

    layer = LocalKriging(range_=2.0, shape=1.0, nugget=0.1, mean_variance=0.5)
    offsets = torch.tensor([[[1.0, 0.0]]])  # one neighbour at distance 1
    mean, sd = layer(offsets, torch.tensor([[[3.0]]]))
    rho = math.exp(-0.5)  # exp(-(1 / 2)^1)
    w = (rho + 0.5) / (1 + 0.1 + 0.5)  # (C + g + t)^-1 (c + t)
    assert mean.item() == pytest.approx(3.0 * w, rel=1e-5)
    assert sd.item() == pytest.approx(math.sqrt(1 + 0.5 - w * (rho + 0.5)), rel=1e-5)


def test_local_kriging_matches_a_dense_solve():
    from terralearn.models.kriging import LocalKriging

    torch.manual_seed(0)
    layer = LocalKriging(range_=1.5, shape=1.5, nugget=0.05, mean_variance=0.2)
    offsets, values = torch.randn(4, 6, 2), torch.randn(4, 6, 2)
    mean, sd = layer(offsets, values)
    p = layer.parameters_dict()
    assert p["shape"] == pytest.approx(1.5, rel=1e-5) and p["nugget"] == pytest.approx(0.05)

    def rho(h):
        return torch.exp(-((h / 1.5) ** 1.5)).double()

    for q in range(4):
        o = offsets[q].double()
        cov = rho(torch.cdist(o, o)) + 0.05 * torch.eye(6) + 0.2
        c = rho(o.norm(dim=1)) + 0.2
        w = torch.linalg.solve(cov, c)
        torch.testing.assert_close(mean[q].double(), w @ values[q].double(), rtol=1e-4, atol=1e-5)
        expected_sd = torch.sqrt(1.2 - w @ c)
        assert sd[q].item() == pytest.approx(expected_sd.item(), rel=1e-3)
    # gradients reach every covariance parameter
    (mean.sum() + sd.sum()).backward()
    assert all(param.grad is not None and param.grad.abs() > 0 for param in layer.parameters())


def test_local_kriging_leaves_out_invalid_neighbours():
    from terralearn.models.kriging import LocalKriging

    torch.manual_seed(1)
    layer = LocalKriging(range_=2.0, shape=1.2)
    offsets, values = torch.randn(3, 5, 2), torch.randn(3, 5, 1)
    valid = torch.tensor([[True] * 5, [True, False, True, True, False], [False] + [True] * 4])
    mean, sd = layer(offsets, values, valid)
    for q in range(3):
        keep = valid[q]
        alone = layer(offsets[q : q + 1, keep], values[q : q + 1, keep])
        torch.testing.assert_close(mean[q], alone[0][0], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(sd[q], alone[1][0], rtol=1e-4, atol=1e-5)
