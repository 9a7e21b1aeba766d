"""A learned local-kriging layer: the first aggregation of the interpolating graph learner.

:class:`LocalKriging` kriges a node from its nearest observed values with a learned covariance;
:mod:`terralearn.graph.learner` puts a GNN residual on top of it. Plain PyTorch (no PyTorch
Geometric), so it imports fast.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class LocalKriging(nn.Module):
    """Simple kriging of each query from ``K`` observations around it, learned covariance.

    With the powered-exponential correlation ``rho(h) = exp(-(h / a)^p)`` (valid in 2-D for
    ``0 < p <= 2``; ``p = 1`` exponential, ``p = 2`` Gaussian), a nugget ``g`` and the prior
    variance ``t`` of the local mean::

        C_jk = rho(|x_j - x_k|) + g [j = k] + t,   c_j = rho(|x_j - x_q|) + t
        w = C^-1 c,   mean_q = sum_j w_j z_j,   sd_q = sqrt(1 + t - w . c)

    for values ``z`` standardised to mean 0 and variance 1 (the unit sill). ``t = 0`` is simple
    kriging around the global mean, ``t -> inf`` ordinary kriging (a free local mean); in
    between, a Bayesian local mean. The range ``a``, shape ``p``, nugget ``g`` and ``t`` are
    parameters, fitted by gradient descent on held-out predictions like the rest of the
    network (a cross-validated variogram fit).

    Args:
        range_: initial range ``a`` in the units of the offsets.
        shape: initial shape ``p``; ``p`` stays in ``(0.1, 1.95)`` (``2`` would make ``C``
            ill-conditioned).
        nugget: initial nugget ``g``; ``g`` stays above 1e-4.
        mean_variance: initial ``t`` (> 0).

    Shapes:
        - ``offsets``: ``(Q, K, 2)`` neighbour minus query position; ``values``: ``(Q, K, V)``;
          optional ``valid``: ``(Q, K)`` bool, False for neighbours to leave out.
        - output: ``mean`` ``(Q, V)`` and ``sd`` ``(Q,)``.
    """

    MIN_SHAPE, MAX_SHAPE, MIN_NUGGET = 0.1, 1.95, 1e-4

    def __init__(
        self,
        range_: float = 3.0,
        shape: float = 1.0,
        nugget: float = 0.05,
        mean_variance: float = 0.1,
    ):
        super().__init__()
        # starting values at (or beyond) a bound start just inside it
        share = (shape - self.MIN_SHAPE) / (self.MAX_SHAPE - self.MIN_SHAPE)
        share = min(max(share, 0.01), 0.99)
        self.log_range = nn.Parameter(torch.tensor(math.log(range_)))
        self.shape_logit = nn.Parameter(torch.tensor(math.log(share / (1 - share))))
        self.log_nugget = nn.Parameter(torch.tensor(math.log(max(nugget - self.MIN_NUGGET, 1e-5))))
        self.log_mean_variance = nn.Parameter(torch.tensor(math.log(mean_variance)))

    def parameters_dict(self) -> dict[str, float]:
        """The current range, shape, nugget and mean variance as numbers."""
        return {
            "range": float(self.log_range.detach().exp()),
            "shape": float(self._shape().detach()),
            "nugget": float(self._nugget().detach()),
            "mean_variance": float(self.log_mean_variance.detach().exp()),
        }

    def _shape(self) -> Tensor:
        return self.MIN_SHAPE + (self.MAX_SHAPE - self.MIN_SHAPE) * torch.sigmoid(self.shape_logit)

    def _nugget(self) -> Tensor:
        return self.MIN_NUGGET + self.log_nugget.exp()

    def correlation(self, squared_distance: Tensor) -> Tensor:
        """``rho`` of squared distances (the square keeps the gradient finite at 0)."""
        scaled = squared_distance.clamp_min(1e-12) / (2 * self.log_range).exp()
        return torch.exp(-(scaled ** (self._shape() / 2)))

    def forward(
        self, offsets: Tensor, values: Tensor, valid: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        nugget, mean_variance = self._nugget(), self.log_mean_variance.exp()
        square = (offsets**2).sum(-1)  # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, one batched matmul
        pair = square[:, :, None] + square[:, None, :] - 2 * offsets @ offsets.transpose(1, 2)
        eye = torch.eye(offsets.shape[1], dtype=offsets.dtype, device=offsets.device)
        cov = self.correlation(pair) * (1 - eye) + (1 + nugget) * eye + mean_variance
        c = self.correlation(square) + mean_variance
        if valid is not None:  # a left-out neighbour: an identity row and column, weight 0
            keep = valid.to(offsets.dtype)
            both = keep[:, :, None] * keep[:, None, :]
            cov = cov * both + eye * (1 - both)
            c = c * keep
        chol, info = torch.linalg.cholesky_ex(cov)
        if bool((info > 0).any()):  # float32 round-off on a near-singular system: jitter
            chol, _ = torch.linalg.cholesky_ex(cov + 1e-3 * eye)
        w = torch.cholesky_solve(c[..., None], chol)[..., 0]
        mean = (w[..., None] * values).sum(1)
        sd = (1 + mean_variance - (w * c).sum(1)).clamp_min(1e-6).sqrt()
        return mean, sd
