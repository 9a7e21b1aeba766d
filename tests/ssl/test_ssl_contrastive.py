"""Contrastive pretraining: NT-Xent values, multispectral views, and encoders of both families."""

from __future__ import annotations

import math

import pytest
import torch

from terralearn.data import augment
from terralearn.models import create_model
from terralearn.ssl.augment import MultispectralViews
from terralearn.ssl.contrastive import ContrastiveModel, nt_xent


def test_nt_xent_of_orthogonal_pairs_has_the_closed_form_value():
    # 2 pairs of identical unit vectors, the pairs orthogonal: s = 1 for the positive, 0 else
    z = torch.eye(2)
    t = 0.5
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * math.exp(0)))
    assert nt_xent(z, z.clone(), t).item() == pytest.approx(expected, rel=1e-6)


def test_nt_xent_prefers_matching_views():
    torch.manual_seed(0)
    z = torch.randn(8, 16)
    assert nt_xent(z, z + 0.01 * torch.randn(8, 16), 0.2) < nt_xent(z, torch.randn(8, 16), 0.2)


def test_views_keep_shape_and_differ_and_are_reproducible():
    x = torch.randn(4, 6, 32, 32)
    a = MultispectralViews(generator=torch.Generator().manual_seed(1))(x)
    b = MultispectralViews(generator=torch.Generator().manual_seed(1))(x)
    c = MultispectralViews(generator=torch.Generator().manual_seed(2))(x)
    assert a.shape == x.shape and torch.equal(a, b) and not torch.allclose(a, c)


def test_band_dropout_zeroes_whole_bands_and_keeps_one():
    views = MultispectralViews(brightness=0, contrast=0, noise=0, band_dropout=0.999,
                               generator=torch.Generator().manual_seed(0))  # fmt: skip
    out = views.jitter(torch.ones(16, 4, 8, 8))
    alive = out.abs().sum(dim=(-2, -1)) > 0
    assert alive.sum(dim=1).tolist() == [1] * 16  # exactly the forced survivor
    assert torch.equal(out[alive], torch.ones(16, 8, 8))


def test_a_full_centred_crop_is_the_identity(monkeypatch):
    views = MultispectralViews(crop_scale=(1.0, 1.0))
    x = torch.randn(2, 3, 16, 16)
    # draws of 0.5 give aspect ratio 1 and a centred crop: the whole chip
    monkeypatch.setattr(augment, "_uniform", lambda generator, *shape: torch.full(shape, 0.5))
    assert torch.allclose(views.crop(x), x, atol=1e-5)


@pytest.mark.parametrize(("name", "kwargs", "multiple"), [
    ("unet_small", {}, 8), ("vit_tiny", {"img_size": 32}, 8),
])  # fmt: skip
def test_contrastive_model_trains_the_encoder(name, kwargs, multiple):
    torch.manual_seed(0)
    encoder = create_model(name, 4, 1, **kwargs).encoder
    model = ContrastiveModel(encoder, multiple, projection_dim=16)
    x = torch.randn(4, 4, 32, 32)
    views = MultispectralViews(generator=torch.Generator().manual_seed(0))
    loss = model(views(x), views(x))
    assert loss.ndim == 0 and loss.item() > 0
    loss.backward()
    grads = [p.grad for p in encoder.parameters() if p.grad is not None]
    assert grads and sum(g.abs().sum() for g in grads) > 0
