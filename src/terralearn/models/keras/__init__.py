"""Keras 3 model builders for segmentation (needs the ``[tf]`` extra: TensorFlow + Keras).

``unet_small`` is the classic U-Net of the tutorials (16..256 filters, dropout, sigmoid for one
class); ``unet`` is a deeper configurable one (batch norm, depth, width, optional transformer
attention at the bottleneck); :class:`TransformerBlock` is a multi-head self-attention + layer
norm + residual block over the pixels of a feature map, usable in any Keras segmentation model.
Inputs are channels-last ``(S, S, C)``, as :func:`terralearn.tf.make_dataset` yields them.
"""

from terralearn.models.keras.attention import TransformerBlock
from terralearn.models.keras.unet import KERAS_MODELS, build_model, unet, unet_small

__all__ = ["KERAS_MODELS", "TransformerBlock", "build_model", "unet", "unet_small"]
