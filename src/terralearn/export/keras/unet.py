"""Keras 3 U-Nets: the classic small one of the tutorials and a deeper configurable one.

Both are functional models on channels-last inputs ``(S, S, C)`` with ``S`` divisible by
``2**depth``. The head is a 1x1 convolution with ``num_classes`` channels: sigmoid when
``num_classes == 1`` (binary masks, ``binary_crossentropy``), softmax otherwise
(``sparse_categorical_crossentropy``); ``activation=None`` gives logits.

Shapes:
    input ``(B, S, S, C)`` -> output ``(B, S, S, num_classes)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from terralearn._extras import require
from terralearn.errors import ConfigError
from terralearn.export.keras.attention import TransformerBlock

keras = require("keras", "tf")
layers = keras.layers


def _head(x, num_classes: int, activation: str | None):
    if activation == "auto":
        activation = "sigmoid" if num_classes == 1 else "softmax"
    return layers.Conv2D(num_classes, 1, activation=activation, dtype="float32", name="head")(x)


def _check(num_classes: int, input_shape: Sequence[int | None], depth: int) -> None:
    if num_classes < 1:
        raise ConfigError(f"num_classes {num_classes} must be at least 1 (1 = binary sigmoid)")
    for side in input_shape[:2]:
        if side is not None and side % 2**depth:
            raise ConfigError(
                f"input size {side} is not divisible by 2**depth = {2**depth}; use chips of a "
                f"multiple of {2**depth} px or a smaller depth"
            )


def unet_small(
    input_shape: Sequence[int | None] = (None, None, 3),
    num_classes: int = 1,
    activation: str | None = "auto",
    dropout: Sequence[float] = (0.1, 0.1, 0.2, 0.2, 0.3),
) -> keras.Model:
    """The classic tutorial U-Net: filters 16, 32, 64, 128 down, 256 at the bottom.

    Each level is Conv3x3-ReLU, Dropout, Conv3x3-ReLU (he_normal init); downsampling by 2x2 max
    pooling, upsampling by 2x2 transposed convolutions concatenated with the skip connection.
    """
    _check(num_classes, input_shape, 4)
    filters = (16, 32, 64, 128, 256)

    def block(x, f: int, rate: float):
        x = layers.Conv2D(f, 3, activation="relu", kernel_initializer="he_normal", padding="same")(
            x
        )
        x = layers.Dropout(rate)(x)
        return layers.Conv2D(
            f, 3, activation="relu", kernel_initializer="he_normal", padding="same"
        )(x)

    inputs = keras.Input(shape=tuple(input_shape))
    skips, x = [], inputs
    for f, rate in zip(filters[:-1], dropout[:-1], strict=True):
        x = block(x, f, rate)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = block(x, filters[-1], dropout[-1])
    for f, rate, skip in zip(filters[-2::-1], dropout[-2::-1], skips[::-1], strict=True):
        x = layers.Conv2DTranspose(f, 2, strides=2, padding="same")(x)
        x = block(layers.Concatenate()([x, skip]), f, rate)
    return keras.Model(inputs, _head(x, num_classes, activation), name="unet_small")


def unet(
    input_shape: Sequence[int | None] = (None, None, 3),
    num_classes: int = 2,
    base_filters: int = 64,
    depth: int = 4,
    batch_norm: bool = True,
    dropout: float = 0.0,
    attention_heads: int = 0,
    activation: str | None = "auto",
) -> keras.Model:
    """A configurable U-Net (Ronneberger et al. 2015, with batch norm).

    Args:
        input_shape: ``(S, S, C)``; ``S`` may be None.
        num_classes: output channels (1 = binary sigmoid).
        base_filters: filters of the first level, doubled at each level down.
        depth: number of 2x downsamplings.
        batch_norm: Conv-BN-ReLU instead of Conv-ReLU.
        dropout: dropout at the bottleneck.
        attention_heads: > 0 adds a :class:`TransformerBlock` with that many heads at the
            bottleneck (global context over the lowest-resolution map).
        activation: ``"auto"`` (sigmoid/softmax), another Keras activation, or None for logits.
    """
    _check(num_classes, input_shape, depth)
    if depth < 1 or base_filters < 1:
        raise ConfigError(f"depth {depth} and base_filters {base_filters} must be positive")

    def conv(x, f: int):
        for _ in range(2):
            x = layers.Conv2D(f, 3, padding="same", use_bias=not batch_norm)(x)
            if batch_norm:
                x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        return x

    inputs = keras.Input(shape=tuple(input_shape))
    skips, x = [], inputs
    for level in range(depth):
        x = conv(x, base_filters * 2**level)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = conv(x, base_filters * 2**depth)
    if dropout:
        x = layers.Dropout(dropout)(x)
    if attention_heads:
        x = TransformerBlock(num_heads=attention_heads, name="bottleneck_attention")(x)
    for level in reversed(range(depth)):
        f = base_filters * 2**level
        x = layers.Conv2DTranspose(f, 2, strides=2, padding="same")(x)
        x = conv(layers.Concatenate()([x, skips[level]]), f)
    return keras.Model(inputs, _head(x, num_classes, activation), name="unet")


KERAS_MODELS: dict[str, Callable[..., keras.Model]] = {"unet_small": unet_small, "unet": unet}


def build_model(name: str, **kwargs) -> keras.Model:
    """Build a Keras model by name (``unet_small``, ``unet``)."""
    if name not in KERAS_MODELS:
        raise ConfigError(
            f"Keras model {name!r} is unknown; choose one of {', '.join(KERAS_MODELS)}"
        )
    return KERAS_MODELS[name](**kwargs)
