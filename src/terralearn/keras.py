"""Keras 3 builders (``terralearn.keras.unet_small`` ...); see :mod:`terralearn.models.keras`.

Needs the ``[tf]`` extra (TensorFlow with Keras 3).
"""

from __future__ import annotations

try:
    from terralearn.models.keras import (
        KERAS_MODELS,
        TransformerBlock,
        build_model,
        unet,
        unet_small,
    )
except ImportError as exc:  # keras or its backend missing
    from terralearn.errors import ConfigError

    raise ConfigError(
        f"terralearn.keras needs Keras 3 with TensorFlow ({exc}); install it with "
        "`pip install 'terralearn[tf]'`"
    ) from None

__all__ = ["KERAS_MODELS", "TransformerBlock", "build_model", "unet", "unet_small"]
