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
import torch.nn.functional as F
from torch import Tensor

from terralearn.data.augment import RandomD4


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

    def _rand(self, *shape: int) -> Tensor:
        return torch.rand(*shape, generator=self.generator)

    def crop(self, images: Tensor) -> Tensor:
        """Random resized crops, each resampled to the input size."""
        b = images.shape[0]
        lo, hi = self.crop_scale
        area = lo + (hi - lo) * self._rand(b)
        log_ratio = (self._rand(b) * 2 - 1) * torch.log(torch.tensor(4 / 3))
        ratio = log_ratio.exp()
        # half-extents in normalised [-1, 1] coordinates, clipped to the chip
        sx = (area * ratio).sqrt().clamp(max=1.0)
        sy = (area / ratio).sqrt().clamp(max=1.0)
        cx = (self._rand(b) * 2 - 1) * (1 - sx)
        cy = (self._rand(b) * 2 - 1) * (1 - sy)
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0], theta[:, 0, 2] = sx, cx
        theta[:, 1, 1], theta[:, 1, 2] = sy, cy
        grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", align_corners=False)

    def jitter(self, images: Tensor) -> Tensor:
        """Band-wise gain and offset, Gaussian noise and band dropout."""
        b, c = images.shape[:2]
        gain = 1 + (self._rand(b, c, 1, 1) * 2 - 1) * self.contrast
        offset = (self._rand(b, c, 1, 1) * 2 - 1) * self.brightness
        out = images * gain.to(images) + offset.to(images)
        if self.noise > 0:
            sigma = self._rand(b, 1, 1, 1) * self.noise
            out = out + torch.randn(out.shape, generator=self.generator).to(out) * sigma.to(out)
        if self.band_dropout > 0 and c > 1:
            keep = self._rand(b, c) >= self.band_dropout
            none_kept = ~keep.any(dim=1)
            keep[
                none_kept, torch.randint(0, c, (int(none_kept.sum()),), generator=self.generator)
            ] = True
            out = out * keep[..., None, None].to(out)
        return out

    def __call__(self, images: Tensor) -> Tensor:
        """One random view ``(B, C, H, W)`` of each image."""
        out = self.crop(images)
        out = RandomD4(generator=self.generator)({"image": out})["image"]
        return self.jitter(out)
