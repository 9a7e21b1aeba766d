"""Random views of multispectral chips for contrastive learning, on whole batches of tensors.

Colour jitter and greyscale, the staples of SimCLR on photographs, assume three visible bands;
here every transform treats the bands alike and independently, so it suits any band count:

- random resized crop (share of the area in ``crop_scale``, aspect ratio in 3/4 .. 4/3),
  resampled back to the chip size bilinearly (one ``grid_sample`` call for the whole batch);
- a random element of D4 (rotations and flips: overhead imagery has no "up");
- band-wise brightness and contrast jitter: ``x_c -> a_c x_c + b_c`` per sample and band;
- Gaussian noise of a random strength up to ``noise``;
- band dropout: each band set to 0 (its mean, as inputs are normalised) with ``band_dropout``
  probability, keeping at least one band.

Inputs are normalised images ``(B, C, H, W)`` (mean 0, std 1 per band).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from terralearn.data.augment import RandomD4, band_jitter, random_crop_boxes, resample


@dataclass
class MultispectralViews:
    """Draw random views of a batch (see the module docstring).

    Args:
        crop_scale: range of the crop's share of the chip area.
        brightness: largest additive shift ``|b_c|`` (in standard deviations).
        contrast: largest relative gain change, ``a_c`` in ``[1 - contrast, 1 + contrast]``.
        noise: largest standard deviation of the additive Gaussian noise.
        band_dropout: probability of zeroing each band.
        generator: CPU generator for reproducible views (default: torch's global one).
    """

    crop_scale: tuple[float, float] = (0.35, 1.0)
    brightness: float = 0.2
    contrast: float = 0.2
    noise: float = 0.1
    band_dropout: float = 0.1
    generator: torch.Generator | None = None

    def crop(self, images: Tensor) -> Tensor:
        """Random resized crops, each resampled to the input size."""
        return resample(images, random_crop_boxes(images.shape[0], self.crop_scale, self.generator))

    def jitter(self, images: Tensor) -> Tensor:
        """Band-wise gain and offset, Gaussian noise and band dropout."""
        return band_jitter(
            images, self.brightness, self.contrast, self.noise, self.band_dropout, self.generator
        )

    def __call__(self, images: Tensor) -> Tensor:
        """One random view ``(B, C, H, W)`` of each image."""
        out = self.crop(images)
        out = RandomD4(generator=self.generator)({"image": out})["image"]
        return self.jitter(out)
