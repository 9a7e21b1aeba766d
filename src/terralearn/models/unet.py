"""U-Net family (Ronneberger et al. 2015), in plain torch.

Structure (``depth`` = number of 2x down-samplings, widths ``base_width * 2**i``)::

    input ─ pad ─ encoder.stem ─────────────────────────── decoder.stages[-1] ─ head ─ crop ─ logits
                  encoder.stages[0] (pool, convs) ──── decoder.stages[-2]
                    ...                                  ...
                  encoder.stages[depth-1] ─ dropout ─ decoder.stages[0]

The submodules are named ``encoder``, ``decoder`` and ``head`` so encoder weights can be
transferred by name (``model.encoder.state_dict()``).

Any input size works: the input is padded internally (reflect, bottom/right) to a multiple of
``2**depth`` and the logits are cropped back, so ``H, W >= 1`` and the output always has the
input's size. Any number of input bands works. ``num_classes=1`` means binary segmentation (one
logit channel, sigmoid at inference); ``num_classes >= 2`` multi-class (softmax). The model
returns logits ``(B, num_classes, H, W)``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from terralearn.errors import ConfigError, IncompatibleError
from terralearn.models.layers import ConvBlock, Norm, pad_to_multiple
from terralearn.models.registry import register_model

Upsampling = Literal["bilinear", "transposed"]


def unet_receptive_field(depth: int, upsampling: Upsampling = "bilinear") -> int:
    """Exact theoretical receptive field of a U-Net, in input pixels (side of a square window).

    The textbook recurrence (each layer adds ``(kernel - 1) * stride``) undercounts the decoder:
    where an up-sampling maps a span of fine pixels back to coarse ones, the span can cover one
    more coarse pixel depending on its alignment. So this propagates the 1-D interval of
    positions one output pixel depends on backwards through the layers (3x3 conv: widen by 1;
    2x2 max-pool: ``[2 lo, 2 hi + 1]``; transposed 2x2 stride-2 conv: ``[lo // 2, hi // 2]``;
    bilinear 2x: ``[(2 lo - 1) // 4, (2 hi - 1) // 4 + 1]``; skip: union of both paths) and
    takes the widest over the ``2**depth`` alignments. A gradient test confirms the values::

        depth           1    2    3    4    5
        bilinear       20   52  116  236  476
        transposed     18   44  100  204  412
    """

    def encoder(level: int, lo: int, hi: int) -> tuple[int, int]:
        lo, hi = lo - 2, hi + 2  # two 3x3 convs
        return (lo, hi) if level == 0 else encoder(level - 1, 2 * lo, 2 * hi + 1)

    def up(lo: int, hi: int) -> tuple[int, int]:
        if upsampling == "transposed":
            return lo // 2, hi // 2
        return (2 * lo - 1) // 4, (2 * hi - 1) // 4 + 1  # source index (o + 0.5) / 2 - 0.5

    def decoder(level: int, lo: int, hi: int) -> tuple[int, int]:
        lo, hi = lo - 2, hi + 2
        skip = encoder(level, lo, hi)
        coarse = up(lo, hi)
        deep = encoder(depth, *coarse) if level + 1 == depth else decoder(level + 1, *coarse)
        return min(skip[0], deep[0]), max(skip[1], deep[1])

    spans = (decoder(0, o, o) for o in range(2**depth))
    return max(hi - lo + 1 for lo, hi in spans)


Span = tuple[int, int]  # rows [start, stop)


def block_input_rows(
    up: nn.Module, convs: list[nn.Module], rows: Span, fine: int, coarse: int
) -> tuple[Span, Span] | None:
    """For an up-block (``up``, then ``convs`` over the up-sampled features and the skip):
    the rows of its input at the fine level (``fine`` rows in all) and of the coarse
    features before ``up`` (``coarse`` rows) that its output ``rows`` depend on.

    The fine rows widen by the convolutions' reach, within the level (a convolution at the
    level's edge pads with zeros whether or not the rows are cut). The coarse rows are those
    ``up`` reads for them: bilinear 2x (``align_corners=False``) reads rows ``(2 o - 1) // 4``
    and the next; nearest 2x and a 2x2 stride-2 transposed convolution read ``o // 2``. Every
    fine row the block uses then has all its coarse rows, so the values are those of the uncut
    block. None for any other layer.
    """
    reach = 0
    for layer in convs:
        if isinstance(layer, nn.Conv2d):
            k, d, p = layer.kernel_size[0], layer.dilation[0], layer.padding
            if layer.stride != (1, 1) or p != ((k - 1) // 2 * d,) * 2 or k % 2 == 0:
                return None
            reach += p[0]
        elif not isinstance(layer, (nn.ReLU, nn.Identity, nn.BatchNorm2d, nn.Dropout)):
            return None
    a, b = max(0, rows[0] - reach), min(fine, rows[1] + reach)
    lo, hi = a, b - 1  # inclusive, then mapped back through up's layers
    layers = list(up) if isinstance(up, nn.Sequential) else [up]
    for layer in reversed(layers):
        if isinstance(layer, nn.Conv2d) and layer.kernel_size == (1, 1) and layer.stride == (1, 1):
            continue
        if isinstance(layer, nn.Upsample) and layer.scale_factor in (2, 2.0, (2.0, 2.0)):
            if layer.mode == "bilinear" and not layer.align_corners:
                lo, hi = (2 * lo - 1) // 4, (2 * hi - 1) // 4 + 1
            elif layer.mode == "nearest":
                lo, hi = lo // 2, hi // 2
            else:
                return None
        elif (
            isinstance(layer, nn.ConvTranspose2d)
            and layer.kernel_size == (2, 2) and layer.stride == (2, 2) and layer.padding == (0, 0)
        ):  # fmt: skip
            lo, hi = lo // 2, hi // 2
        else:
            return None
    return (a, b), (max(0, lo), min(coarse, hi + 1))


def upsample_rows(up: nn.Module, x: Tensor, cut: Span | None) -> Tensor:
    """``up(x)``, only rows ``cut`` (a view) if given."""
    y = up(x)
    return y if cut is None else y[..., cut[0] : cut[1], :]


class UNetEncoder(nn.Module):
    """Contracting path: a stem block then ``depth`` levels of (2x2 max-pool, conv block).

    Shapes:
        input ``(B, C, H, W)`` with H, W multiples of ``2**depth`` -> list of ``depth + 1``
        feature maps, level ``i`` of shape ``(B, widths[i], H / 2**i, W / 2**i)``.
    """

    def __init__(self, in_channels: int, widths: list[int], norm: Norm) -> None:
        super().__init__()
        self.stem = ConvBlock(in_channels, widths[0], norm)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), ConvBlock(c_in, c_out, norm))
            for c_in, c_out in zip(widths[:-1], widths[1:], strict=True)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        features = [self.stem(x)]
        for stage in self.stages:
            features.append(stage(features[-1]))
        return features


class UpBlock(nn.Module):
    """Up-sample 2x to ``out_channels``, concatenate the skip, then a conv block."""

    def __init__(self, in_channels: int, out_channels: int, norm: Norm, upsampling: Upsampling):
        super().__init__()
        if upsampling == "bilinear":
            self.up: nn.Module = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, 1),
            )
        else:
            self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.conv = ConvBlock(2 * out_channels, out_channels, norm)

    def forward(self, x: Tensor, skip: Tensor, cut: Span | None = None) -> Tensor:
        """``cut``: the rows of the up-sampled ``x`` that ``skip`` holds (all if None)."""
        # the up-sampled features are a temporary: freed once concatenated
        return self.conv(torch.cat([upsample_rows(self.up, x, cut), skip], dim=1))

    def input_rows(self, rows: Span, fine: int, coarse: int) -> tuple[Span, Span] | None:
        """The rows of the skip (and of the up-sampled features) and of the coarse input that
        output ``rows`` depend on (see :func:`block_input_rows`)."""
        return block_input_rows(self.up, list(self.conv), rows, fine, coarse)


class UNetDecoder(nn.Module):
    """Expanding path: ``depth`` up-blocks from the deepest feature map to full resolution.

    Shapes:
        the encoder's feature list (emptied) -> ``(B, widths[0], H, W)``.
    """

    def __init__(self, widths: list[int], norm: Norm, upsampling: Upsampling) -> None:
        super().__init__()
        # deepest first
        self.stages = nn.ModuleList(
            UpBlock(widths[i + 1], widths[i], norm, upsampling)
            for i in reversed(range(len(widths) - 1))
        )

    def forward(self, features: list[Tensor], rows: Span | None = None) -> Tensor:
        """Takes the encoder's list and empties it, deepest first: each skip is freed once
        its up-block has used it (in inference, half the memory of ``unet_small``'s forward
        with :func:`terralearn.models.fold.split_skip_concatenation`).

        With ``rows`` (``(start, stop)`` at full resolution) only those rows are returned, and
        where it is free each level computes only the rows they depend on (see
        :meth:`row_plan`)."""
        plan = None if rows is None else self.row_plan(features, rows)
        x = features.pop()
        if plan is None:
            for stage in self.stages:
                x = stage(x, features.pop())
            return x if rows is None else x[..., rows[0] : rows[1], :]
        held = 0  # x holds rows [held, ...) of its level
        for stage, ((a, b), (c, d)) in zip(self.stages, plan, strict=True):
            coarse, skip = x[..., c - held : d - held, :], features.pop()[..., a:b, :]
            x, held = stage(coarse, skip, (a - 2 * c, b - 2 * c)), a
        return x[..., rows[0] - held : rows[1] - held, :]

    def row_plan(self, features: list[Tensor], rows: Span) -> list[tuple[Span, Span]] | None:
        """Rows each up-block computes for output ``rows``: ``(its rows, the coarse rows it
        reads)`` per stage, deepest first; or None to compute every row.

        Only when a range of rows is a view with the layout the convolutions take (one tile in
        channels-last: a contiguous run of memory). A column range, or a row range of a batch,
        would be copied at every level: on ``unet_small``'s 1792 px tiles that cost more than
        the rows saved, while the rows alone saved 3 % of the forward at 32 px margins. Also
        None for an up-block whose layers :func:`block_input_rows` does not know.
        """
        top = features[0]
        if top.shape[0] != 1 or not top.is_contiguous(memory_format=torch.channels_last):
            return None
        plan = []
        for stage, level in zip(reversed(self.stages), range(len(self.stages)), strict=True):
            fine, coarse = features[level].shape[-2], features[level + 1].shape[-2]
            spans = stage.input_rows(rows, fine, coarse) if hasattr(stage, "input_rows") else None
            if spans is None:
                return None
            plan.append(spans)
            rows = spans[1]
        return plan[::-1]


class UNet(nn.Module):
    """U-Net for semantic segmentation (see the module docstring for the layout).

    Args:
        in_channels: input bands (>= 1).
        num_classes: 1 for binary (one logit channel), >= 2 for multi-class.
        depth: number of 2x down-samplings (>= 1); inputs are padded to a multiple of ``2**depth``.
        base_width: channels of the first level; doubled at every level.
        norm: ``"batch"``, ``"group"`` (better for batches of a few chips) or ``"none"``.
        dropout: dropout probability on the bottleneck features (0 disables it).
        upsampling: ``"bilinear"`` (+ 1x1 conv; no checkerboard artefacts) or ``"transposed"``.

    Attributes:
        receptive_field: theoretical receptive field in pixels (:func:`unet_receptive_field`).

    Shapes:
        input ``(B, in_channels, H, W)``, any float dtype and any ``H, W >= 1`` ->
        logits ``(B, num_classes, H, W)``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        depth: int = 4,
        base_width: int = 32,
        norm: Norm = "batch",
        dropout: float = 0.0,
        upsampling: Upsampling = "bilinear",
    ) -> None:
        super().__init__()
        _check_options(depth, base_width, norm, dropout, upsampling)
        widths = [base_width * 2**i for i in range(depth + 1)]
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.depth = depth
        self.receptive_field = unet_receptive_field(depth, upsampling)
        self.encoder = UNetEncoder(in_channels, widths, norm)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.decoder = UNetDecoder(widths, norm, upsampling)
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: Tensor, rows: Span | None = None) -> Tensor:
        """Logits ``(B, num_classes, H, W)``; with ``rows`` (``(start, stop)``, ``0 <= start <
        stop <= H``) only those rows, ``(B, num_classes, stop - start, W)``: the decoder
        computes less for them (a tile's core without its top and bottom margins; the same
        values as the rows of the whole output)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise IncompatibleError(
                f"the U-Net expects images of shape (B, {self.in_channels}, H, W), got "
                f"{tuple(x.shape)}; select the bands the model was trained on"
            )
        size = x.shape[-2:]
        if rows is not None and not 0 <= rows[0] < rows[1] <= size[0]:
            raise ValueError(f"rows {rows} are not within the input's {size[0]} rows")
        features = self.encoder(pad_to_multiple(x, 2**self.depth))
        features[-1] = self.dropout(features[-1])
        logits = self.head(self.decoder(features, rows))
        return logits[..., : size[1]] if rows is not None else logits[..., : size[0], : size[1]]


def _check_options(depth: int, base_width: int, norm: str, dropout: float, upsampling: str) -> None:
    def bad(option: str, expected: str, value: object) -> ConfigError:
        return ConfigError(f"U-Net option {option} must be {expected}, got {value!r}")

    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise bad("depth", "an integer >= 1", depth)
    if isinstance(base_width, bool) or not isinstance(base_width, int) or base_width < 1:
        raise bad("base_width", "an integer >= 1", base_width)
    if norm not in ("batch", "group", "none"):
        raise bad("norm", "one of 'batch', 'group', 'none'", norm)
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise bad("dropout", "a number in [0, 1)", dropout)
    if upsampling not in ("bilinear", "transposed"):
        raise bad("upsampling", "one of 'bilinear', 'transposed'", upsampling)


@register_model
def unet(
    in_channels: int,
    num_classes: int,
    depth: int = 4,
    base_width: int = 32,
    norm: Norm = "batch",
    dropout: float = 0.0,
    upsampling: Upsampling = "bilinear",
) -> UNet:
    """U-Net, depth 4, widths 32-512 (7.2 M parameters); the default choice."""
    return UNet(in_channels, num_classes, depth, base_width, norm, dropout, upsampling)


@register_model
def unet_small(
    in_channels: int,
    num_classes: int,
    depth: int = 3,
    base_width: int = 16,
    norm: Norm = "batch",
    dropout: float = 0.0,
    upsampling: Upsampling = "bilinear",
) -> UNet:
    """Small U-Net, depth 3, widths 16-128 (0.45 M parameters), for fast CPU runs."""
    return UNet(in_channels, num_classes, depth, base_width, norm, dropout, upsampling)


@register_model
def unet_large(
    in_channels: int,
    num_classes: int,
    depth: int = 5,
    base_width: int = 64,
    norm: Norm = "batch",
    dropout: float = 0.0,
    upsampling: Upsampling = "bilinear",
) -> UNet:
    """Large U-Net, depth 5, widths 64-2048 (116 M parameters), for large GPU training sets."""
    return UNet(in_channels, num_classes, depth, base_width, norm, dropout, upsampling)
