"""Chip samplers: which chip positions to evaluate, which to keep, and how to weight them.

A sampler works in two steps, so the chip store can compute per-chip statistics in between:

1. :meth:`Sampler.candidates` proposes chip offsets for an image;
2. the store fills a table with one row per candidate (``row_off``, ``col_off``,
   ``valid_fraction`` and, when there are labels, ``count_0 .. count_{K-1}``: labelled pixels of
   each class in the chip);
3. :meth:`Sampler.select` keeps the rows worth storing and adds a ``weight`` column (the sampling
   weight used for training).

Every sampler skips chips whose ``valid_fraction`` is below ``min_valid`` (``min_valid=0`` keeps
all chips, even fully nodata ones).
"""

from __future__ import annotations

import inspect
import re
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import pandas as pd

from terralearn.errors import ConfigError
from terralearn.geo.grid import chip_offsets

_COUNT_COLUMN = re.compile(r"^count_(\d+)$")


def _check_fraction(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"sampler option {name} must be between 0 and 1, got {value}")
    return float(value)


def count_columns(table: pd.DataFrame) -> list[str]:
    """The ``count_<k>`` columns of a chip table, ordered by class id."""
    found = [(int(m.group(1)), c) for c in table.columns if (m := _COUNT_COLUMN.match(str(c)))]
    return [c for _, c in sorted(found)]


class Sampler(ABC):
    """Base class: propose chip offsets, then keep and weight the evaluated chips.

    Args:
        min_valid: Smallest fraction of valid (non-nodata) pixels a chip needs to be kept.
    """

    name: str = ""

    def __init__(self, min_valid: float = 0.5) -> None:
        self.min_valid = _check_fraction("min_valid", min_valid)

    @abstractmethod
    def candidates(self, height: int, width: int, size: int) -> np.ndarray:
        """``(N, 2)`` int64 ``[row_off, col_off]`` of the chips to evaluate in an image."""

    @abstractmethod
    def select(self, table: pd.DataFrame) -> pd.DataFrame:
        """The kept rows of ``table`` (index reset) with a float ``weight`` column added."""

    def _keep_valid(self, table: pd.DataFrame) -> pd.DataFrame:
        if "valid_fraction" not in table.columns:
            raise ValueError("chip table has no 'valid_fraction' column")
        kept = table.loc[table["valid_fraction"] >= self.min_valid]
        return kept.reset_index(drop=True)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


SAMPLERS: dict[str, type[Sampler]] = {}


def register_sampler(name: str):
    """Class decorator adding a sampler to :data:`SAMPLERS` under ``name``."""

    def decorate(cls: type[Sampler]) -> type[Sampler]:
        cls.name = name
        SAMPLERS[name] = cls
        return cls

    return decorate


@register_sampler("grid")
class GridSampler(Sampler):
    """Every chip of a regular grid (see :func:`terralearn.geo.chip_offsets`), weight 1.

    Args:
        stride: Step between chips in pixels; defaults to the chip size.
        min_valid: Smallest valid-pixel fraction of a kept chip.
    """

    def __init__(self, stride: int | None = None, min_valid: float = 0.5) -> None:
        super().__init__(min_valid)
        if stride is not None and stride < 1:
            raise ConfigError(f"sampler option stride must be >= 1 pixel, got {stride}")
        self.stride = stride

    def candidates(self, height: int, width: int, size: int) -> np.ndarray:
        return chip_offsets(height, width, size, self.stride)

    def select(self, table: pd.DataFrame) -> pd.DataFrame:
        kept = self._keep_valid(table)
        return kept.assign(weight=np.ones(len(kept), dtype=np.float64))


