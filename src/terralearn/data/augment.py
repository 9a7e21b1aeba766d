"""Augmentations that act on whole batches of tensors (on CPU or GPU).

The dihedral group D4 (4 rotations x optional flip) is the natural augmentation for overhead
imagery: north-up is a convention, not a property of the scene. The same transforms serve
test-time augmentation: predict on ``d4_transform(x, None, k)[0]`` and map the prediction back
with :func:`d4_inverse`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from terralearn.errors import ConfigError, IncompatibleError

D4_SIZE = 8
# elements that keep a non-square (H != W) image's shape: identity, rot180, flip, rot180+flip
_SHAPE_PRESERVING = (0, 2, 4, 6)


def _check_k(k: int) -> None:
    if not 0 <= k < D4_SIZE:
        raise ValueError(f"D4 element k must be in 0..7, got {k}")


def _apply(x: Tensor, k: int) -> Tensor:
    """Element ``k`` on the last two dims: rotate ``k % 4`` quarter turns, then flip if ``k >= 4``."""
    x = torch.rot90(x, k % 4, dims=(-2, -1))
    return x.flip(-1) if k >= 4 else x


def d4_transform(image: Tensor, mask: Tensor | None, k: int) -> tuple[Tensor, Tensor | None]:
    """Apply D4 element ``k`` to an image and its mask.

    ``k % 4`` counter-clockwise quarter turns followed, for ``k >= 4``, by a left-right flip.
    Only the last two dims (H, W) are touched, so single samples ``(C, H, W)`` / ``(H, W)`` and
    batches ``(B, C, H, W)`` / ``(B, H, W)`` work alike. Odd ``k % 4`` swaps H and W.

    Args:
        image: ``(..., H, W)``.
        mask: ``(..., H, W)`` or None.
        k: element in ``0..7``.

    Returns:
        ``(image, mask)`` transformed (``mask`` stays None if None).
    """
    _check_k(k)
    return _apply(image, k), (None if mask is None else _apply(mask, k))


def d4_inverse(pred: Tensor, k: int) -> Tensor:
    """Undo :func:`d4_transform` element ``k`` on ``(..., H, W)`` (e.g. predicted logits)."""
    _check_k(k)
    if k >= 4:
        pred = pred.flip(-1)
    return torch.rot90(pred, -(k % 4), dims=(-2, -1))


class RandomD4:
    """Apply an independent random D4 element to each sample of a batch dict.

    The batch is a dict with ``image`` ``(B, C, H, W)`` (or one sample ``(C, H, W)``) and
    optionally ``mask`` ``(B, H, W)`` (``(H, W)``); other keys pass through unchanged. For
    non-square chips only the four shape-preserving elements are drawn, so the batch can stay
    one tensor.

    Args:
        seed: seed for a private ``torch.Generator``; None draws from torch's global generator
            (so ``lightning.seed_everything`` makes training runs reproducible).
        generator: an existing CPU generator to draw from (overrides ``seed``).
    """

    def __init__(self, seed: int | None = None, generator: torch.Generator | None = None) -> None:
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(seed)
        self.generator = generator

    def draw(self, n: int, square: bool = True) -> Tensor:
        """Draw ``n`` group elements (CPU long tensor)."""
        if square:
            return torch.randint(0, D4_SIZE, (n,), generator=self.generator)
        choices = torch.tensor(_SHAPE_PRESERVING)
        return choices[torch.randint(0, len(choices), (n,), generator=self.generator)]

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        image: Tensor = batch["image"]
        mask: Tensor | None = batch.get("mask")
        single = image.ndim == 3
        if single:
            image = image[None]
            mask = None if mask is None else mask[None]
        ks = self.draw(image.shape[0], square=image.shape[-2] == image.shape[-1])
        image_out = torch.empty_like(image)
        mask_out = None if mask is None else torch.empty_like(mask)
        # one call per distinct element rather than per sample
        for k in ks.unique().tolist():
            idx = (ks == k).nonzero()[:, 0].to(image.device)
            img_k, mask_k = d4_transform(image[idx], None if mask is None else mask[idx], k)
            image_out[idx] = img_k
            if mask_out is not None:
                mask_out[idx] = mask_k
        out = dict(batch)
        out["image"] = image_out[0] if single else image_out
        if mask_out is not None:
            out["mask"] = mask_out[0] if single else mask_out
        return out


class Normalize:
    """Per-band standardisation ``(image - mean) / std`` returning float32.

    Args:
        mean: one value per band.
        std: one value per band (> 0).

    Raises:
        ConfigError: lengths differ or a std is not positive.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.as_tensor(list(mean), dtype=torch.float32)
        self.std = torch.as_tensor(list(std), dtype=torch.float32)
        if self.mean.ndim != 1 or self.mean.shape != self.std.shape or self.mean.numel() == 0:
            raise ConfigError(
                f"band mean and std need one value per band, got {self.mean.numel()} means and "
                f"{self.std.numel()} stds"
            )
        if not (self.std > 0).all() or not torch.isfinite(self.std).all():
            raise ConfigError(f"band std values must be finite and > 0, got {self.std.tolist()}")

    def __call__(self, image: Tensor) -> Tensor:
        """Normalise ``(B, C, H, W)`` or ``(C, H, W)`` of any dtype."""
        if image.ndim not in (3, 4) or image.shape[-3] != self.mean.numel():
            raise IncompatibleError(
                f"band statistics are for {self.mean.numel()} bands but the image has shape "
                f"{tuple(image.shape)}; compute the statistics on the same bands"
            )
        shape = (-1, 1, 1)
        mean = self.mean.to(image.device).view(shape)
        std = self.std.to(image.device).view(shape)
        return (image.to(torch.float32) - mean) / std
