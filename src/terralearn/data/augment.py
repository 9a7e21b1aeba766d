"""Augmentations that act on whole batches of tensors (on CPU or GPU).

The dihedral group D4 (4 rotations x optional flip) is the natural augmentation for overhead
imagery: north-up is a convention, not a property of the scene. The same transforms serve
test-time augmentation: predict on ``d4_transform(x, None, k)[0]`` and map the prediction back
with :func:`d4_inverse`.

:class:`StrongAugment` adds what small labelled sets (and transformers, which have no built-in
locality) need more of: random resized crops applied alike to image and mask, and band-wise
photometric jitter. The crop and jitter primitives are shared with the contrastive views of
:mod:`terralearn.ssl.augment`. Every transform treats the bands alike and independently, so it
suits any band count (colour jitter and greyscale assume three visible bands).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from terralearn.errors import ConfigError, IncompatibleError
from terralearn.pixels import NORMALIZED_FILL

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
    optionally ``mask`` and ``valid`` ``(B, H, W)`` (``(H, W)``), transformed alike; other keys
    pass through unchanged. For
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
        single = image.ndim == 3
        # the mask and the valid mask (if any) turn with the image
        planes = {k: batch[k] for k in ("mask", "valid") if batch.get(k) is not None}
        if single:
            image = image[None]
            planes = {k: v[None] for k, v in planes.items()}
        ks = self.draw(image.shape[0], square=image.shape[-2] == image.shape[-1])
        image_out = torch.empty_like(image)
        planes_out = {k: torch.empty_like(v) for k, v in planes.items()}
        # one call per distinct element rather than per sample
        for k in ks.unique().tolist():
            idx = (ks == k).nonzero()[:, 0].to(image.device)
            image_out[idx] = _apply(image[idx], k)
            for name, plane in planes.items():
                planes_out[name][idx] = _apply(plane[idx], k)
        out = dict(batch)
        out["image"] = image_out[0] if single else image_out
        for name, plane in planes_out.items():
            out[name] = plane[0] if single else plane
        return out


AUGMENTS = ("none", "d4", "strong")


def augment_name(value: str | bool) -> str:
    """``True``/``False`` (how runs saved before the named augmentations) -> ``"d4"``/``"none"``."""
    return {True: "d4", False: "none"}.get(value, value)  # type: ignore[call-overload]


def _uniform(generator: torch.Generator | None, *shape: int) -> Tensor:
    return torch.rand(*shape, generator=generator)


def random_crop_boxes(
    n: int, scale: tuple[float, float], generator: torch.Generator | None = None
) -> Tensor:
    """Affine matrices ``(n, 2, 3)`` of random crops for ``F.affine_grid``.

    Each crop covers a share of the area drawn from ``scale``, with an aspect ratio in
    3/4 .. 4/3 (log-uniform), and lies inside the image (normalised ``[-1, 1]`` coordinates).
    """
    lo, hi = scale
    area = lo + (hi - lo) * _uniform(generator, n)
    ratio = ((_uniform(generator, n) * 2 - 1) * torch.log(torch.tensor(4 / 3))).exp()
    sx = (area * ratio).sqrt().clamp(max=1.0)
    sy = (area / ratio).sqrt().clamp(max=1.0)
    cx = (_uniform(generator, n) * 2 - 1) * (1 - sx)
    cy = (_uniform(generator, n) * 2 - 1) * (1 - sy)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = sx, cx
    theta[:, 1, 1], theta[:, 1, 2] = sy, cy
    return theta


def resample(images: Tensor, theta: Tensor, mode: str = "bilinear") -> Tensor:
    """Crops ``theta`` of ``(B, C, H, W)`` resampled to ``H x W`` (one ``grid_sample`` call)."""
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode=mode, align_corners=False)


def band_jitter(
    images: Tensor,
    brightness: float,
    contrast: float,
    noise: float,
    band_dropout: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Band-wise gain and offset, Gaussian noise and band dropout on normalised images.

    ``x_c -> a_c x_c + b_c`` per sample and band with ``a_c`` in ``[1 - contrast, 1 + contrast]``
    and ``|b_c| <= brightness`` (standard deviations); noise of a random strength up to
    ``noise``; each band set to 0 (its mean) with ``band_dropout`` probability, keeping one.
    """
    b, c = images.shape[:2]
    gain = 1 + (_uniform(generator, b, c, 1, 1) * 2 - 1) * contrast
    offset = (_uniform(generator, b, c, 1, 1) * 2 - 1) * brightness
    out = images * gain.to(images) + offset.to(images)
    if noise > 0:
        sigma = _uniform(generator, b, 1, 1, 1) * noise
        out = out + torch.randn(out.shape, generator=generator).to(out) * sigma.to(out)
    if band_dropout > 0 and c > 1:
        keep = _uniform(generator, b, c) >= band_dropout
        none_kept = ~keep.any(dim=1)
        chosen = torch.randint(0, c, (int(none_kept.sum()),), generator=generator)
        keep[none_kept, chosen] = True
        out = out * keep[..., None, None].to(out)
    return out


