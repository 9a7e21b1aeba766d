"""Rewrites of a trained network for inference: the same function, computed faster.

- :func:`fold_batch_norms`: in eval mode a ``BatchNorm2d`` is a fixed affine map per channel, so
  after a ``Conv2d`` it can be folded into the convolution's weights and bias
  (``torch.nn.utils.fusion.fuse_conv_bn_eval``): one pass over the activations instead of two,
  and one full-size tensor less alive at a time.
- :func:`conv_before_upsampling`: bilinear (or nearest) up-sampling and a 1x1 convolution are
  both linear, and the up-sampling's weights sum to 1 (a bias passes through), so the
  convolution can run first, on a quarter of the pixels, and the up-sampling then moves fewer
  channels. It also avoids torch's channels-last bilinear kernel at batch size 1, 1.7-4.7x
  slower per pixel than on a batch of two.
- :func:`split_skip_concatenation`: a convolution of the concatenation ``[up, skip]`` (a
  U-Net's up-block) is the sum of two convolutions, one over each part, so the joined tensor
  (twice the channels of either part, at the block's resolution) is never made: one copy less
  per block, and with the decoder freeing each skip once used, half the peak memory of
  ``unet_small``'s forward (larger tiles in the same memory).
- :func:`fold_band_std`: a convolution is linear in each input channel, so the division of
  the normalisation ``(x - mean) / std`` can move into the weights of the convolution that
  takes the network's input: the task then only subtracts the mean (one pass over each input
  tile instead of two), and zero padding still stands for the band mean.

Measured on a 2-core Xeon for ``unet_small`` on 768-1792 px tiles: see ``benchmarks/README.md``
("Prediction near the one-pass limit"). Outputs move in the last float bits, like any change of
summation order. Training keeps the network as it is built, so a run trains as it always did.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from terralearn.models.unet import Span, UpBlock, block_input_rows, upsample_rows

PROBE_SIZE = 64  # side of the probe input that finds and checks the input convolution


def _neighbours(module: nn.Module) -> Iterator[tuple[nn.Sequential, str, str]]:
    """``(sequential, name, next name)`` for every two modules one after the other in an
    ``nn.Sequential`` of ``module``; the caller may replace them as it goes."""
    for parent in module.modules():
        if isinstance(parent, nn.Sequential):
            names = list(parent._modules)
            for first, second in zip(names, names[1:], strict=False):
                yield parent, first, second


def fold_batch_norms(module: nn.Module) -> int:
    """Fold, in place, every ``BatchNorm2d`` that directly follows a ``Conv2d`` in an
    ``nn.Sequential`` (a U-Net's conv blocks) into that convolution; the norm becomes
    ``nn.Identity``. Call on a module in eval mode that is not trained further.

    Returns:
        How many norms were folded.
    """
    folded = 0
    for parent, first, second in _neighbours(module):
        conv, norm = parent._modules[first], parent._modules[second]
        if (
            isinstance(conv, nn.Conv2d)
            and isinstance(norm, nn.BatchNorm2d)
            and norm.track_running_stats
            and conv.out_channels == norm.num_features
        ):
            parent._modules[first] = fuse_conv_bn_eval(conv.eval(), norm.eval())
            parent._modules[second] = nn.Identity()
            folded += 1
    return folded


def conv_before_upsampling(module: nn.Module) -> int:
    """Swap, in place, every bilinear or nearest ``Upsample`` that is directly followed in an
    ``nn.Sequential`` by a 1x1 ``Conv2d`` (a U-Net's up-blocks), so the convolution runs first.
    For inference only: the parameters keep their values but move to the other index, so the
    state dict's keys change.

    Returns:
        How many pairs were swapped.
    """
    swapped = 0
    for parent, first, second in _neighbours(module):
        upsample, conv = parent._modules[first], parent._modules[second]
        if (
            isinstance(upsample, nn.Upsample)
            and upsample.mode in ("bilinear", "nearest")
            and isinstance(conv, nn.Conv2d)
            and conv.kernel_size == (1, 1)
            and conv.stride == (1, 1)
            and conv.padding == (0, 0)
        ):
            parent._modules[first], parent._modules[second] = conv, upsample
            swapped += 1
    return swapped


class SummedUpBlock(nn.Module):
    """An :class:`~terralearn.models.unet.UpBlock` whose first convolution is split over the
    two parts of its input: ``conv([up, skip]) = conv_up(up) + conv_skip(skip)`` (the bias
    once), then the rest of its conv block. The same function; the concatenation is never
    made."""

    def __init__(self, block: UpBlock) -> None:
        super().__init__()
        first = block.conv[0]
        half = first.in_channels // 2  # [up, skip]: both have the block's output channels

        def part(weight: Tensor, bias: Tensor | None) -> nn.Conv2d:
            conv = nn.Conv2d(
                half, first.out_channels, first.kernel_size, first.stride, first.padding,
                first.dilation, bias=bias is not None, padding_mode=first.padding_mode,
            )  # fmt: skip
            conv.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
            if bias is not None:
                conv.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
            return conv.to(first.weight.device)

        self.up = block.up
        self.conv_up = part(first.weight[:, :half], first.bias)
        self.conv_skip = part(first.weight[:, half:], None)
        self.rest = nn.Sequential(*list(block.conv)[1:])

    def forward(self, x: Tensor, skip: Tensor, cut: Span | None = None) -> Tensor:
        out = self.conv_up(upsample_rows(self.up, x, cut))
        out += self.conv_skip(skip)
        return self.rest(out)

    def input_rows(self, rows: Span, fine: int, coarse: int) -> tuple[Span, Span] | None:
        """As :meth:`~terralearn.models.unet.UpBlock.input_rows` (``conv_skip`` reaches as
        far as ``conv_up``)."""
        return block_input_rows(self.up, [self.conv_up, *self.rest], rows, fine, coarse)


def split_skip_concatenation(module: nn.Module) -> int:
    """Replace, in place, every :class:`~terralearn.models.unet.UpBlock` of ``module`` whose
    conv block starts with a plain convolution over the concatenation by a
    :class:`SummedUpBlock`. For inference only (the state dict's keys change).

    Returns:
        How many blocks were replaced.
    """
    replaced = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            first = child.conv[0] if isinstance(child, UpBlock) else None
            if (
                isinstance(first, nn.Conv2d)
                and first.groups == 1
                and first.in_channels == 2 * first.out_channels
            ):
                setattr(parent, name, SummedUpBlock(child))
                replaced += 1
    return replaced


def fold_band_std(task: nn.Module) -> bool:
    """Divide, in place, the weights of the convolution that takes ``task.model``'s input by
    the task's per-band ``band_std``, and set ``band_std`` to None, so the task's normalisation
    only subtracts ``band_mean``: ``W * ((x - m) / s)`` equals ``(W / s) * (x - m)``.

    The convolution is found by a probe forward (the one ``Conv2d`` that receives the
    network's input tensor), and the folded network is checked against the original on that
    probe; a network that also uses its input elsewhere, or that the probe cannot pass, is
    left as it is.

    Returns:
        Whether the division was folded.
    """
    network, mean, std = (getattr(task, name, None) for name in ("model", "band_mean", "band_std"))
    if not isinstance(network, nn.Module) or not all(
        isinstance(t, torch.Tensor) and t.dim() == 4 for t in (mean, std)
    ):
        return False
    bands = std.shape[1]
    gen = torch.Generator().manual_seed(0)
    centred = torch.randn(1, bands, PROBE_SIZE, PROBE_SIZE, generator=gen) * std
    normalised = centred / std
    takers: list[nn.Module] = []

    def record(module: nn.Module, args: tuple) -> None:
        if args and args[0] is normalised:
            takers.append(module)

    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
    hooks = [m.register_forward_pre_hook(record) for m in convs]
    try:
        with torch.inference_mode():
            expected = network(normalised)
    except Exception:  # a probe the network cannot take (e.g. a fixed input size)
        return False
    finally:
        for hook in hooks:
            hook.remove()
    if len(takers) != 1 or takers[0].groups != 1 or takers[0].in_channels != bands:
        return False
    conv = takers[0]
    weight = conv.weight.data
    conv.weight.data = weight / std.reshape(1, bands, 1, 1).to(weight)
    with torch.inference_mode():
        folded = network(centred)
    scale = float(expected.abs().max()) or 1.0
    if not torch.allclose(folded, expected, rtol=1e-4, atol=1e-5 * scale):
        conv.weight.data = weight  # the input is used elsewhere too: keep the division
        return False
    task.band_std = None
    return True
