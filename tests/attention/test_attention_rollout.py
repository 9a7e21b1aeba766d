"""Attention rollout: row sums, known products, query rows, and a block that finds a unique patch."""

from __future__ import annotations

import pytest
import torch
from attention_helpers import UNIQUE_TOKEN, unique_patch_image, unique_patch_vit

from terralearn.attention import attention_rollout, fuse_heads, query_rollout
from terralearn.errors import ConfigError


def random_attentions(blocks: int, batch: int, heads: int, tokens: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [
        (3 * torch.randn(batch, heads, tokens, tokens, generator=g)).softmax(-1)
        for _ in range(blocks)
    ]


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize(("blocks", "heads", "tokens"), [(1, 1, 4), (3, 2, 9), (12, 3, 16)])
def test_rollout_rows_sum_to_one(fusion: str, blocks: int, heads: int, tokens: int) -> None:
    attentions = random_attentions(blocks, 2, heads, tokens)
    rollout = attention_rollout(attentions, fusion)
    assert rollout.shape == (2, tokens, tokens)
    assert (rollout >= 0).all()
    assert torch.allclose(rollout.sum(-1), torch.ones(2, tokens), atol=1e-5)


def test_one_block_is_half_attention_half_identity() -> None:
    (a,) = random_attentions(1, 1, 2, 5)
    expected = 0.5 * a.mean(1) + 0.5 * torch.eye(5)
    assert torch.allclose(attention_rollout([a]), expected, atol=1e-6)
    assert torch.allclose(attention_rollout([a], residual=0.0), a.mean(1), atol=1e-6)


def test_blocks_compose_last_block_on_the_left() -> None:
    a1, a2 = random_attentions(2, 1, 1, 4, seed=3)
    f1, f2 = fuse_heads(a1), fuse_heads(a2)
    assert torch.allclose(attention_rollout([a1, a2]), f2 @ f1, atol=1e-6)
    assert not torch.allclose(f2 @ f1, f1 @ f2, atol=1e-3)


def test_max_fusion_renormalises_rows() -> None:
    a = torch.tensor([[[0.9, 0.1], [0.5, 0.5]], [[0.2, 0.8], [0.5, 0.5]]])  # 2 heads, 2 tokens
    fused = fuse_heads(a, "max", residual=0.0)
    assert torch.allclose(fused, torch.tensor([[0.9 / 1.7, 0.8 / 1.7], [0.5, 0.5]]))


def test_query_row_equals_the_full_rollout_row() -> None:
    attentions = random_attentions(4, 2, 3, 10, seed=1)
    full = attention_rollout(attentions)
    for q in (0, 7):
        assert torch.allclose(query_rollout(attentions, q), full[:, q], atol=1e-6)
    single = [a[0] for a in attentions]  # (heads, N, N) without a batch axis
    assert torch.allclose(query_rollout(single, 7), full[0, 7], atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"head_fusion": "median"}, "head fusion must be one of 'mean', 'max', 'min'"),
        ({"residual": 1.5}, r"the residual share must lie in \[0, 1\], got 1.5"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        attention_rollout(random_attentions(1, 1, 1, 3), **kwargs)
    with pytest.raises(ConfigError, match="at least one block"):
        attention_rollout([])
    with pytest.raises(ConfigError, match="query token 3 is outside the 3 tokens"):
        query_rollout(random_attentions(1, 1, 1, 3), 3)


def test_a_hand_set_block_attends_to_the_unique_patch() -> None:
    model = unique_patch_vit()
    x = torch.from_numpy(unique_patch_image())[None]
    with torch.no_grad():
        _, attentions, grid = model.forward_with_attention(x)
    assert grid == (8, 8)
    (a,) = attentions
    assert a.shape == (1, 2, 64, 64)
    # from every query token, in both heads, nearly all weight goes to the bright patch
    assert (a.argmax(-1) == UNIQUE_TOKEN).all()
    assert a[..., UNIQUE_TOKEN].min() > 0.999
    rollout = attention_rollout(attentions)[0]
    assert torch.allclose(rollout.sum(-1), torch.ones(64), atol=1e-5)
    # one block: half through attention (to the patch), half through the residual (itself)
    q = 60
    assert rollout[q, UNIQUE_TOKEN].item() == pytest.approx(0.5, abs=1e-3)
    assert rollout[q, q].item() == pytest.approx(0.5, abs=1e-3)
    # without the bright patch the same block spreads its attention evenly
    with torch.no_grad():
        _, (flat,), _ = model.forward_with_attention(torch.zeros(1, 1, 64, 64))
    assert torch.allclose(flat, torch.full_like(flat, 1 / 64))
