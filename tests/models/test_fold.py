"""Inference rewrites (folded batch norms, 1x1 convs before up-sampling): the same network,
fewer passes."""

from __future__ import annotations

import copy

import torch
from torch import nn

from terralearn.models import create_model
from terralearn.models.fold import conv_before_upsampling, fold_batch_norms


def _with_running_stats(net: nn.Module, seed: int = 0) -> nn.Module:
    # trained-looking norms: running statistics and affine parameters away from 0 and 1
    gen = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen))
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen))
    return net.eval()


def test_folding_a_unet_keeps_its_outputs_and_removes_every_norm():
    torch.manual_seed(0)
    net = _with_running_stats(create_model("unet_small", 4, 3, base_width=8))
    plain = copy.deepcopy(net)
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert fold_batch_norms(net) == norms == 14  # 7 conv blocks x 2 conv + norm pairs
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    x = torch.randn(2, 4, 96, 80)
    with torch.inference_mode():
        torch.testing.assert_close(net(x), plain(x), rtol=1e-4, atol=1e-4)
        assert torch.equal(net(x).argmax(1), plain(x).argmax(1))


def test_only_a_norm_right_after_a_convolution_is_folded():
    net = nn.Sequential(
        nn.BatchNorm2d(3),  # before any convolution: stays
        nn.Conv2d(3, 5, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.BatchNorm2d(5),  # after a ReLU: stays
        nn.Conv2d(5, 5, 1),
        nn.BatchNorm2d(5),  # folded (the conv keeps a bias)
    )
    _with_running_stats(net, seed=1)
    plain = copy.deepcopy(net)
    assert fold_batch_norms(net) == 1
    assert [type(m).__name__ for m in net] == [
        "BatchNorm2d", "Conv2d", "ReLU", "BatchNorm2d", "Conv2d", "Identity",
    ]  # fmt: skip
    x = torch.randn(1, 3, 12, 12)
    with torch.inference_mode():
        torch.testing.assert_close(net(x), plain(x), rtol=1e-5, atol=1e-5)


def test_a_unets_1x1_convs_move_before_the_bilinear_upsampling_keeping_its_outputs():
    torch.manual_seed(0)
    net = _with_running_stats(create_model("unet_small", 4, 3, base_width=8))
    for m in net.modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.bias is not None:
            m.bias.data.normal_()  # a bias passes through: the bilinear weights sum to 1
    plain = copy.deepcopy(net)
    assert conv_before_upsampling(net) == 3  # one per up-block (depth 3)
    block = net.decoder.stages[0].up
    assert [type(m).__name__ for m in block] == ["Conv2d", "Upsample"]
    x = torch.randn(2, 4, 96, 80)
    with torch.inference_mode():
        torch.testing.assert_close(net(x), plain(x), rtol=0, atol=1e-5)
        assert torch.equal(net(x).argmax(1), plain(x).argmax(1))
    assert conv_before_upsampling(net) == 0  # done once


def test_only_an_upsampling_followed_by_a_pointwise_convolution_is_swapped():
    net = nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear"),
        nn.Conv2d(3, 4, 3, padding=1),  # 3x3: would see other neighbours, stays
        nn.Upsample(scale_factor=2, mode="bicubic"),
        nn.Conv2d(4, 4, 1),  # after bicubic: stays
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(4, 2, 1),  # swapped
    )
    assert conv_before_upsampling(net) == 1
    assert [type(m).__name__ for m in net][4:] == ["Conv2d", "Upsample"]