@register_sampler("random")
class RandomSampler(Sampler):
    """``n`` distinct chip offsets drawn uniformly at random (deterministic for a ``seed``), weight 1.

    Offsets are returned sorted row-major (reading order) and without repeats; if the image has
    fewer than ``n`` possible positions, all of them are returned. Chips below ``min_valid`` are
    dropped afterwards, so at most ``n`` chips are kept.

    Args:
        n: Number of chips to draw.
        seed: Random seed.
        min_valid: Smallest valid-pixel fraction of a kept chip.
    """

    def __init__(self, n: int, seed: int = 0, min_valid: float = 0.5) -> None:
        super().__init__(min_valid)
        if n < 1:
            raise ConfigError(f"sampler option n (number of chips) must be >= 1, got {n}")
        self.n = int(n)
        self.seed = int(seed)

    def candidates(self, height: int, width: int, size: int) -> np.ndarray:
        chip_offsets(height, width, size)  # same validation as the grid
        n_rows, n_cols = height - size + 1, width - size + 1
        total = n_rows * n_cols
        rng = np.random.default_rng(self.seed)
        if self.n >= total:
            flat = np.arange(total, dtype=np.int64)
        else:
            flat = np.sort(rng.choice(total, size=self.n, replace=False)).astype(np.int64)
        return np.stack([flat // n_cols, flat % n_cols], axis=1)

    def select(self, table: pd.DataFrame) -> pd.DataFrame:
        kept = self._keep_valid(table)
        return kept.assign(weight=np.ones(len(kept), dtype=np.float64))


@register_sampler("class_balanced")
class ClassBalancedSampler(Sampler):
    """Grid chips weighted so that chips holding rare classes are drawn more often in training.

    With ``c_jk`` the labelled pixels of class ``k`` in kept chip ``j`` and
    ``f_k = sum_j c_jk / sum_jk c_jk`` the class frequency over the kept chips, the raw weight is

        w_j = sum_k c_jk * f_k^(-power) / sum_k c_jk

    i.e. the mean over the chip's labelled pixels of their inverse class frequency to the power
    ``power`` (0: all weights equal; 1: full inverse-frequency balancing; 0.5: the usual compromise).
    Chips with no labelled pixel get the smallest weight of the labelled chips. Weights are then
    scaled to mean 1. Without ``count_*`` columns (no labels) or labelled pixels, all weights are 1.

    Args:
        stride: Step between chips in pixels; defaults to the chip size.
        min_valid: Smallest valid-pixel fraction of a kept chip.
        power: Exponent of the inverse class frequency (>= 0).
    """

    def __init__(self, stride: int | None = None, min_valid: float = 0.5, power: float = 0.5):
        super().__init__(min_valid)
        if stride is not None and stride < 1:
            raise ConfigError(f"sampler option stride must be >= 1 pixel, got {stride}")
        if power < 0:
            raise ConfigError(f"sampler option power must be >= 0, got {power}")
        self.stride = stride
        self.power = float(power)

    def candidates(self, height: int, width: int, size: int) -> np.ndarray:
        return chip_offsets(height, width, size, self.stride)

    def select(self, table: pd.DataFrame) -> pd.DataFrame:
        kept = self._keep_valid(table)
        return kept.assign(weight=class_balanced_weights(kept, self.power))


def class_balanced_weights(table: pd.DataFrame, power: float = 0.5) -> np.ndarray:
    """Per-row weights of :class:`ClassBalancedSampler` (mean 1) for a table of chips."""
    columns = count_columns(table)
    weights = np.ones(len(table), dtype=np.float64)
    if not columns or len(table) == 0:
        return weights
    counts = table[columns].to_numpy(dtype=np.float64)
    per_class = counts.sum(axis=0)
    per_chip = counts.sum(axis=1)
    if per_class.sum() <= 0:
        return weights
    present = per_class > 0  # absent classes have c_jk = 0 everywhere; skip 0 * inf
    freq = per_class[present] / per_class.sum()
    labelled = per_chip > 0
    raw = counts[labelled][:, present] @ freq ** (-power) / per_chip[labelled]
    weights[labelled] = raw
    weights[~labelled] = raw.min()
    return weights / weights.mean()


def get_sampler(name: str, **kwargs: Any) -> Sampler:
    """Build a registered sampler by name (``grid``, ``random``, ``class_balanced``, ...).

    Raises:
        ConfigError: for an unknown name or an option the sampler does not take.
    """
    cls = SAMPLERS.get(name)
    if cls is None:
        raise ConfigError(f"unknown sampler {name!r}; choose one of: {', '.join(sorted(SAMPLERS))}")
    signature = inspect.signature(cls.__init__)
    try:
        signature.bind(None, **kwargs)
    except TypeError as err:
        options = [p for p in signature.parameters if p != "self"]
        raise ConfigError(
            f"bad options for sampler {name!r}: {err}; it takes: {', '.join(options)}"
        ) from None
    return cls(**kwargs)
