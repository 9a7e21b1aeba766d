"""Keras 3 builders: ``unet_small`` (the tutorials' U-Net), ``unet`` and ``TransformerBlock``.

Needs the ``[tf]`` extra (TensorFlow with Keras 3). Inputs are channels-last ``(S, S, C)``, as
:func:`terralearn.export.tf_dataset.make_dataset` yields them.
"""

from __future__ import annotations

try:
    from terralearn.export.keras.attention import TransformerBlock
    from terralearn.export.keras.unet import KERAS_MODELS, build_model, unet, unet_small
except ImportError as exc:  # keras or its backend missing
    from terralearn.errors import ConfigError

    raise ConfigError(
        f"terralearn.export.keras needs Keras 3 with TensorFlow ({exc}); install it with "
        "`pip install 'terralearn[tf]'`"
    ) from None

__all__ = ["KERAS_MODELS", "TransformerBlock", "build_model", "unet", "unet_small"]
