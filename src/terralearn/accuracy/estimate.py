"""Stratified estimators of accuracy and area (Olofsson et al. 2013, 2014).

Strata are the map classes. From the sample counts ``n_ij`` (row i = map class, column j =
reference class) and the mapped area ``A_i`` of each class, with weights ``W_i = A_i / A``:

- estimated area proportions ``p_ij = W_i n_ij / n_i.`` (Olofsson et al. 2014, eq. 4);
- user's accuracy ``U_i = p_ii / p_i.``, producer's ``P_j = p_jj / p.j``, overall ``O = sum p_jj``
  (eqs. 1-3), with the variances of eqs. 5-7 (producer's: Olofsson et al. 2013 eq. 4, Card 1982);
- error-adjusted area ``A p.j`` with the standard error of ``p.j`` of eq. 10.

Confidence intervals are ``z * SE`` with ``z`` = 1.96 (normal approximation), as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from terralearn.errors import ConfigError

Z95 = float(norm.ppf(0.975))  # 1.95996...


@dataclass(frozen=True)
class AreaEstimate:
    """Accuracy and area estimates of a stratified sample (strata = map classes).

    Attributes:
        proportions: (k, k) estimated area proportions, rows map class, columns reference class.
        mapped_area: (k,) mapped area per class, in the unit given.
        area: (k,) error-adjusted area per class (reference classes), same unit.
        area_ci95: (k,) half-widths of the 95 % confidence intervals of ``area``.
        users: (k,) user's accuracy per map class (NaN where the class has no sample).
        users_ci95: (k,) half-widths of their 95 % confidence intervals.
        producers: (k,) producer's accuracy per reference class (NaN where ``area`` is 0).
        producers_ci95: (k,) half-widths of their 95 % confidence intervals.
        overall: overall accuracy.
        overall_ci95: half-width of its 95 % confidence interval.
        counts: (k, k) the sample counts the estimate was made from.
    """

    proportions: np.ndarray
    mapped_area: np.ndarray
    area: np.ndarray
    area_ci95: np.ndarray
    users: np.ndarray
    users_ci95: np.ndarray
    producers: np.ndarray
    producers_ci95: np.ndarray
    overall: float
    overall_ci95: float
    counts: np.ndarray


def estimate_area(counts, mapped_area) -> AreaEstimate:
    """Stratified estimates of accuracy and error-adjusted area, strata = map classes.

    Args:
        counts: (k, k) sample counts, rows map class (stratum), columns reference class.
        mapped_area: (k,) mapped area of each class, in any unit (pixels, ha, ...).

    Returns:
        The estimates; areas are in the unit of ``mapped_area``.

    Raises:
        ConfigError: shapes disagree, negative values, or a mapped class (area > 0) has fewer
            than 2 sample points (its variance cannot be estimated).
    """
    n = np.asarray(counts, dtype=float)
    mapped = np.asarray(mapped_area, dtype=float)
    k = mapped.shape[0] if mapped.ndim == 1 else -1
    if n.shape != (k, k):
        raise ConfigError(
            f"counts must be (k, k) with k = len(mapped_area) = {k}, got shape {n.shape}"
        )
    if (n < 0).any() or (mapped < 0).any() or mapped.sum() <= 0:
        raise ConfigError("counts and mapped_area must be >= 0, with some mapped area")
    n_i = n.sum(axis=1)
    short = np.flatnonzero((mapped > 0) & (n_i < 2))
    if short.size:
        raise ConfigError(
            f"stratum (map class index) {int(short[0])} has {int(n_i[short[0]])} sample point(s); "
            "each mapped class needs at least 2 to estimate a variance"
        )
    total = mapped.sum()
    weights = mapped / total
    with np.errstate(invalid="ignore", divide="ignore"):
        within = np.where(n_i[:, None] > 0, n / n_i[:, None], 0.0)  # n_ij / n_i.
        dof = np.where(n_i > 1, n_i - 1, np.inf)  # unmapped, unsampled rows add nothing
        p = weights[:, None] * within
        p_col = p.sum(axis=0)
        diag = np.diag(p)
        users_raw = np.diag(within)
        users = np.where(n_i > 0, users_raw, np.nan)
        var_users = users_raw * (1 - users_raw) / dof
        producers = np.where(p_col > 0, diag / p_col, np.nan)
        overall = float(diag.sum())
        var_overall = float(np.sum(weights**2 * var_users))
        # cell terms W_i^2 (n_ij/n_i.)(1 - n_ij/n_i.) / (n_i. - 1); eq. 10: V(p.j) = column sum
        terms = weights[:, None] ** 2 * within * (1 - within) / dof[:, None]
        var_p_col = terms.sum(axis=0)
        # producer's accuracy, Olofsson et al. 2013 eq. 4 (Card 1982), with the weights W_i in
        # place of the pixel counts N_i. (the ratio is the same): the own stratum's part and
        # the omission from the other strata
        prod = np.nan_to_num(producers)
        var_producers = (
            weights**2 * (1 - prod) ** 2 * var_users + prod**2 * (var_p_col - np.diag(terms))
        ) / np.where(p_col > 0, p_col, np.nan) ** 2
    return AreaEstimate(
        proportions=p,
        mapped_area=mapped,
        area=p_col * total,
        area_ci95=Z95 * np.sqrt(var_p_col) * total,
        users=users,
        users_ci95=np.where(n_i > 0, Z95 * np.sqrt(var_users), np.nan),
        producers=producers,
        producers_ci95=Z95 * np.sqrt(var_producers),
        overall=overall,
        overall_ci95=Z95 * float(np.sqrt(var_overall)),
        counts=n,
    )
