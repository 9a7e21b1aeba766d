"""Small building blocks shared by model families."""

from __future__ import annotations

import math
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

Norm = Literal["batch", "group", "none"]


def norm_layer(norm: Norm, channels: int) -> nn.Module:
    """Normalisation layer for ``channels`` feature maps.

    ``"group"`` uses ``gcd(channels, 8)`` groups, so any width works and wide layers get 8
    groups (GroupNorm is the choice for small batches, where batch statistics are noisy).
    """
    match norm:
        case "batch":
            return nn.BatchNorm2d(channels)
        case "group":
            return nn.GroupNorm(math.gcd(channels, 8), channels)
        case "none":
            return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}")


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by normalisation and ReLU.

    Shapes:
        input ``(B, in_channels, H, W)`` -> output ``(B, out_channels, H, W)`` (padding 1).
    """

    def __init__(self, in_channels: int, out_channels: int, norm: Norm = "batch") -> None:
        bias = norm == "none"  # a bias before a norm layer is cancelled by it
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias),
            norm_layer(norm, out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=bias),
            norm_layer(norm, out_channels),
            nn.ReLU(inplace=True),
        )


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Pad the last two dims at the bottom/right up to a multiple of ``multiple``.

    Reflect padding keeps image statistics at the border; it needs the pad to be smaller than
    the size, so tiny inputs (side < pad) fall back to edge replication.
    """
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)
