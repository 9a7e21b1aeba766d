"""Per-band statistics streamed over blocks of pixels (for normalisation and display stretches).

Mean and standard deviation are exact in float64: each batch's mean and sum of squared deviations
are combined with the parallel update of Chan, Golub & LeVeque (1979)::

    n = n_a + n_b;  d = mean_b - mean_a
    mean = mean_a + d * n_b / n;  M2 = M2_a + M2_b + d^2 * n_a * n_b / n

Percentiles come from a fixed-size histogram per band whose bin width is a power of two,
``w = 2^e``, with bin edges at multiples of ``w``. Any two such grids line up, so growing the range
(doubling ``w`` and summing pairs of bins) and merging partial results lose no count. Initial grid:

- ``value_range`` given: the finest power-of-two grid covering it;
- 8- and 16-bit integer data: the dtype's whole range (uint16 with 4096 bins: width 16; uint8:
  width 1, so percentiles are exact);
- other data (floats, wider integers): the first batch's range, widened about four times.

Values outside the grid grow it. **Precision:** a reported percentile ``p`` is within one bin width
(see :meth:`BandStatistics.bin_width`) of the sample of rank ``floor(p / 100 * (n - 1))`` in sorted
order (numpy's ``method="lower"``); within a bin it is interpolated, and it is clipped to the exact
``[min, max]``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from terralearn.errors import ConfigError

PERCENTILES = (1, 2, 50, 98, 99)


def _fits(lo: float, hi: float, e: int, bins: int) -> bool:
    w = 2.0**e
    return math.floor(hi / w) - math.floor(lo / w) + 1 <= bins


def _finest_exponent(lo: float, hi: float, bins: int, at_least: int | None = None) -> int:
    """Smallest ``e`` (>= ``at_least``) whose grid covers ``[lo, hi]`` with ``bins`` bins."""
    span = max(hi - lo, 1e-300)
    e = math.ceil(math.log2(span / bins)) - 1
    if at_least is not None:
        e = max(e, at_least)
    while not _fits(lo, hi, e, bins):
        e += 1
    return e


class BandStatistics:
    """Streamed count, mean, std, min, max and percentiles of each band.

    Args:
        band_names: One name per band (the first axis of the pixels given to :meth:`update`).
        bins: Histogram bins per band (percentile precision is the range over about ``bins``).
        value_range: ``(low, high)`` expected value range; sets the initial histogram grid.

    Example:
        >>> stats = BandStatistics(["red", "nir"])
        >>> stats.update(np.array([[[1, 2]], [[3, 4]]], dtype=np.uint16))
        >>> stats.result()["nir"]["mean"]
        3.5
    """

    def __init__(
        self,
        band_names: Sequence[str],
        bins: int = 4096,
        value_range: tuple[float, float] | None = None,
    ) -> None:
        self.band_names = [str(b) for b in band_names]
        if not self.band_names:
            raise ConfigError("band statistics need at least one band name")
        if bins < 2:
            raise ConfigError(f"histogram bins must be >= 2, got {bins}")
        self.bins = int(bins)
        self.value_range = value_range
        n = len(self.band_names)
        self.count = np.zeros(n, dtype=np.int64)
        self.mean = np.zeros(n, dtype=np.float64)
        self.m2 = np.zeros(n, dtype=np.float64)
        self.min = np.full(n, np.inf)
        self.max = np.full(n, -np.inf)
        self.hist = np.zeros((n, self.bins), dtype=np.int64)
        self.exponent = np.zeros(n, dtype=np.int64)  # bin width 2**exponent
        self.first_bin = np.zeros(n, dtype=np.int64)  # global index (value // width) of bin 0
        self.has_grid = np.zeros(n, dtype=bool)
        self.integer = True  # all data seen so far was integer-typed
        if value_range is not None:
            lo, hi = (float(v) for v in value_range)
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise ConfigError(
                    f"value_range must be finite (low, high) with low < high, got {value_range}"
                )
            e = _finest_exponent(lo, hi, self.bins)
            self.exponent[:] = e
            self.first_bin[:] = math.floor(lo / 2.0**e)
            self.has_grid[:] = True

    def bin_width(self, band: str) -> float:
        """Current histogram bin width of a band: the precision of its percentiles."""
        return 2.0 ** int(self.exponent[self.band_names.index(band)])

    # grid handling -------------------------------------------------------------------------
    def _init_grid(self, c: int, lo: float, hi: float, dtype: np.dtype) -> None:
        if np.issubdtype(dtype, np.integer) and dtype.itemsize <= 2:
            info = np.iinfo(dtype)
            e = _finest_exponent(float(info.min), float(info.max), self.bins, at_least=0)
            first = math.floor(info.min / 2.0**e)
        else:
            span = max(hi - lo, 1e-6 * max(abs(lo), abs(hi)), 1e-12)
            # the batch fills about a quarter of the bins, centred: room to grow on both sides
            e = _finest_exponent(lo, lo + span, self.bins) + 2
            if np.issubdtype(dtype, np.integer):
                e = max(e, 0)
            w = 2.0**e
            used = math.floor(hi / w) - math.floor(lo / w) + 1
            first = math.floor(lo / w) - (self.bins - used) // 2
        self.exponent[c], self.first_bin[c], self.has_grid[c] = e, first, True

    def _regrid(self, c: int, lo: float, hi: float, at_least: int) -> None:
        """Move band ``c`` to the finest grid (exponent >= ``at_least``) covering ``[lo, hi]``."""
        e_old, first_old = int(self.exponent[c]), int(self.first_bin[c])
        e = _finest_exponent(lo, hi, self.bins, at_least=max(at_least, e_old))
        first = math.floor(lo / 2.0**e)
        if e == e_old and first == first_old:
            return
        self.hist[c] = self._rebinned(self.hist[c], e_old, first_old, e, first)
        self.exponent[c], self.first_bin[c] = e, first

    def _rebinned(self, hist: np.ndarray, e_old: int, first_old: int, e: int, first: int):
        nonzero = np.flatnonzero(hist)
        # arithmetic right shift = floor division by 2**(e - e_old), also for negative indices
        target = ((first_old + nonzero) >> (e - e_old)) - first
        out = np.zeros(self.bins, dtype=np.int64)
        np.add.at(out, target, hist[nonzero])
        return out

    def _ensure_covers(self, c: int, lo: float, hi: float) -> None:
        w = 2.0 ** int(self.exponent[c])
        first = int(self.first_bin[c])
        if math.floor(lo / w) < first or math.floor(hi / w) > first + self.bins - 1:
            self._regrid(c, min(lo, self.min[c]), max(hi, self.max[c]), int(self.exponent[c]))

    # accumulation --------------------------------------------------------------------------
    def update(self, pixels: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Add a block of pixels.

        Args:
            pixels: ``(C, ...)`` array of any numeric dtype, one entry per band. Non-finite values
                (NaN, inf) are left out, per band.
            valid: Boolean mask of shape ``pixels.shape[1:]``; only ``True`` pixels are counted.
        """
        pixels = np.asarray(pixels)
        if pixels.dtype == np.bool_:
            pixels = pixels.view(np.uint8)
        if not np.issubdtype(pixels.dtype, np.number) or np.iscomplexobj(pixels):
            raise ValueError(f"pixels must be real numbers, got dtype {pixels.dtype}")
        if pixels.shape[0] != len(self.band_names):
            raise ValueError(
                f"pixels have {pixels.shape[0]} bands but the statistics have "
                f"{len(self.band_names)} ({', '.join(self.band_names)})"
            )
        if valid is not None:
            valid = np.asarray(valid, dtype=bool)
            if valid.shape != pixels.shape[1:]:
                raise ValueError(
                    f"valid mask shape {valid.shape} != pixel shape {pixels.shape[1:]}"
                )
        is_float = not np.issubdtype(pixels.dtype, np.integer)
        self.integer = self.integer and not is_float
        for c in range(len(self.band_names)):
            values = pixels[c][valid] if valid is not None else pixels[c].ravel()
            if is_float:
                values = values[np.isfinite(values)]
            if values.size:
                self._add_band(c, values)

    def _add_band(self, c: int, values: np.ndarray) -> None:
        x = values.astype(np.float64, copy=False)
        n_b = x.size
        mean_b = float(x.mean())
        m2_b = float(np.square(x - mean_b).sum())
        lo, hi = float(x.min()), float(x.max())
        if not self.has_grid[c]:
            self._init_grid(c, lo, hi, values.dtype)
        self._ensure_covers(c, lo, hi)
        self._combine(c, n_b, mean_b, m2_b, lo, hi)
        w = 2.0 ** int(self.exponent[c])
        index = np.floor(x / w).astype(np.int64) - self.first_bin[c]
        self.hist[c] += np.bincount(index, minlength=self.bins)

    def _combine(self, c: int, n_b: int, mean_b: float, m2_b: float, lo: float, hi: float):
        n_a = int(self.count[c])
        n = n_a + n_b
        delta = mean_b - self.mean[c]
        self.mean[c] += delta * n_b / n
        self.m2[c] += m2_b + delta * delta * n_a * n_b / n
        self.count[c] = n
        self.min[c] = min(self.min[c], lo)
        self.max[c] = max(self.max[c], hi)

    def merge(self, other: BandStatistics) -> BandStatistics:
        """A new object holding the statistics of both ``self`` and ``other`` (e.g. two workers)."""
        if other.band_names != self.band_names or other.bins != self.bins:
            raise ValueError(
                "cannot merge band statistics with different bands or bins: "
                f"{self.band_names}/{self.bins} vs {other.band_names}/{other.bins}"
            )
        out = copy.deepcopy(self)
        out.integer = self.integer and other.integer
        for c in range(len(self.band_names)):
            if other.count[c] == 0:
                continue
            if out.count[c] == 0:
                out.exponent[c], out.first_bin[c] = other.exponent[c], other.first_bin[c]
                out.has_grid[c] = True
                out.hist[c] = other.hist[c]
            else:
                lo, hi = min(out.min[c], other.min[c]), max(out.max[c], other.max[c])
                out._regrid(c, lo, hi, max(int(out.exponent[c]), int(other.exponent[c])))
                out.hist[c] += out._rebinned(
                    other.hist[c],
                    int(other.exponent[c]),
                    int(other.first_bin[c]),
                    int(out.exponent[c]),
                    int(out.first_bin[c]),
                )
            out._combine(
                c,
                int(other.count[c]),
                float(other.mean[c]),
                float(other.m2[c]),
                float(other.min[c]),
                float(other.max[c]),
            )
        return out

    # results -------------------------------------------------------------------------------
    def percentile(self, band: str, q: float) -> float:
        """Histogram estimate of the ``q``-th percentile (0..100) of a band (see module docs)."""
        c = self.band_names.index(band)
        n = int(self.count[c])
        if n == 0:
            return math.nan
        rank = math.floor(Fraction(q) * (n - 1) / 100)  # exact: no float rounding of the rank
        cum = np.cumsum(self.hist[c])
        k = int(np.searchsorted(cum, rank, side="right"))
        in_bin = int(self.hist[c, k])
        before = int(cum[k]) - in_bin
        w = 2.0 ** int(self.exponent[c])
        edge = (int(self.first_bin[c]) + k) * w
        # integer data in a bin are the integers edge .. edge + w - 1; floats fill [edge, edge + w)
        position = (rank - before + 0.5) / in_bin  # in (0, 1): where the sample sits in its bin
        value = edge + (math.floor(max(w - 1, 0) * position) if self.integer else w * position)
        return float(min(max(value, self.min[c]), self.max[c]))

    def result(self) -> dict[str, dict[str, float]]:
        """Per band: ``count, mean, std`` (population, ddof 0), ``min, max, p1, p2, p50, p98, p99``.

        Bands without any valid pixel have count 0 and NaN elsewhere.
        """
        out: dict[str, dict[str, float]] = {}
        for c, name in enumerate(self.band_names):
            n = int(self.count[c])
            stats: dict[str, float] = {"count": n}
            if n == 0:
                stats.update(dict.fromkeys(["mean", "std", "min", "max"], math.nan))
            else:
                stats["mean"] = float(self.mean[c])
                stats["std"] = math.sqrt(max(float(self.m2[c]) / n, 0.0))
                stats["min"] = float(self.min[c])
                stats["max"] = float(self.max[c])
            for q in PERCENTILES:
                stats[f"p{q}"] = self.percentile(name, q)
            out[name] = stats
        return out
