"""Patch grids and random patch masking for masked autoencoders (He et al. 2022).

An image ``(B, C, H, W)`` with ``H = g_h p`` and ``W = g_w p`` is cut into ``N = g_h g_w`` patches
of ``p x p`` pixels, numbered row-major (patch ``i`` is at row ``i // g_w``, column ``i % g_w``,
the order of the ViT's tokens). :func:`random_masking` draws, per sample, a random permutation of
the ``N`` patches and keeps the first ``N_keep = N - round(ratio * N)`` of them (at least one):
exactly the requested share is hidden in every sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from terralearn.errors import ConfigError


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """Cut images into flattened patches.

    Shapes:
        ``(B, C, g_h p, g_w p)`` -> ``(B, g_h g_w, C, p * p)`` (row-major patches, bands kept apart
        so losses and statistics can be taken per band).
    """
    b, c, h, w = images.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f"image size {h} x {w} is not a multiple of the patch size {p}")
    x = images.reshape(b, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, (h // p) * (w // p), c, p * p)


def unpatchify(patches: Tensor, grid: tuple[int, int], patch_size: int) -> Tensor:
    """Inverse of :func:`patchify`: ``(B, g_h g_w, C, p * p)`` -> ``(B, C, g_h p, g_w p)``."""
    b, _, c, _ = patches.shape
    gh, gw = grid
    p = patch_size
    x = patches.reshape(b, gh, gw, c, p, p).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, c, gh * p, gw * p)


@dataclass
class PatchMask:
    """One random masking of a batch.

    Attributes:
        keep: ``(B, N_keep)`` long, indices of the visible patches (ascending).
        mask: ``(B, N)`` bool, True where a patch is hidden.
        restore: ``(B, N)`` long; ``cat([visible, hidden])`` tokens gathered with it come back
            in patch order.
    """

    keep: Tensor
    mask: Tensor
    restore: Tensor

    @property
    def num_visible(self) -> int:
        return self.keep.shape[1]


def num_masked(num_patches: int, ratio: float) -> int:
    """Patches hidden out of ``num_patches`` for ``ratio``: ``round(ratio N)``, leaving >= 1."""
    return min(round(ratio * num_patches), num_patches - 1)


def check_ratio(ratio: float) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio < 1:
        raise ConfigError(f"--mask-ratio {ratio!r} must be a number in [0, 1), e.g. 0.75")


def random_masking(
    batch: int,
    num_patches: int,
    ratio: float,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> PatchMask:
    """Hide ``round(ratio * num_patches)`` random patches in each of ``batch`` samples.

    Args:
        batch: number of samples.
        num_patches: patches per sample ``N``.
        ratio: share of patches to hide, in ``[0, 1)``.
        device: device of the returned tensors.
        generator: a CPU generator for reproducible masks (default: torch's global one).

    Returns:
        A :class:`PatchMask`; the visible indices are sorted so kept tokens stay in patch order.
    """
    check_ratio(ratio)
    hidden = num_masked(num_patches, ratio)
    noise = torch.rand(batch, num_patches, generator=generator).to(device)
    order = noise.argsort(dim=1)
    keep = order[:, : num_patches - hidden].sort(dim=1).values
    mask = torch.ones(batch, num_patches, dtype=torch.bool, device=device)
    mask.scatter_(1, keep, False)
    # visible first (ascending), then hidden (ascending): argsort of that order restores it
    arrangement = torch.cat([keep, mask.nonzero()[:, 1].reshape(batch, hidden)], dim=1)
    restore = arrangement.argsort(dim=1)
    return PatchMask(keep=keep, mask=mask, restore=restore)


def mask_pixels(images: Tensor, mask: Tensor, patch_size: int, grid: tuple[int, int]) -> Tensor:
    """Zero the pixels of hidden patches.

    A convolutional stem sees pixels around each patch, so hidden patches are blanked before the
    stem: nothing of a hidden patch can reach the encoder through a neighbouring token.

    Shapes:
        images ``(B, C, g_h p, g_w p)``, mask ``(B, g_h g_w)`` bool -> images, same shape.
    """
    b = images.shape[0]
    keep = (~mask).to(images.dtype).reshape(b, 1, *grid)
    keep = keep.repeat_interleave(patch_size, dim=2).repeat_interleave(patch_size, dim=3)
    return images * keep
