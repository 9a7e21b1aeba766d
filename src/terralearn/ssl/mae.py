"""Masked autoencoder around a ViT encoder, with a light transformer decoder.

Structure (He et al. 2022, "Masked Autoencoders Are Scalable Vision Learners")::

    image ─ zero hidden patches ─ encoder.stem ─ + positions ─ keep visible tokens ─
        encoder.blocks ─ encoder.norm ─ Linear(dim -> d) ─ + mask tokens, unshuffle ─
        + sin-cos positions ─ decoder blocks ─ LayerNorm ─ Linear(d -> C p p) ─ patches

Only the visible tokens pass through the encoder, so its cost falls with the mask ratio. The
loss is the mean squared error over the hidden patches only, against targets normalised per
patch and per band (mean 0, variance 1 over each band's ``p x p`` pixels), every band included.

The encoder is the ``encoder`` submodule of a segmentation ViT (:mod:`terralearn.models.vit`),
held under the same name, so its weights transfer by name to ``ViT.encoder`` for fine-tuning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from terralearn.models.layers import pad_to_multiple
from terralearn.models.vit import Block, ViTEncoder
from terralearn.ssl.masking import PatchMask, mask_pixels, patchify, random_masking, unpatchify

EPS = 1e-6


def sincos_positions(dim: int, grid: tuple[int, int]) -> Tensor:
    """Fixed 2-D sine-cosine position codes ``(g_h g_w, dim)`` (``dim`` a multiple of 4).

    Half of the channels encode the row, half the column, each as ``sin(pos w_k), cos(pos w_k)``
    with ``w_k = 10000^(-k / (dim / 4))``; no parameters, so any grid size works.
    """
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float32) / quarter)
    rows, cols = torch.meshgrid(
        torch.arange(grid[0], dtype=torch.float32),
        torch.arange(grid[1], dtype=torch.float32),
        indexing="ij",
    )
    parts = []
    for pos in (rows.flatten(), cols.flatten()):
        angle = pos[:, None] * omega[None]
        parts += [angle.sin(), angle.cos()]
    return torch.cat(parts, dim=1)


def normalised_targets(patches: Tensor) -> Tensor:
    """Patches ``(B, N, C, p*p)`` standardised per patch and band (the MAE "norm_pix" target)."""
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True, unbiased=False)
    return (patches - mean) / (var + EPS).sqrt()


@dataclass
class MAEOutput:
    """What one forward pass gives.

    Attributes:
        loss: scalar, MSE over hidden patches of the normalised targets.
        pred: ``(B, N, C, p*p)`` predicted (normalised) patches, for every patch.
        target: ``(B, N, C, p*p)`` the normalised targets.
        mask: the :class:`~terralearn.ssl.masking.PatchMask` used.
        grid: token grid ``(g_h, g_w)``.
    """

    loss: Tensor
    pred: Tensor
    target: Tensor
    mask: PatchMask
    grid: tuple[int, int]


class MAEDecoder(nn.Module):
    """Light decoder: project, insert mask tokens, a few transformer blocks, predict pixels.

    Shapes:
        visible latents ``(B, N_keep, dim)`` + a mask -> patches ``(B, N, C, p*p)``.
    """

    def __init__(
        self, dim: int, in_channels: int, patch_size: int, width: int, depth: int, heads: int
    ) -> None:
        super().__init__()
        if width % 4 or width % heads:
            raise ValueError(f"decoder width {width} must be a multiple of 4 and of heads {heads}")
        self.in_channels = in_channels
        self.patch_size = patch_size
        self.embed = nn.Linear(dim, width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        nn.init.normal_(self.mask_token, std=0.02)
        self.blocks = nn.ModuleList(Block(width, heads, 4.0, 0.0) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.pred = nn.Linear(width, in_channels * patch_size**2)

    def forward(self, latent: Tensor, mask: PatchMask, grid: tuple[int, int]) -> Tensor:
        x = self.embed(latent)
        b, n = mask.mask.shape
        hidden = self.mask_token.expand(b, n - x.shape[1], -1)
        x = torch.cat([x, hidden], dim=1)
        x = torch.gather(x, 1, mask.restore[..., None].expand(-1, -1, x.shape[-1]))
        x = x + sincos_positions(x.shape[-1], grid).to(x)
        for block in self.blocks:
            x = block(x)[0]
        out = self.pred(self.norm(x))
        return out.reshape(b, n, self.in_channels, self.patch_size**2)


class MaskedAutoencoder(nn.Module):
    """A ViT encoder trained to reconstruct hidden patches.

    Args:
        encoder: a :class:`~terralearn.models.vit.ViTEncoder` (``create_model("vit_*").encoder``).
        in_channels: input bands.
        mask_ratio: share of patches hidden per sample (default 0.75).
        decoder_width: decoder token width (a multiple of 4 and of ``decoder_heads``).
        decoder_depth: decoder blocks.
        decoder_heads: decoder attention heads.

    Shapes:
        input ``(B, C, H, W)`` normalised images, any ``H, W`` (padded to the patch size) ->
        :class:`MAEOutput`.
    """

    def __init__(
        self,
        encoder: ViTEncoder,
        in_channels: int,
        mask_ratio: float = 0.75,
        decoder_width: int = 128,
        decoder_depth: int = 2,
        decoder_heads: int = 4,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.patch_size = encoder.patch_size
        self.mask_ratio = mask_ratio
        dim = encoder.pos_embed.shape[1]
        self.decoder = MAEDecoder(
            dim, in_channels, self.patch_size, decoder_width, decoder_depth, decoder_heads
        )

    def encode(self, images: Tensor, mask: PatchMask, grid: tuple[int, int]) -> Tensor:
        """Latents ``(B, N_keep, dim)`` of the visible patches only.

        Hidden patches are zeroed before the stem and their tokens dropped before the blocks,
        so nothing of them reaches the encoder (a test perturbs them to check).
        """
        enc = self.encoder
        tokens, _ = enc.stem(mask_pixels(images, mask.mask, self.patch_size, grid))
        x = (tokens + enc.positions(grid)).flatten(2).transpose(1, 2)
        x = torch.gather(x, 1, mask.keep[..., None].expand(-1, -1, x.shape[-1]))
        for block in enc.blocks:
            x = block(x)[0]
        return enc.norm(x)

    def forward(
        self,
        images: Tensor,
        mask: PatchMask | None = None,
        generator: torch.Generator | None = None,
    ) -> MAEOutput:
        images = pad_to_multiple(images, self.patch_size)
        p = self.patch_size
        grid = (images.shape[-2] // p, images.shape[-1] // p)
        if mask is None:
            mask = random_masking(
                images.shape[0], math.prod(grid), self.mask_ratio, images.device, generator
            )
        pred = self.decoder(self.encode(images, mask, grid), mask, grid)
        target = normalised_targets(patchify(images, p))
        per_patch = (pred - target).pow(2).mean(dim=(-2, -1))
        hidden = mask.mask.to(per_patch.dtype)
        loss = (per_patch * hidden).sum() / hidden.sum().clamp_min(1.0)
        return MAEOutput(loss=loss, pred=pred, target=target, mask=mask, grid=grid)


def reconstruct(output: MAEOutput, images: Tensor, patch_size: int) -> Tensor:
    """Predicted images in the input's units: each patch's prediction de-normalised with the
    true patch's per-band mean and std (visible patches keep the input).

    Shapes:
        ``images (B, C, H, W)`` (H, W multiples of ``p``) -> ``(B, C, H, W)``.
    """
    patches = patchify(images, patch_size)
    mean = patches.mean(dim=-1, keepdim=True)
    std = (patches.var(dim=-1, keepdim=True, unbiased=False) + EPS).sqrt()
    pred = output.pred * std + mean
    hidden = output.mask.mask[..., None, None]
    merged = torch.where(hidden, pred, patches)
    return unpatchify(merged, output.grid, patch_size)