class StrongAugment:
    """D4, random resized crops (image and mask alike) and band jitter for segmentation batches.

    Expects normalised images: a batch dict with ``image`` ``(B, C, H, W)``, ``mask``
    ``(B, H, W)`` and optionally ``valid`` ``(B, H, W)`` bool (invalid pixels stay exactly 0,
    the fill value of :func:`normalize_bands`, after the jitter). The crop keeps ``crop_scale`` of the chip's area and is resampled back to
    the chip size, bilinearly for the image and by nearest neighbour for the mask (so
    ``ignore_index`` pixels stay ignored); each sample is cropped with probability ``crop_p``.

    Args:
        crop_scale: range of the crop's share of the chip area.
        crop_p: probability of cropping a sample (the rest keep the whole chip).
        brightness: largest band offset (standard deviations).
        contrast: largest relative band gain change.
        noise: largest standard deviation of the additive Gaussian noise.
        seed: seed for a private generator; None draws from torch's global one.
    """

    def __init__(
        self,
        crop_scale: tuple[float, float] = (0.5, 1.0),
        crop_p: float = 0.5,
        brightness: float = 0.1,
        contrast: float = 0.1,
        noise: float = 0.05,
        seed: int | None = None,
    ) -> None:
        self.crop_scale, self.crop_p = crop_scale, crop_p
        self.brightness, self.contrast, self.noise = brightness, contrast, noise
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)
        self.d4 = RandomD4(generator=self.generator)

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        out = self.d4(batch)
        image, mask = out["image"], out["mask"]
        n = image.shape[0]
        theta = random_crop_boxes(n, self.crop_scale, self.generator)
        whole = _uniform(self.generator, n) >= self.crop_p
        theta[whole] = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        image = resample(image, theta)
        mask = resample(mask[:, None].to(torch.float32), theta, mode="nearest")[:, 0]
        image = band_jitter(
            image, self.brightness, self.contrast, self.noise, generator=self.generator
        )
        valid = out.get("valid")
        if valid is not None:  # jitter must not move the fill value of invalid pixels off 0
            valid = resample(valid[:, None].to(torch.float32), theta, mode="nearest")[:, 0] > 0.5
            image = torch.where(
                valid[:, None], image, torch.tensor(NORMALIZED_FILL, dtype=image.dtype)
            )
            out["valid"] = valid
        out["image"] = image
        out["mask"] = mask.to(batch["mask"].dtype)
        return out


def build_augment(name: str | bool) -> RandomD4 | StrongAugment | None:
    """The training augmentation called ``name`` (one of :data:`AUGMENTS`; True means d4)."""
    name = augment_name(name)
    if name not in AUGMENTS:
        raise ConfigError(
            f"unknown augmentation {name!r}; choose one of {', '.join(map(repr, AUGMENTS))}"
        )
    return {"none": None, "d4": RandomD4(), "strong": StrongAugment()}[name]


def normalize_bands(
    image: Tensor,
    mean: Tensor,
    std: Tensor | None,
    valid: Tensor | None = None,
    memory_format: torch.memory_format | None = None,
) -> Tensor:
    """``(image - mean) / std`` as a new float32 tensor, with every invalid pixel set to exactly 0.

    The one rule for invalid pixels (:mod:`terralearn.pixels`): wherever ``valid`` is False, or
    the value is not finite (NaN, inf), the normalised value is
    :data:`~terralearn.pixels.NORMALIZED_FILL` (0), i.e. the training band mean. Training, evaluation,
    prediction, pretraining and attention maps all go through this function, so the network
    sees the same input at nodata pixels (e.g. -99999 in a float raster) whatever the path.

    Args:
        image: raw values ``(B, C, H, W)`` or ``(C, H, W)``, any dtype and strides (``image``
            is read, never written).
        mean: per-band mean, broadcastable to ``image`` (e.g. ``(1, C, 1, 1)``).
        std: per-band standard deviation, same shape as ``mean``; None only subtracts the
            mean (a network whose input convolution took the division:
            :func:`terralearn.models.fold.fold_band_std`).
        valid: ``(B, H, W)`` / ``(H, W)`` bool, True where every band is valid; None treats
            every finite value as valid.
        memory_format: the result's layout (e.g. ``torch.channels_last`` for a network that
            runs channels-last); None keeps ``image``'s.
    """
    if memory_format is None:
        x = torch.empty_like(image, dtype=mean.dtype, memory_format=torch.preserve_format)
    else:
        x = torch.empty(image.shape, dtype=mean.dtype, device=image.device,
                        memory_format=memory_format)  # fmt: skip
    # the dtype conversion, the layout and the subtraction in one pass over the raw pixels
    torch.sub(image, mean, out=x)
    if std is not None:
        x.div_(std)
    fill = float(NORMALIZED_FILL)
    if image.is_floating_point():  # integers are never NaN or inf
        x.nan_to_num_(nan=fill, posinf=fill, neginf=fill)
    if valid is not None:
        keep = valid.to(device=x.device, dtype=torch.bool).unsqueeze(-3)
        x.masked_fill_(~keep, fill)
    return x


class Normalize:
    """Per-band standardisation ``(image - mean) / std`` returning float32 (0 where invalid).

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

    def __call__(self, image: Tensor, valid: Tensor | None = None) -> Tensor:
        """Normalise ``(B, C, H, W)`` or ``(C, H, W)`` of any dtype (see :func:`normalize_bands`)."""
        if image.ndim not in (3, 4) or image.shape[-3] != self.mean.numel():
            raise IncompatibleError(
                f"band statistics are for {self.mean.numel()} bands but the image has shape "
                f"{tuple(image.shape)}; compute the statistics on the same bands"
            )
        shape = (-1, 1, 1)
        mean = self.mean.to(image.device).view(shape)
        std = self.std.to(image.device).view(shape)
        return normalize_bands(image, mean, std, valid)
