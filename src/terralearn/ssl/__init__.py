"""Self-supervised pretraining algorithms on unlabelled imagery.

- :mod:`~terralearn.ssl.masking`: patch grids and random patch masking.
- :mod:`~terralearn.ssl.mae`: masked autoencoder around a ViT encoder, light decoder.
- :mod:`~terralearn.ssl.augment`: random views of multispectral chips.
- :mod:`~terralearn.ssl.contrastive`: SimCLR (NT-Xent) for U-Net or ViT encoders.
- :mod:`~terralearn.ssl.data`: unlabelled chips streamed from rasters or chip stores, sharded
  over DDP ranks and loader workers, and their LightningDataModule.
- :mod:`~terralearn.ssl.figures`: loss curve and MAE reconstructions.

The Lightning module is :class:`terralearn.tasks.pretrain.PretrainTask`; runs are made by
:func:`terralearn.runs.pretrain.pretrain` (``terralearn pretrain``); their encoder goes into a
model with :mod:`terralearn.runs.transfer`. This package imports nothing above the models.
"""

from terralearn.ssl.augment import MultispectralViews
from terralearn.ssl.contrastive import ContrastiveModel, nt_xent
from terralearn.ssl.data import UnlabelledChips, UnlabelledDataModule
from terralearn.ssl.mae import MaskedAutoencoder, reconstruct
from terralearn.ssl.masking import PatchMask, patchify, random_masking, unpatchify

__all__ = [
    "ContrastiveModel",
    "MaskedAutoencoder",
    "MultispectralViews",
    "PatchMask",
    "UnlabelledChips",
    "UnlabelledDataModule",
    "nt_xent",
    "patchify",
    "random_masking",
    "reconstruct",
    "unpatchify",
]
