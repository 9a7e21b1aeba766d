"""Attention of Vision Transformers made visible: rollout over blocks and per-head maps.

- :mod:`terralearn.attention.rollout`: pure tensor maths (attention rollout, head fusion);
- :mod:`terralearn.attention.maps`: a trained run + an image + a location -> arrays on the
  image grid (:func:`attention_maps`), and their GeoTIFF (:func:`write_attention_geotiff`).

The figure is drawn by :func:`terralearn.viz.attention.plot_attention`.
"""

from terralearn.attention.maps import AttentionMaps, attention_maps, write_attention_geotiff
from terralearn.attention.rollout import attention_rollout, fuse_heads, query_rollout

__all__ = [
    "AttentionMaps",
    "attention_maps",
    "attention_rollout",
    "fuse_heads",
    "query_rollout",
    "write_attention_geotiff",
]
