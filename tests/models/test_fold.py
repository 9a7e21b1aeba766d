"""Inference rewrites (folded batch norms, 1x1 convs before up-sampling, up-blocks without the
concatenation, the band std in the input convolution): the same network, fewer passes."""

from __future__ import annotations

import copy

import torch
from torch import nn

from terralearn.data.augment import normalize_bands
from terralearn.models import create_model
from terralearn.models.fold import (
    SummedUpBlock,
    conv_before_upsampling,
    fold_band_std,
    fold_batch_norms,
    split_skip_concatenation,
)
from terralearn.tasks.segmentation import SegmentationTask


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


def _normalising_task(model: str = "unet_small") -> SegmentationTask:
    torch.manual_seed(0)
    return SegmentationTask(
        model=model, in_channels=3, num_classes=4, model_kwargs={"base_width": 8},
        band_mean=[1200.0, 800.0, 2500.0], band_std=[300.0, 150.0, 900.0], augment=False,
        schedule="none",
    ).eval()  # fmt: skip


def test_up_blocks_sum_two_convolutions_instead_of_concatenating_keeping_the_outputs(monkeypatch):
    torch.manual_seed(0)
    net = _with_running_stats(create_model("unet", 4, 3, base_width=8))
    fold_batch_norms(net)  # as a run is loaded: the split convolution then has a bias
    conv_before_upsampling(net)
    plain = copy.deepcopy(net)
    assert split_skip_concatenation(net) == 4  # depth 4: one per up-block
    blocks = list(net.decoder.stages)
    assert all(isinstance(b, SummedUpBlock) for b in blocks)
    first = plain.decoder.stages[0].conv[0]  # 128 = 64 up + 64 skip channels -> 64
    assert blocks[0].conv_up.weight.shape == blocks[0].conv_skip.weight.shape == (64, 64, 3, 3)
    assert torch.equal(blocks[0].conv_up.weight, first.weight[:, :64])
    assert torch.equal(blocks[0].conv_skip.weight, first.weight[:, 64:])
    assert torch.equal(blocks[0].conv_up.bias, first.bias) and blocks[0].conv_skip.bias is None
    joins = []
    real_cat = torch.cat
    monkeypatch.setattr(torch, "cat", lambda *a, **k: joins.append(1) or real_cat(*a, **k))
    x = torch.randn(2, 4, 96, 80)  # padded to 96 x 96 inside
    with torch.inference_mode():
        out, expected = net(x), plain(x)
    assert len(joins) == 4  # all four from the original network, none from the split one
    assert out.shape == (2, 3, 96, 80)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(out.argmax(1), expected.argmax(1))


def test_a_grouped_first_convolution_is_not_split():
    net = create_model("unet_small", 3, 2, base_width=4).eval()
    block = net.decoder.stages[0]
    block.conv[0] = nn.Conv2d(16, 8, 3, padding=1, groups=2)  # grouped: the halves mix
    assert split_skip_concatenation(net) == 2  # the other two blocks
    assert not isinstance(net.decoder.stages[0], SummedUpBlock)


def test_the_decoder_frees_each_skip_once_used():
    net = create_model("unet_small", 3, 2, base_width=4).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        features = net.encoder(x)
        deepest = features[-1]
        out = net.decoder(features)
    assert features == []  # the encoder's list, emptied deepest first
    assert deepest.shape == (1, 32, 4, 4) and out.shape == (1, 4, 32, 32)


def test_the_band_std_moves_into_the_input_convolution_keeping_the_outputs():
    task = _with_running_stats(_normalising_task())
    plain = copy.deepcopy(task)
    gen = torch.Generator().manual_seed(1)
    raw = (torch.rand(2, 3, 80, 96, generator=gen) * 4000).to(torch.int16)  # raw DN, any dtype
    valid = torch.rand(2, 80, 96, generator=gen) > 0.1  # nodata pixels: the band mean, both ways
    assert fold_band_std(task)
    assert task.band_std is None and plain.band_std is not None
    assert torch.equal(task.band_mean, plain.band_mean)
    with torch.inference_mode():
        # only the mean is subtracted now: one pass over the input
        torch.testing.assert_close(task.normalize(raw), raw.float() - task.band_mean)
        folded, expected = task(raw, valid), plain(raw, valid)
    torch.testing.assert_close(folded, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(folded.argmax(1), expected.argmax(1))
    changed = [
        name for (name, a), (_, b) in zip(
            task.named_parameters(), plain.named_parameters(), strict=True
        ) if not torch.equal(a, b)
    ]  # fmt: skip
    assert len(changed) == 1 and changed[0].endswith("weight")  # the input convolution only
    assert not fold_band_std(task)  # done once: nothing left to divide


class _InputTwice(nn.Module):
    """A network that adds its input's mean to the output: the division cannot move."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x) + x.mean(dim=1, keepdim=True)


class _FixedSize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        if x.shape[-1] != 32:
            raise ValueError("32 px inputs only")
        return self.conv(x)


def test_the_band_std_stays_when_the_network_uses_its_input_elsewhere_or_refuses_the_probe():
    for network in (_InputTwice(), _FixedSize()):
        task = _normalising_task()
        task.model = network
        weight = network.conv.weight.detach().clone()
        assert not fold_band_std(task)
        assert torch.equal(network.conv.weight, weight) and task.band_std is not None
    assert not fold_band_std(nn.Conv2d(3, 3, 1))  # no band statistics: nothing to fold


def test_normalising_without_a_std_only_subtracts_the_mean():
    raw = torch.tensor([[[[10, 20]], [[30, 40]]]], dtype=torch.uint16)
    mean = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)
    valid = torch.tensor([[[True, False]]])
    x = normalize_bands(raw, mean, None, valid, torch.channels_last)
    assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
    assert x.tolist() == [[[[9.0, 0.0]], [[28.0, 0.0]]]]
