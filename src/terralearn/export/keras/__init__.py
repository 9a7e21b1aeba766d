"""Keras 3 builders: ``unet_small`` (the tutorials' U-Net), ``unet`` and ``TransformerBlock``.

Needs the ``[tf]`` extra (TensorFlow with Keras 3). Inputs are channels-last ``(S, S, C)``, as
:func:`terralearn.export.tf_dataset.make_dataset` yields them.
"""

from __future__ import annotations

from terralearn.export.keras.attention import TransformerBlock
from terralearn.export.keras.unet import KERAS_MODELS, build_model, unet, unet_small

__all__ = ["KERAS_MODELS", "TransformerBlock", "build_model", "unet", "unet_small"]
