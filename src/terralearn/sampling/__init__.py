"""Chip samplers, spatial splits and streamed band statistics (no I/O)."""

from terralearn.sampling.samplers import (
    SAMPLERS,
    ClassBalancedSampler,
    GridSampler,
    RandomSampler,
    Sampler,
    class_balanced_weights,
    count_columns,
    get_sampler,
    register_sampler,
)
from terralearn.sampling.splits import (
    SPLITS,
    block_kfold,
    block_split,
    box_gaps,
    buffer_violations,
    count_blocks,
    group_split,
    kfold_split,
    random_split,
)
from terralearn.sampling.stats import PERCENTILES, BandStatistics

__all__ = [
    "PERCENTILES",
    "SAMPLERS",
    "SPLITS",
    "BandStatistics",
    "ClassBalancedSampler",
    "GridSampler",
    "RandomSampler",
    "Sampler",
    "block_kfold",
    "block_split",
    "box_gaps",
    "buffer_violations",
    "class_balanced_weights",
    "count_blocks",
    "count_columns",
    "get_sampler",
    "group_split",
    "kfold_split",
    "random_split",
    "register_sampler",
]
