"""Attention rollout (Abnar & Zuidema 2020): how much each input token flows into each output.

A block's output mixes its input through attention ``A`` and the residual connection, so the
flow through block ``l`` is modelled as ``Â_l = (1 - r) fuse(A_l) + r I`` (``fuse`` reduces the
heads: mean, max or min; rows renormalised to sum to 1; ``r`` the residual share, 0.5 in the
paper). Flows compose by matrix product, last block on the left::

    R = Â_L Â_(L-1) ... Â_1         R[i, j]: share of input token j in output token i

Every ``Â_l`` is row-stochastic, so every row of ``R`` sums to 1. The maps of one query token
``q`` need only row ``q``: ``e_q^T Â_L ... Â_1``, computed left to right as vector-matrix
products (:func:`query_rollout`), ``O(L N^2)`` instead of ``O(L N^3)``.

Pure torch; attentions are ``(B, heads, N, N)`` or ``(heads, N, N)`` tensors as returned by
:meth:`terralearn.models.vit.ViT.forward_with_attention`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from terralearn.errors import ConfigError

HeadFusion = Literal["mean", "max", "min"]


def _check(attentions: Sequence[Tensor], head_fusion: str, residual: float) -> None:
    if not attentions:
        raise ConfigError("attention rollout needs the attention of at least one block")
    if head_fusion not in ("mean", "max", "min"):
        raise ConfigError(f"head fusion must be one of 'mean', 'max', 'min', got {head_fusion!r}")
    if not 0 <= residual <= 1:
        raise ConfigError(f"the residual share must lie in [0, 1], got {residual!r}")
    shapes = {tuple(a.shape[-2:]) for a in attentions}
    if len(shapes) != 1 or next(iter(shapes))[0] != next(iter(shapes))[1]:
        raise ConfigError(f"attention maps must be square and alike, got shapes {sorted(shapes)}")


def fuse_heads(
    attention: Tensor, head_fusion: HeadFusion = "mean", residual: float = 0.5
) -> Tensor:
    """One block's flow matrix ``Â = (1 - r) fuse(A) + r I`` with rows summing to 1.

    Args:
        attention: ``(B, heads, N, N)`` or ``(heads, N, N)`` attention weights.
        head_fusion: how heads are combined.
        residual: share ``r`` of the residual (identity) path.

    Returns:
        ``(B, N, N)`` (or ``(N, N)``) float32 row-stochastic matrices.
    """
    _check([attention], head_fusion, residual)
    a = attention.float()
    match head_fusion:
        case "mean":
            fused = a.mean(dim=-3)
        case "max":
            fused = a.amax(dim=-3)
        case _:
            fused = a.amin(dim=-3)
    # max/min of rows summing to 1 do not sum to 1; renormalise (an all-zero row stays uniform)
    fused = fused / fused.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    eye = torch.eye(fused.shape[-1], dtype=fused.dtype, device=fused.device)
    flow = (1 - residual) * fused + residual * eye
    return flow / flow.sum(dim=-1, keepdim=True)


def attention_rollout(
    attentions: Sequence[Tensor], head_fusion: HeadFusion = "mean", residual: float = 0.5
) -> Tensor:
    """Full rollout matrix ``R = Â_L ... Â_1`` (see the module docstring).

    Args:
        attentions: per block, first block first, ``(B, heads, N, N)`` or ``(heads, N, N)``.
        head_fusion: ``"mean"`` (the paper's default), ``"max"`` or ``"min"`` over heads.
        residual: share of the residual path in each block's flow.

    Returns:
        ``(B, N, N)`` (or ``(N, N)``) float32; row ``i`` is the distribution of output token
        ``i`` over input tokens, so every row sums to 1.

    Raises:
        ConfigError: no blocks, an unknown fusion, a residual outside [0, 1], or unlike shapes.
    """
    _check(attentions, head_fusion, residual)
    result = None
    for attention in attentions:
        flow = fuse_heads(attention, head_fusion, residual)
        result = flow if result is None else flow @ result
    assert result is not None
    return result


def query_rollout(
    attentions: Sequence[Tensor],
    query: int,
    head_fusion: HeadFusion = "mean",
    residual: float = 0.5,
) -> Tensor:
    """Row ``query`` of :func:`attention_rollout`, without forming the full matrix product.

    Returns:
        ``(B, N)`` (or ``(N,)``) float32 summing to 1 along the last axis.
    """
    _check(attentions, head_fusion, residual)
    n = attentions[0].shape[-1]
    if not 0 <= query < n:
        raise ConfigError(f"query token {query} is outside the {n} tokens")
    row = None
    for attention in reversed(attentions):  # e_q^T Â_L, then times Â_(L-1), ...
        flow = fuse_heads(attention, head_fusion, residual)
        row = flow[..., query, :] if row is None else (row.unsqueeze(-2) @ flow).squeeze(-2)
    assert row is not None
    return row
