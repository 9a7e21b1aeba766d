"""Vision Transformers for segmentation (Dosovitskiy et al. 2021), plain ViT and conv-stem hybrid.

Structure (``p`` = patch size, a power of two; ``g = H / p`` tokens per side)::

    input ─ pad to p ─ encoder.stem ─ + positions ─ encoder.blocks[0..depth) ─┐
                          │ (hybrid: conv features at strides 1, 2, .. p/2)     │ tokens of a few
                          │                                                     │ blocks (levels)
    logits ─ crop ─ head ─ decoder: fuse levels at stride p, then log2(p) x (2x up, + skip, conv)

- ``encoder.stem``: a ``p x p`` stride-``p`` convolution (:class:`PatchStem`), or, for the hybrid,
  U-Net-like conv blocks down to stride ``p/2`` and a 2x2 stride-2 projection (:class:`ConvStem`),
  whose intermediate maps become decoder skips (TransUNet style: the transformer supplies global
  context, the convolutions the pixel-accurate edges a 8x8 patch grid cannot draw).
- ``encoder.pos_embed``: learned positions on a ``img_size / p`` grid, bicubically interpolated
  to the token grid of any other input size (:meth:`ViTEncoder.positions`).
- ``encoder.blocks``: pre-norm blocks ``x + attn(LN(x))``, ``x + mlp(LN(x))``; attention is
  :func:`torch.nn.functional.scaled_dot_product_attention` (fused kernels) unless the weights
  are asked for (``return_attention=True``), then ``softmax(q k^T / sqrt(d)) v`` explicitly.
- ``decoder``: the tokens of ``levels`` evenly spaced blocks, each layer-normed and projected,
  summed into a ``(B, width, g, g)`` map, then progressive 2x up-sampling with conv blocks to
  full resolution.

The submodules are named ``encoder``, ``decoder`` and ``head`` like the U-Net's, so encoder
weights transfer by name. Any band count and any input size work: the input is padded (reflect,
bottom/right) to a multiple of ``p`` and the logits are cropped back.

Global attention makes every output depend on the whole input, so a ViT has no finite receptive
field. Its ``receptive_field`` attribute is ``img_size``, the context its positions were built
for, which tiled prediction uses as the tile overlap (at most a quarter of the tile, so tiles
share a wide margin and the blending hides the change of context); ``global_context`` is True
and ``align`` is ``p`` (tiles starting on multiples of ``p`` see the same patch grid).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from terralearn.errors import ConfigError, IncompatibleError
from terralearn.models.layers import ConvBlock, pad_to_multiple
from terralearn.models.registry import register_model

Stem = Literal["patch", "conv"]


class Attention(nn.Module):
    """Multi-head self-attention over tokens.

    Shapes:
        input ``(B, N, dim)`` -> ``(B, N, dim)`` and, with ``return_attention``, the weights
        ``(B, heads, N, N)`` (rows sum to 1), else None.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, return_attention: bool = False) -> tuple[Tensor, Tensor | None]:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if return_attention:  # the explicit path, only when the maps are wanted
            attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
            out = attn @ v
        else:
            attn = None
            out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d)), attn


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch for whole samples (training only)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(LN(x))`` then ``x + mlp(LN(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor, return_attention: bool = False) -> tuple[Tensor, Tensor | None]:
        y, attn = self.attn(self.norm1(x), return_attention)
        x = x + self.drop_path(y)
        return x + self.drop_path(self.mlp(self.norm2(x))), attn


class PatchStem(nn.Module):
    """Patch embedding: a ``p x p`` convolution of stride ``p`` (no skips)."""

    def __init__(self, in_channels: int, dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.skip_channels: list[int] = []

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        return self.proj(x), []


class ConvStem(nn.Module):
    """Convolutional stem: conv blocks at strides ``1, 2, .., p/2`` then a 2x2 stride-2 projection.

    Shapes:
        ``(B, C, H, W)`` -> tokens map ``(B, dim, H/p, W/p)`` and skips, the block outputs at
        strides ``1, 2, .., p/2`` with ``width * 2**i`` channels.
    """

    def __init__(self, in_channels: int, dim: int, patch_size: int, width: int) -> None:
        super().__init__()
        levels = int(math.log2(patch_size))
        widths = [width * 2**i for i in range(levels)]
        self.stages = nn.ModuleList([ConvBlock(in_channels, widths[0], "group")])
        self.stages.extend(
            nn.Sequential(nn.MaxPool2d(2), ConvBlock(c_in, c_out, "group"))
            for c_in, c_out in zip(widths[:-1], widths[1:], strict=True)
        )
        self.proj = nn.Conv2d(widths[-1], dim, 2, stride=2)
        self.skip_channels = widths

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        return self.proj(x), skips


class ViTEncoder(nn.Module):
    """Stem, learned positions and transformer blocks.

    Shapes:
        input ``(B, C, H, W)`` with H, W multiples of ``p`` -> the tokens ``(B, N, dim)`` after
        each block in ``levels`` (the last one layer-normed by ``norm``), the stem's skips, the
        token grid ``(H/p, W/p)`` and, with ``return_attention``, each block's attention
        ``(B, heads, N, N)``.
    """

    def __init__(
        self,
        in_channels: int,
        dim: int,
        depth: int,
        heads: int,
        patch_size: int,
        img_size: int,
        mlp_ratio: float,
        drop_path: float,
        stem: Stem,
        stem_width: int,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.stem: PatchStem | ConvStem = (
            PatchStem(in_channels, dim, patch_size)
            if stem == "patch"
            else ConvStem(in_channels, dim, patch_size, stem_width)
        )
        grid = img_size // patch_size
        self.pos_embed = nn.Parameter(torch.empty(1, dim, grid, grid))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        rates = torch.linspace(0, drop_path, depth).tolist()  # deeper blocks dropped more often
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, r) for r in rates)
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def positions(self, grid: tuple[int, int]) -> Tensor:
        """Positional embeddings ``(1, dim, gh, gw)`` for a token grid, interpolated if needed."""
        if tuple(self.pos_embed.shape[-2:]) == tuple(grid):
            return self.pos_embed
        return F.interpolate(self.pos_embed, size=grid, mode="bicubic", align_corners=False)

    def forward(
        self, x: Tensor, levels: list[int], return_attention: bool = False
    ) -> tuple[list[Tensor], list[Tensor], tuple[int, int], list[Tensor]]:
        tokens, skips = self.stem(x)
        grid = (tokens.shape[-2], tokens.shape[-1])
        x = (tokens + self.positions(grid)).flatten(2).transpose(1, 2)
        outputs, attentions = [], []
        for i, block in enumerate(self.blocks):
            x, attn = block(x, return_attention)
            if attn is not None:
                attentions.append(attn)
            if i in levels:
                outputs.append(self.norm(x) if i == len(self.blocks) - 1 else x)
        return outputs, skips, grid, attentions


class UpStage(nn.Module):
    """Bilinear 2x up-sampling, concatenation of an optional skip, then a conv block."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = ConvBlock(in_channels + skip_channels, out_channels, "group")

    def forward(self, x: Tensor, skip: Tensor | None) -> Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.conv(x if skip is None else torch.cat([x, skip], dim=1))


class ViTDecoder(nn.Module):
    """Light multi-level decoder: fuse block outputs at stride ``p``, up-sample to stride 1.

    Widths halve at every 2x up-sampling (not below 16), so the full-resolution convolutions
    stay cheap.

    Shapes:
        ``levels`` tokens ``(B, N, dim)`` with grid ``(g_h, g_w)`` and the stem's skips ->
        ``(B, out_channels, g_h * p, g_w * p)``.
    """

    def __init__(
        self, dim: int, levels: int, patch_size: int, width: int, skip_channels: list[int]
    ) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(dim, eps=1e-6) for _ in range(levels))
        self.projs = nn.ModuleList(nn.Linear(dim, width) for _ in range(levels))
        steps = int(math.log2(patch_size))
        skips = list(reversed(skip_channels)) or [0] * steps  # coarsest skip first
        widths = [width] + [max(width // 2 ** (i + 1), 16) for i in range(steps)]
        self.stages = nn.ModuleList(
            UpStage(widths[i], skips[i], widths[i + 1]) for i in range(steps)
        )
        self.out_channels = widths[-1]

    def forward(self, levels: list[Tensor], skips: list[Tensor], grid: tuple[int, int]) -> Tensor:
        fused = sum(
            proj(norm(t)) for t, norm, proj in zip(levels, self.norms, self.projs, strict=True)
        )
        x = F.gelu(fused.transpose(1, 2).reshape(fused.shape[0], -1, *grid))
        coarse_first = list(reversed(skips)) if skips else [None] * len(self.stages)
        for stage, skip in zip(self.stages, coarse_first, strict=True):
            x = stage(x, skip)
        return x


class ViT(nn.Module):
    """Vision Transformer for semantic segmentation (see the module docstring for the layout).

    Args:
        in_channels: input bands (>= 1).
        num_classes: 1 for binary (one logit channel), >= 2 for multi-class.
        patch_size: patch side in pixels, a power of two (2 to 32).
        embed_dim: token width (a multiple of ``num_heads``).
        depth: number of transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: hidden width of the MLP over ``embed_dim``.
        img_size: input size the positional grid is built for (a multiple of ``patch_size``);
            other sizes interpolate it.
        drop_path: stochastic depth rate of the last block (linearly less for earlier ones).
        decoder_width: channels of the fused map at stride ``patch_size``.
        levels: number of blocks (evenly spaced, the last included) feeding the decoder.
        stem: ``"patch"`` (linear patch embedding) or ``"conv"`` (hybrid conv stem with skips).
        stem_width: channels of the conv stem's first stage (doubled per stage).

    Attributes:
        receptive_field: ``img_size`` (attention is global; see the module docstring).
        global_context: True, every output depends on the whole input.
        align: ``patch_size``, the down-sampling factor of the token grid.

    Shapes:
        input ``(B, in_channels, H, W)``, any ``H, W >= 1`` -> logits ``(B, num_classes, H, W)``.
    """

    global_context = True

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        patch_size: int = 8,
        embed_dim: int = 192,
        depth: int = 12,
        num_heads: int = 3,
        mlp_ratio: float = 4.0,
        img_size: int = 128,
        drop_path: float = 0.1,
        decoder_width: int = 128,
        levels: int = 4,
        stem: Stem = "patch",
        stem_width: int = 32,
    ) -> None:
        super().__init__()
        _check_options(
            patch_size, embed_dim, depth, num_heads, mlp_ratio, img_size, drop_path,
            decoder_width, levels, stem, stem_width,
        )  # fmt: skip
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.patch_size = patch_size
        self.num_blocks = depth  # not `depth`: prediction reads `depth` as U-Net pooling levels
        self.num_heads = num_heads
        self.receptive_field = img_size
        self.align = patch_size
        # evenly spaced blocks, ending with the last: depth 12, 4 levels -> 2, 5, 8, 11
        self.levels = sorted({depth - 1 - round(i * depth / levels) for i in range(levels)})
        self.encoder = ViTEncoder(
            in_channels, embed_dim, depth, num_heads, patch_size, img_size, mlp_ratio,
            drop_path, stem, stem_width,
        )  # fmt: skip
        self.decoder = ViTDecoder(
            embed_dim, len(self.levels), patch_size, decoder_width, self.encoder.stem.skip_channels
        )
        self.head = nn.Conv2d(self.decoder.out_channels, num_classes, 1)

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise IncompatibleError(
                f"the ViT expects images of shape (B, {self.in_channels}, H, W), got "
                f"{tuple(x.shape)}; select the bands the model was trained on"
            )

    def _run(self, x: Tensor, return_attention: bool) -> tuple[Tensor, list[Tensor], tuple]:
        self._check_input(x)
        size = x.shape[-2:]
        levels, skips, grid, attentions = self.encoder(
            pad_to_multiple(x, self.patch_size), self.levels, return_attention
        )
        logits = self.head(self.decoder(levels, skips, grid))
        return logits[..., : size[0], : size[1]], attentions, grid

    def forward(self, x: Tensor) -> Tensor:
        return self._run(x, return_attention=False)[0]

    def forward_with_attention(self, x: Tensor) -> tuple[Tensor, list[Tensor], tuple[int, int]]:
        """Logits plus every block's attention weights (explicit softmax, slower).

        Returns:
            ``(logits (B, K, H, W), [attention (B, heads, N, N) per block], (g_h, g_w))`` where
            token ``i`` covers the padded input's patch at row ``i // g_w``, column ``i % g_w``.
        """
        return self._run(x, return_attention=True)


def _check_options(
    patch_size: int, embed_dim: int, depth: int, num_heads: int, mlp_ratio: float,
    img_size: int, drop_path: float, decoder_width: int, levels: int, stem: str, stem_width: int,
) -> None:  # fmt: skip
    def bad(option: str, expected: str, value: object) -> ConfigError:
        return ConfigError(f"ViT option {option} must be {expected}, got {value!r}")

    def positive_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    if patch_size not in (2, 4, 8, 16, 32):
        raise bad("patch_size", "one of 2, 4, 8, 16, 32", patch_size)
    for name, value in (
        ("embed_dim", embed_dim), ("depth", depth), ("num_heads", num_heads),
        ("decoder_width", decoder_width), ("levels", levels), ("stem_width", stem_width),
    ):  # fmt: skip
        if not positive_int(value):
            raise bad(name, "an integer >= 1", value)
    if embed_dim % num_heads:
        raise bad("embed_dim", f"a multiple of num_heads ({num_heads})", embed_dim)
    if levels > depth:
        raise bad("levels", f"at most depth ({depth})", levels)
    if not positive_int(img_size) or img_size % patch_size:
        raise bad("img_size", f"a positive multiple of patch_size ({patch_size})", img_size)
    if isinstance(mlp_ratio, bool) or not isinstance(mlp_ratio, int | float) or mlp_ratio <= 0:
        raise bad("mlp_ratio", "a number > 0", mlp_ratio)
    if isinstance(drop_path, bool) or not isinstance(drop_path, int | float):
        raise bad("drop_path", "a number in [0, 1)", drop_path)
    if not 0 <= drop_path < 1:
        raise bad("drop_path", "a number in [0, 1)", drop_path)
    if stem not in ("patch", "conv"):
        raise bad("stem", "one of 'patch', 'conv'", stem)


@register_model
def vit_tiny(
    in_channels: int,
    num_classes: int,
    patch_size: int = 8,
    img_size: int = 128,
    drop_path: float = 0.1,
    decoder_width: int = 128,
) -> ViT:
    """ViT-Tiny (DeiT-Ti: 192 wide, 12 blocks, 3 heads), 8 px patches, multi-level decoder."""
    return ViT(
        in_channels, num_classes, patch_size, 192, 12, 3, 4.0, img_size, drop_path, decoder_width
    )


@register_model
def vit_small(
    in_channels: int,
    num_classes: int,
    patch_size: int = 8,
    img_size: int = 128,
    drop_path: float = 0.1,
    decoder_width: int = 128,
) -> ViT:
    """ViT-Small (DeiT-S: 384 wide, 12 blocks, 6 heads), 8 px patches, multi-level decoder."""
    return ViT(
        in_channels, num_classes, patch_size, 384, 12, 6, 4.0, img_size, drop_path, decoder_width
    )


@register_model
def vit_hybrid_tiny(
    in_channels: int,
    num_classes: int,
    patch_size: int = 8,
    img_size: int = 128,
    drop_path: float = 0.1,
    decoder_width: int = 128,
    stem_width: int = 32,
) -> ViT:
    """Hybrid: conv stem (32-128 wide, skips to the decoder) + the ViT-Tiny transformer."""
    return ViT(
        in_channels, num_classes, patch_size, 192, 12, 3, 4.0, img_size, drop_path,
        decoder_width, stem="conv", stem_width=stem_width,
    )  # fmt: skip
