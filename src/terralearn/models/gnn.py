"""Graph neural networks (family ``"graph"``): GCN, GraphSAGE and GAT for point data.

The layers live in :mod:`terralearn.models.gnn_layers`; they import PyTorch Geometric, which is
slow to import, so the builders import it only when a model is built.

Example:
    >>> from terralearn.models import create_model
    >>> model = create_model("sage", in_channels=5, num_classes=1, hidden=32)
"""

from __future__ import annotations

from torch import nn

from terralearn.errors import ConfigError
from terralearn.models.registry import register_model


def _build(conv: str, in_channels: int, num_classes: int, **options) -> nn.Module:
    # deferred: PyTorch Geometric takes seconds to import; only GNN builds need it
    from terralearn.models.gnn_layers import GraphNet

    for name in ("hidden", "layers", "heads"):
        if options.get(name, 1) < 1:
            raise ConfigError(f"model {conv!r}: {name} must be >= 1, got {options[name]}")
    if options.get("pos_frequencies", 0) < 0:
        raise ConfigError(f"model {conv!r}: pos_frequencies must be >= 0")
    if not 0 <= options.get("dropout", 0.0) < 1:
        raise ConfigError(f"model {conv!r}: dropout must be in [0, 1), got {options['dropout']}")
    if conv == "gat" and options["hidden"] % options["heads"]:
        raise ConfigError(
            f"model 'gat': hidden={options['hidden']} must be divisible by heads={options['heads']}"
        )
    return GraphNet(in_channels, num_classes, conv=conv, **options)


@register_model(family="graph")
def gcn(
    in_channels: int,
    num_classes: int,
    hidden: int = 64,
    layers: int = 2,
    dropout: float = 0.0,
    pos_frequencies: int = 0,
) -> nn.Module:
    """GCN (Kipf & Welling 2017) with Gaussian edge weights and residual layers."""
    return _build("gcn", in_channels, num_classes, hidden=hidden, layers=layers,
                  dropout=dropout, pos_frequencies=pos_frequencies)  # fmt: skip


@register_model(family="graph")
def sage(
    in_channels: int,
    num_classes: int,
    hidden: int = 64,
    layers: int = 2,
    dropout: float = 0.0,
    pos_frequencies: int = 0,
) -> nn.Module:
    """GraphSAGE (Hamilton et al. 2017) with a distance-weighted neighbour mean."""
    return _build("sage", in_channels, num_classes, hidden=hidden, layers=layers,
                  dropout=dropout, pos_frequencies=pos_frequencies)  # fmt: skip


@register_model(family="graph")
def gat(
    in_channels: int,
    num_classes: int,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    dropout: float = 0.0,
    pos_frequencies: int = 0,
) -> nn.Module:
    """GAT (Velickovic et al. 2018) whose attention sees each edge's length and direction."""
    return _build("gat", in_channels, num_classes, hidden=hidden, layers=layers, heads=heads,
                  dropout=dropout, pos_frequencies=pos_frequencies)  # fmt: skip
