"""Graph neural network layers for point data: GCN, GraphSAGE and GAT on PyTorch Geometric.

One network shape for all three, :class:`GraphNet`:

    h0 = relu(W_in [x || PE(pos)])
    h_l = h_{l-1} + relu(conv_l(h_{l-1}, edges))        for l = 1 .. layers
    out = W_out h_L

where ``conv`` is ``GCNConv`` (Gaussian edge weights), :class:`WeightedSAGEConv` (a weighted
mean of neighbours) or ``GATConv`` (attention that sees the edge offsets), and ``PE`` is the
optional multi-scale sinusoidal encoding of coordinates of positional-encoder GNNs.

Registered as models ``gcn``, ``sage`` and ``gat`` by :mod:`terralearn.models.gnn`. This module
imports PyTorch Geometric, which is slow to import: the builders import it when a model is built.

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
