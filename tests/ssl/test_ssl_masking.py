"""Patch masking: exact ratios, patch bookkeeping, and no leak of hidden patches into the encoder."""

from __future__ import annotations

import pytest
import torch

from terralearn.errors import ConfigError
from terralearn.models.vit import ViT
from terralearn.ssl.mae import MaskedAutoencoder, reconstruct
from terralearn.ssl.masking import mask_pixels, patchify, random_masking, unpatchify


@pytest.mark.parametrize(
    ("patches", "ratio", "hidden"),
    [(16, 0.75, 12), (64, 0.75, 48), (16, 0.5, 8), (10, 0.75, 8), (4, 0.9, 3), (16, 0.0, 0)],
)
def test_masking_hides_the_requested_share_in_every_sample(patches, ratio, hidden):
    m = random_masking(5, patches, ratio, generator=torch.Generator().manual_seed(1))
    assert m.mask.shape == (5, patches)
    assert m.mask.sum(dim=1).tolist() == [hidden] * 5
    assert m.keep.shape == (5, patches - hidden)
    # the kept indices are exactly the unmasked patches, ascending
    for row in range(5):
        assert m.keep[row].tolist() == (~m.mask[row]).nonzero()[:, 0].tolist()


def test_restore_puts_visible_then_hidden_tokens_back_in_patch_order():
    m = random_masking(3, 16, 0.75, generator=torch.Generator().manual_seed(0))
    hidden = m.mask.nonzero()[:, 1].reshape(3, -1)
    arranged = torch.cat([m.keep, hidden], dim=1)
    assert torch.equal(torch.gather(arranged, 1, m.restore), torch.arange(16).expand(3, 16))


def test_masks_differ_between_samples_and_are_reproducible():
    a = random_masking(8, 64, 0.75, generator=torch.Generator().manual_seed(3))
    b = random_masking(8, 64, 0.75, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.mask, b.mask)
    assert len({tuple(row.tolist()) for row in a.mask}) == 8


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5, True])
def test_bad_ratio_is_a_one_line_config_error(ratio):
    with pytest.raises(ConfigError, match=r"--mask-ratio .* must be a number in \[0, 1\)"):
        random_masking(1, 16, ratio)


def test_patchify_round_trip_and_order():
    x = torch.arange(2 * 3 * 8 * 12, dtype=torch.float32).reshape(2, 3, 8, 12)
    patches = patchify(x, 4)
    assert patches.shape == (2, 6, 3, 16)
    # patch 4 is row 1, column 1 of the 2 x 3 grid: pixels [4:8, 4:8] of each band
    assert torch.equal(patches[1, 4, 2], x[1, 2, 4:8, 4:8].flatten())
    assert torch.equal(unpatchify(patches, (2, 3), 4), x)


def test_mask_pixels_zeroes_exactly_the_hidden_patches():
    x = torch.ones(1, 2, 8, 8)
    mask = torch.tensor([[True, False, False, True]])
    out = mask_pixels(x, mask, 4, (2, 2))
    assert out[0, :, :4, :4].sum() == 0 and out[0, :, 4:, 4:].sum() == 0
    assert out[0, :, :4, 4:].eq(1).all() and out[0, :, 4:, :4].eq(1).all()


def _mae(stem: str) -> MaskedAutoencoder:
    torch.manual_seed(0)
    vit = ViT(3, 1, patch_size=4, embed_dim=32, depth=2, num_heads=2, img_size=16, levels=2,
              stem=stem, stem_width=8, drop_path=0.0)  # fmt: skip
    return MaskedAutoencoder(vit.encoder, 3, 0.75, decoder_width=32, decoder_depth=1,
                             decoder_heads=2).eval()  # fmt: skip


@pytest.mark.parametrize("stem", ["patch", "conv"])
def test_hidden_patches_never_reach_the_encoder(stem):
    mae = _mae(stem)
    x = torch.randn(2, 3, 16, 16)
    m = random_masking(2, 16, 0.75, generator=torch.Generator().manual_seed(5))
    seen = []
    hook = mae.encoder.blocks[0].register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    with torch.no_grad():
        latent = mae.encode(x, m, (4, 4))
        # change every hidden pixel wildly: the visible latents must not move at all
        noisy = x + 100 * torch.randn_like(x) * (
            1 - mask_pixels(torch.ones_like(x), m.mask, 4, (4, 4))
        )
        latent_noisy = mae.encode(noisy, m, (4, 4))
    hook.remove()
    assert seen[0].shape == (2, 4, 32)  # only the 4 visible tokens enter the blocks
    assert latent.shape == (2, 4, 32)
    assert torch.equal(latent, latent_noisy)
    # while a change of a visible pixel does move them
    visible_pixel = x.clone()
    row, col = divmod(int(m.keep[0, 0]), 4)
    visible_pixel[0, :, row * 4, col * 4] += 5
    with torch.no_grad():
        assert not torch.allclose(mae.encode(visible_pixel, m, (4, 4))[0], latent[0])


def test_loss_counts_only_hidden_patches_and_trains():
    mae = _mae("patch").train()
    x = torch.randn(2, 3, 16, 16)
    m = random_masking(2, 16, 0.75, generator=torch.Generator().manual_seed(2))
    out = mae(x, mask=m)
    per_patch = (out.pred - out.target).pow(2).mean(dim=(-2, -1))
    assert torch.isclose(out.loss, per_patch[m.mask].mean())
    out.loss.backward()
    assert mae.encoder.stem.proj.weight.grad.abs().sum() > 0
    # targets are standardised per patch and band
    assert torch.allclose(out.target.mean(-1), torch.zeros(2, 16, 3), atol=1e-5)
    # reconstruction keeps visible patches exactly and has the input's shape
    recon = reconstruct(out, x, 4)
    visible = mask_pixels(torch.ones_like(x), m.mask, 4, (4, 4))
    assert recon.shape == x.shape and visible.sum() == 2 * 3 * 4 * 16
    assert torch.allclose(recon * visible, x * visible, atol=1e-5)
    assert not torch.allclose(recon * (1 - visible), x * (1 - visible), atol=1e-2)
