"""Graph neural networks for point data: GCN, GraphSAGE and GAT on PyTorch Geometric.

One network shape for all three, :class:`GraphNet`:

    h0 = relu(W_in [x || PE(pos)])
    h_l = h_{l-1} + relu(conv_l(h_{l-1}, edges))        for l = 1 .. layers
    out = W_out h_L

where ``conv`` is ``GCNConv`` (Gaussian edge weights), :class:`WeightedSAGEConv` (a weighted
mean of neighbours) or ``GATConv`` (attention that sees the edge offsets), and ``PE`` is the
optional multi-scale sinusoidal encoding of coordinates of positional-encoder GNNs.

:class:`LocalKriging` is the first aggregation of the interpolating learner
(:mod:`terralearn.graph.learner`): simple kriging of a node from its nearest observed values
with a learned covariance, on top of which the GNN learns a residual.

Shapes:
    - ``x``: ``(N, in_channels)``; ``pos``: ``(N, 2)`` coordinates scaled to about [0, 1].
    - ``edge_index``: ``(2, E)``; ``edge_weight``: ``(E,)``; ``edge_attr``: ``(E, EDGE_DIM)``.
    - output: ``(N, num_classes)``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv
from torch_geometric.nn.conv import MessagePassing

Conv = Literal["gcn", "sage", "gat"]
EDGE_DIM = 3  # edge attributes: (distance, dx, dy) in units of the median edge length


class SinusoidalEncoding(nn.Module):
    """Multi-scale sinusoidal encoding of 2-D coordinates.

    For wavelengths ``lambda_s`` spaced geometrically from ``max_wavelength`` down to
    ``min_wavelength``: ``[sin(2 pi x / lambda_s), cos(2 pi x / lambda_s), same for y]``.

    Shapes:
        - input: ``(N, 2)``; output: ``(N, 4 * frequencies)``.
    """

    def __init__(
        self, frequencies: int, min_wavelength: float = 1 / 64, max_wavelength: float = 2.0
    ):
        super().__init__()
        wavelengths = torch.logspace(
            math.log10(max_wavelength), math.log10(min_wavelength), frequencies
        )
        self.register_buffer("omega", 2 * math.pi / wavelengths, persistent=False)
        self.out_channels = 4 * frequencies

    def forward(self, pos: Tensor) -> Tensor:
        angles = pos[:, :, None] * self.omega  # (N, 2, F)
        return torch.cat([angles.sin(), angles.cos()], dim=2).flatten(1)


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


class WeightedSAGEConv(MessagePassing):
    """GraphSAGE with a weighted mean of neighbours.

    ``h_i' = W_r h_i + W_n sum_j w_ji h_j``, with ``w`` the edge weights normalised to sum to 1
    per target node (a plain mean when no weights are given).

    Shapes:
        - input: ``(N, in_channels)``, ``(2, E)``, ``(E,)``; output: ``(N, out_channels)``.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(aggr="add")
        self.lin_neighbors = nn.Linear(in_channels, out_channels)
        self.lin_root = nn.Linear(in_channels, out_channels, bias=False)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        if edge_weight is None:
            edge_weight = torch.ones(edge_index.shape[1], dtype=x.dtype, device=x.device)
        totals = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        totals.index_add_(0, edge_index[1], edge_weight)
        norm = edge_weight / totals.clamp_min(1e-12)[edge_index[1]]
        aggregated = self.propagate(edge_index, x=x, weight=norm)
        return self.lin_neighbors(aggregated) + self.lin_root(x)

    def message(self, x_j: Tensor, weight: Tensor) -> Tensor:
        return x_j * weight[:, None]


class GraphNet(nn.Module):
    """Residual stack of graph convolutions with an input and an output projection.

    Args:
        in_channels: node features.
        num_classes: outputs per node (1 for regression).
        conv: ``"gcn"``, ``"sage"`` or ``"gat"``.
        hidden: width of the hidden node states.
        layers: number of graph convolutions (hops of neighbourhood seen).
        dropout: dropout on hidden states.
        heads: attention heads (GAT only; ``hidden`` must be divisible by it).
        pos_frequencies: frequencies of the coordinate encoding (0: none).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        conv: Conv = "sage",
        hidden: int = 64,
        layers: int = 2,
        dropout: float = 0.0,
        heads: int = 4,
        pos_frequencies: int = 0,
    ):
        super().__init__()
        self.conv_kind = conv
        self.encoding = SinusoidalEncoding(pos_frequencies) if pos_frequencies > 0 else None
        extra = self.encoding.out_channels if self.encoding is not None else 0
        self.input = nn.Linear(in_channels + extra, hidden)
        self.convs = nn.ModuleList([self._conv(conv, hidden, heads) for _ in range(layers)])
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes)

    @staticmethod
    def _conv(conv: Conv, hidden: int, heads: int) -> nn.Module:
        match conv:
            case "gcn":
                return GCNConv(hidden, hidden)
            case "sage":
                return WeightedSAGEConv(hidden, hidden)
            case "gat":
                if hidden % heads:
                    raise ValueError(f"hidden={hidden} must be divisible by heads={heads}")
                return GATConv(hidden, hidden // heads, heads=heads, edge_dim=EDGE_DIM)
        raise ValueError(f"unknown convolution {conv!r}")

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_weight: Tensor | None = None,
        edge_attr: Tensor | None = None,
        pos: Tensor | None = None,
    ) -> Tensor:
        if self.encoding is not None:
            if pos is None:
                raise ValueError("this model encodes coordinates: pass pos=(N, 2)")
            x = torch.cat([x, self.encoding(pos)], dim=1)
        h = torch.relu(self.input(x))
        for conv in self.convs:
            if self.conv_kind == "gat":
                update = conv(h, edge_index, edge_attr=edge_attr)
            else:
                update = conv(h, edge_index, edge_weight)
            h = h + self.dropout(torch.relu(update))
        return self.head(h)
