"""D4 transforms, random per-sample D4 and band normalisation."""

from __future__ import annotations

import itertools

import pytest
import torch

from terralearn.data.augment import (
    Normalize,
    RandomD4,
    StrongAugment,
    build_augment,
    d4_inverse,
    d4_transform,
    normalize_bands,
)
from terralearn.errors import ConfigError, IncompatibleError


def test_d4_has_eight_distinct_elements() -> None:
    image = torch.arange(2 * 4 * 4).view(2, 4, 4)
    outs = [d4_transform(image, None, k)[0] for k in range(8)]
    for a, b in itertools.combinations(range(8), 2):
        assert not torch.equal(outs[a], outs[b]), (a, b)
    assert torch.equal(outs[0], image)
    assert torch.equal(outs[1], torch.rot90(image, 1, (-2, -1)))
    assert torch.equal(outs[4], image.flip(-1))


@pytest.mark.parametrize("k", range(8))
@pytest.mark.parametrize("shape", [(3, 5, 7), (2, 3, 6, 4), (5, 5)])
def test_inverse_round_trips(k: int, shape: tuple[int, ...]) -> None:
    x = torch.randn(shape)
    y, _ = d4_transform(x, None, k)
    if k % 2:  # odd quarter turns swap H and W
        assert y.shape[-2:] == (shape[-1], shape[-2])
    assert torch.equal(d4_inverse(y, k), x)


@pytest.mark.parametrize("k", range(8))
def test_mask_follows_image(k: int) -> None:
    mask = torch.randint(0, 5, (2, 6, 9))
    image = torch.stack([mask.float(), -mask.float()], dim=1)
    img_k, mask_k = d4_transform(image, mask, k)
    assert mask_k is not None
    assert torch.equal(img_k[:, 0], mask_k.float())
    assert torch.equal(img_k[:, 1], -mask_k.float())


def test_k_out_of_range() -> None:
    with pytest.raises(ValueError, match="D4 element k must be in 0..7, got 8"):
        d4_transform(torch.zeros(2, 2), None, 8)
    with pytest.raises(ValueError, match="got -1"):
        d4_inverse(torch.zeros(2, 2), -1)


def _batch(n: int, h: int, w: int) -> dict:
    mask = torch.arange(h * w).view(1, h, w).repeat(n, 1, 1)
    image = torch.stack([mask.float(), mask.float() * 2], dim=1)
    return {"image": image, "mask": mask, "crs": "EPSG:32633"}


def test_random_d4_draws_per_sample_and_keeps_pairs() -> None:
    batch = _batch(64, 4, 4)
    out = RandomD4(seed=1)(batch)
    assert out["crs"] == "EPSG:32633"
    assert torch.equal(out["image"][:, 0], out["mask"].float())
    assert torch.equal(out["image"][:, 1], 2 * out["mask"].float())
    candidates = [d4_transform(batch["mask"][0], None, k)[0] for k in range(8)]
    seen = set()
    for m in out["mask"]:
        matches = [k for k, c in enumerate(candidates) if torch.equal(m, c)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(8))  # 64 draws hit all 8 elements (p of missing one < 1e-3)
    # the input is left untouched
    assert torch.equal(batch["mask"][0], candidates[0])


def test_random_d4_is_reproducible_with_a_seed() -> None:
    batch = _batch(16, 4, 4)
    a, b = RandomD4(seed=7)(batch), RandomD4(seed=7)(batch)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    gen = torch.Generator().manual_seed(7)
    assert torch.equal(RandomD4(generator=gen)(batch)["mask"], a["mask"])


def test_random_d4_non_square_keeps_shape() -> None:
    batch = _batch(32, 3, 5)
    out = RandomD4(seed=0)(batch)
    assert out["image"].shape == (32, 2, 3, 5) and out["mask"].shape == (32, 3, 5)
    allowed = [d4_transform(batch["mask"][0], None, k)[0] for k in (0, 2, 4, 6)]
    assert all(any(torch.equal(m, a) for a in allowed) for m in out["mask"])


def test_random_d4_single_sample_and_no_mask() -> None:
    sample = {"image": torch.arange(9.0).view(1, 3, 3), "mask": torch.arange(9).view(3, 3)}
    out = RandomD4(seed=3)(sample)
    assert out["image"].shape == (1, 3, 3) and torch.equal(out["image"][0], out["mask"].float())
    out = RandomD4(seed=3)({"image": torch.zeros(2, 1, 3, 3)})
    assert "mask" not in out and out["image"].shape == (2, 1, 3, 3)


def test_normalize_any_dtype_returns_float32() -> None:
    norm = Normalize(mean=[100.0, 200.0], std=[10.0, 50.0])
    image = torch.tensor([[[110, 90]], [[300, 200]]], dtype=torch.uint16)  # (2, 1, 2)
    out = norm(image)
    assert out.dtype == torch.float32
    assert out.tolist() == [[[1.0, -1.0]], [[2.0, 0.0]]]
    batch = norm(image[None].repeat(3, 1, 1, 1).to(torch.int32))
    assert batch.shape == (3, 2, 1, 2) and torch.equal(batch[2], out)


