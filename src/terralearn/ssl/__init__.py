"""Self-supervised pretraining on unlabelled imagery, and transfer of the pretrained encoder.

- :mod:`~terralearn.ssl.masking`: patch grids and random patch masking.
- :mod:`~terralearn.ssl.mae`: masked autoencoder around a ViT encoder, light decoder.
- :mod:`~terralearn.ssl.augment`: random views of multispectral chips.
- :mod:`~terralearn.ssl.contrastive`: SimCLR (NT-Xent) for U-Net or ViT encoders.
- :mod:`~terralearn.ssl.data`: unlabelled chips streamed from rasters or chip stores, sharded
  over DDP ranks and loader workers, and their LightningDataModule.
- :mod:`~terralearn.ssl.transfer`: encoder weights into a model by name, with a report.
- :mod:`~terralearn.ssl.figures`: loss curve and MAE reconstructions.

The Lightning module is :class:`terralearn.tasks.pretrain.PretrainTask`; runs are made by
:func:`terralearn.runs.pretrain.pretrain` (``terralearn pretrain``).
"""

from terralearn.ssl.augment import MultispectralViews
from terralearn.ssl.contrastive import ContrastiveModel, nt_xent
from terralearn.ssl.data import UnlabelledChips, UnlabelledDataModule
from terralearn.ssl.mae import MaskedAutoencoder, reconstruct
from terralearn.ssl.masking import PatchMask, patchify, random_masking, unpatchify
from terralearn.ssl.transfer import (
    TransferReport,
    init_encoder_from,
    read_pretrained,
    transfer_weights,
)

__all__ = [
    "ContrastiveModel",
    "MaskedAutoencoder",
    "MultispectralViews",
    "PatchMask",
    "TransferReport",
    "UnlabelledChips",
    "UnlabelledDataModule",
    "init_encoder_from",
    "nt_xent",
    "patchify",
    "random_masking",
    "read_pretrained",
    "reconstruct",
    "transfer_weights",
    "unpatchify",
]
