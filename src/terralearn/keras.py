"""Keras 3 builders (``terralearn.keras.unet_small`` ...); see :mod:`terralearn.models.keras`.

Needs the ``[tf]`` extra (TensorFlow with Keras 3).
"""

from __future__ import annotations

from terralearn.models.keras import (
    KERAS_MODELS,
    TransformerBlock,
    build_model,
    unet,
    unet_small,
)

__all__ = ["KERAS_MODELS", "TransformerBlock", "build_model", "unet", "unet_small"]