def test_normalize_bands_reads_raw_pixels_into_a_new_tensor_of_the_requested_layout() -> None:
    # a strided uint16 view (as prediction passes a tile of a block) into channels-last float32
    mean = torch.tensor([1500.0, 900.0, 2100.0]).view(1, 3, 1, 1)
    std = torch.tensor([700.0, 350.0, 800.0]).view(1, 3, 1, 1)
    block = torch.randint(0, 4000, (3, 10, 30), generator=torch.Generator().manual_seed(0))
    block = block.to(torch.uint16)
    view = block[:, 1:9, 5:25][None]
    valid = torch.ones(1, 8, 20, dtype=torch.bool)
    valid[0, 2:4, 3:9] = False
    before = block.clone()
    out = normalize_bands(view, mean, std, valid, memory_format=torch.channels_last)
    assert out.dtype == torch.float32 and out.shape == (1, 3, 8, 20)
    assert out.is_contiguous(memory_format=torch.channels_last)
    expected = (view.to(torch.float32) - mean) / std  # the same float32 operations, bit for bit
    expected[:, :, 2:4, 3:9] = 0.0
    assert torch.equal(out, expected)
    assert torch.equal(block, before)  # the raw pixels are read, never written
    # None keeps the input's layout; NaN and inf in a float image become 0 (the band mean)
    image = view.to(torch.float32).contiguous()
    image[0, 1, 0, 0], image[0, 2, 7, 19] = float("nan"), float("inf")
    out = normalize_bands(image, mean, std)
    assert out.is_contiguous() and out[0, :, 0, 0].tolist()[1] == 0.0 and out[0, 2, 7, 19] == 0
    assert torch.equal(out[0, 0], ((image[0, 0] - 1500.0) / 700.0))


def test_normalize_errors() -> None:
    with pytest.raises(ConfigError, match="got 2 means and 3 stds"):
        Normalize([0.0, 0.0], [1.0, 1.0, 1.0])
    with pytest.raises(
        ConfigError, match=r"band std values must be finite and > 0, got \[1.0, 0.0\]"
    ):
        Normalize([0.0, 0.0], [1.0, 0.0])
    with pytest.raises(
        IncompatibleError,
        match=r"band statistics are for 2 bands but the image has shape \(3, 4, 4\)",
    ):
        Normalize([0.0, 0.0], [1.0, 1.0])(torch.zeros(3, 4, 4))


def _blocky_batch(n: int = 16, size: int = 32) -> dict[str, torch.Tensor]:
    """Masks of 8 px blocks with 4 classes and an ignored block; band 0 carries the mask."""
    g = torch.Generator().manual_seed(0)
    blocks = torch.randint(0, 4, (n, size // 8, size // 8), generator=g)
    blocks[:, 0, 0] = 255
    mask = blocks.repeat_interleave(8, 1).repeat_interleave(8, 2)
    image = torch.stack([mask.float(), torch.randn(n, size, size, generator=g)], dim=1)
    return {"image": image, "mask": mask}


def test_strong_augment_crops_image_and_mask_alike() -> None:
    batch = _blocky_batch()
    augment = StrongAugment(crop_scale=(0.3, 0.3), crop_p=1.0, brightness=0, contrast=0, noise=0,
                            seed=0)  # fmt: skip
    out = augment(batch)
    image, mask = out["image"][:, 0], out["mask"]
    assert mask.dtype == torch.long and mask.shape == batch["mask"].shape
    assert set(mask.unique().tolist()) <= {0, 1, 2, 3, 255}
    # inside the blocks bilinear resampling returns the block's value exactly: mask agrees there
    inside = image == image.round()
    assert inside.float().mean() > 0.6
    assert torch.equal(mask[inside], image[inside].long())
    # every chip was cropped: its blocks grew from 8 px to about 8 / sqrt(0.3) = 14.6 px
    runs = (mask[:, :, 1:] != mask[:, :, :-1]).sum() / mask.shape[0]
    original = (batch["mask"][:, :, 1:] != batch["mask"][:, :, :-1]).sum() / mask.shape[0]
    assert runs < 0.75 * original


def test_strong_augment_jitters_each_band_affinely() -> None:
    batch = _blocky_batch()
    augment = StrongAugment(crop_p=0.0, brightness=0.5, contrast=0.5, noise=0.0, seed=1)
    out = augment(batch)
    # no crop: the mask is a D4 image of the input, and band 0 = gain * mask + offset per sample
    for i in range(batch["mask"].shape[0]):
        k = next(k for k in range(8) if torch.equal(d4_transform(batch["mask"][i], None, k)[0],
                                                   out["mask"][i]))  # fmt: skip
        # fit in float64: a float32 fit of values up to 255 can miss 1e-3, and its rounding error
        # (MKL lstsq) varies with process state, so the result depended on which tests ran before
        x = d4_transform(batch["image"][i, 0], None, k)[0].flatten().double()
        y = out["image"][i, 0].flatten().double()
        design = torch.stack([x, torch.ones_like(x)], dim=1)
        (gain, offset) = torch.linalg.lstsq(design, y[:, None]).solution[:, 0].tolist()
        assert 0.5 <= gain <= 1.5 and abs(offset) <= 0.5
        fitted = design @ torch.tensor([gain, offset], dtype=torch.float64)
        torch.testing.assert_close(fitted, y, atol=1e-3, rtol=0)


def test_build_augment_rejects_unknown_names() -> None:
    assert isinstance(build_augment("d4"), RandomD4)
    assert build_augment("none") is None
    with pytest.raises(ConfigError, match="unknown augmentation 'mixup'; choose one of"):
        build_augment("mixup")
