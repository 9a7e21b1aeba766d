"""Keras 3 model builders for segmentation (needs the ``[tf]`` extra: TensorFlow + Keras 3).

``unet_small`` is the classic U-Net of the tutorials (16..256 filters, dropout, sigmoid for one
class); ``unet`` is a deeper configurable one (batch norm, depth, width, optional transformer
attention at the bottleneck); :class:`TransformerBlock` is a multi-head self-attention + layer
norm + residual block over the pixels of a feature map, usable in any Keras segmentation model.
Inputs are channels-last ``(S, S, C)``, as :func:`terralearn.export.tf_dataset.make_dataset`
yields them.
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
