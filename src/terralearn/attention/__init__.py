"""Attention of Vision Transformers made visible: rollout over blocks and per-head maps.

- :mod:`terralearn.attention.rollout`: pure tensor maths (attention rollout, head fusion);
- :mod:`terralearn.attention.maps`: a trained run + an image + a location -> arrays on the
  image grid (:func:`attention_maps`), their GeoTIFF (:func:`write_attention_geotiff`) and
  their figure (:func:`plot_attention`, drawn from the arrays by :mod:`terralearn.viz.attention`).
"""

from terralearn.attention.maps import (
    AttentionMaps,
    attention_maps,
    plot_attention,
    write_attention_geotiff,
)
from terralearn.attention.rollout import attention_rollout, fuse_heads, query_rollout

__all__ = [
    "AttentionMaps",
    "attention_maps",
    "attention_rollout",
    "fuse_heads",
    "plot_attention",
    "query_rollout",
    "write_attention_geotiff",
]
