"""A transformer encoder block over the pixels of a feature map (Keras 3).

For a map ``x`` of shape ``(B, H, W, C)`` flattened to tokens ``t`` of shape ``(B, H*W, C)``::

    t = LayerNorm(t + Dropout(MultiHeadAttention(t, t)))
    t = LayerNorm(t + Dropout(Dense_C(GELU(Dense_mlp(t)))))

and back to ``(B, H, W, C)`` (post-norm, as in "Attention is all you need"). A learned position
embedding is not used, so the block accepts any H and W; convolutions around it carry position.

Shapes:
    input ``(B, H, W, C)`` -> output ``(B, H, W, C)``.
"""

from __future__ import annotations

from terralearn._extras import require

keras = require("keras", "tf")
layers, ops = keras.layers, keras.ops


@keras.saving.register_keras_serializable(package="terralearn")
class TransformerBlock(layers.Layer):
    """Multi-head self-attention + layer norm + residual, then an MLP + layer norm + residual.

    Args:
        num_heads: attention heads.
        key_dim: size of each head (default: channels // num_heads).
        mlp_ratio: hidden width of the MLP as a multiple of the channels.
        dropout: dropout after attention and the MLP.
    """

    def __init__(
        self,
        num_heads: int = 4,
        key_dim: int | None = None,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads, self.key_dim = num_heads, key_dim
        self.mlp_ratio, self.dropout = mlp_ratio, dropout

    def build(self, input_shape):
        channels = int(input_shape[-1])
        key_dim = self.key_dim or max(1, channels // self.num_heads)
        self.attention = layers.MultiHeadAttention(self.num_heads, key_dim, dropout=self.dropout)
        self.norm1 = layers.LayerNormalization(epsilon=1e-6)
        self.norm2 = layers.LayerNormalization(epsilon=1e-6)
        self.hidden = layers.Dense(int(channels * self.mlp_ratio), activation="gelu")
        self.out = layers.Dense(channels)
        self.drop = layers.Dropout(self.dropout)
        tokens = (input_shape[0], None, channels)
        self.attention.build(tokens, tokens)
        self.norm1.build(tokens)
        self.norm2.build(tokens)
        self.hidden.build(tokens)
        self.out.build((input_shape[0], None, int(channels * self.mlp_ratio)))
        super().build(input_shape)

    def call(self, x, training=None):
        shape = ops.shape(x)
        tokens = ops.reshape(x, (shape[0], shape[1] * shape[2], shape[3]))
        attended = self.attention(tokens, tokens, training=training)
        tokens = self.norm1(tokens + self.drop(attended, training=training))
        mlp = self.out(self.hidden(tokens))
        tokens = self.norm2(tokens + self.drop(mlp, training=training))
        return ops.reshape(tokens, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "mlp_ratio": self.mlp_ratio,
            "dropout": self.dropout,
        }
