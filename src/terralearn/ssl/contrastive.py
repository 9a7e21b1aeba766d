"""SimCLR-style contrastive pretraining of an encoder (Chen et al. 2020).

Two random views of every chip (:class:`~terralearn.ssl.augment.MultispectralViews`) go through
the encoder; the deepest features are averaged over space and mapped by a small projection MLP
to ``z``. The NT-Xent loss pulls the two views of a chip together and pushes them away from the
other ``2B - 2`` views of the batch::

    l(i, j) = -log( exp(s_ij / t) / sum_{k != i} exp(s_ik / t) ),   s = cosine similarity

averaged over all ``2B`` anchors. Only the encoder is kept for fine-tuning; the projection
head is discarded, as in the paper.

Encoders: a U-Net's ``encoder`` (its feature list, the last map pooled) or a ViT's (the
last block's tokens, averaged), so either family can be pretrained this way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from terralearn.models.layers import pad_to_multiple
from terralearn.models.unet import UNetEncoder
from terralearn.models.vit import ViTEncoder


def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """Normalised-temperature cross entropy of two batches of paired embeddings ``(B, D)``."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))  # a view is not its own positive nor negative
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, positives)


def encoder_width(encoder: nn.Module) -> int:
    """Channels of the pooled features of a U-Net or ViT encoder."""
    if isinstance(encoder, ViTEncoder):
        return int(encoder.pos_embed.shape[1])
    if isinstance(encoder, UNetEncoder):
        last = encoder.stages[-1] if len(encoder.stages) else encoder.stem
        convs = [m for m in last.modules() if isinstance(m, nn.Conv2d)]
        return int(convs[-1].out_channels)
    raise TypeError(f"no pooled features for encoder {type(encoder).__name__}")


def pooled_features(encoder: nn.Module, images: Tensor, multiple: int) -> Tensor:
    """Global features ``(B, width)`` of normalised images ``(B, C, H, W)``."""
    images = pad_to_multiple(images, multiple)
    if isinstance(encoder, ViTEncoder):
        last = len(encoder.blocks) - 1
        tokens = encoder(images, [last])[0][-1]
        return tokens.mean(dim=1)
    return encoder(images)[-1].mean(dim=(-2, -1))


class ContrastiveModel(nn.Module):
    """An encoder plus a projection head for contrastive learning.

    Args:
        encoder: the ``encoder`` of a U-Net or ViT built by ``create_model``.
        multiple: input side multiple the encoder needs (``2**depth`` or the patch size).
        projection_dim: output width of the projection head.
        temperature: NT-Xent temperature.

    Shapes:
        two views ``(B, C, H, W)`` -> scalar loss.
    """

    def __init__(
        self,
        encoder: nn.Module,
        multiple: int,
        projection_dim: int = 128,
        temperature: float = 0.2,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.multiple = multiple
        self.temperature = temperature
        width = encoder_width(encoder)
        hidden = max(2 * width, projection_dim)
        self.projector = nn.Sequential(
            nn.Linear(width, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, projection_dim),
        )

    def embed(self, images: Tensor) -> Tensor:
        """Projections ``z`` ``(B, projection_dim)``."""
        return self.projector(pooled_features(self.encoder, images, self.multiple))

    def forward(self, view1: Tensor, view2: Tensor) -> Tensor:
        z = self.embed(torch.cat([view1, view2]))
        z1, z2 = z.chunk(2)
        return nt_xent(z1, z2, self.temperature)
