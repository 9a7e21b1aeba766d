"""Segmentation losses: ignore label, equivalences with torch, Dice, focal, class weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from terralearn.errors import ConfigError
from terralearn.tasks.losses import (
    DiceLoss,
    FocalLoss,
    build_loss,
    class_weights_from_counts,
    cross_entropy,
)

LOSS_NAMES = ["ce", "dice", "focal", "ce+dice"]


def _case(k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, k, 6, 7, generator=g)
    target = torch.randint(0, max(k, 2), (2, 6, 7), generator=g)
    target[0, :2] = 255
    target[1, :, :3] = 255
    return logits, target


def _loss_and_grad(loss_fn, logits, target):
    x = logits.clone().requires_grad_(True)
    loss = loss_fn(x, target)
    loss.backward()
    return loss.detach(), x.grad


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_ignored_pixels_contribute_nothing(name: str, k: int) -> None:
    loss_fn = build_loss(name, num_classes=k, class_weights=[1.0, 2.0, 0.5][: max(k, 2)])
    logits, target = _case(k)
    loss1, grad1 = _loss_and_grad(loss_fn, logits, target)
    changed = logits.clone()
    ignored = (target == 255)[:, None].expand_as(logits)
    changed[ignored] = torch.randn(int(ignored.sum())) * 50
    loss2, grad2 = _loss_and_grad(loss_fn, changed, target)
    assert loss1 > 0
    torch.testing.assert_close(loss1, loss2, rtol=0, atol=0)
    torch.testing.assert_close(grad1, grad2, rtol=0, atol=0)
    assert (grad1[ignored] == 0).all()


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_all_ignored_batch_gives_zero_loss_and_gradient(name: str, k: int) -> None:
    loss_fn = build_loss(name, num_classes=k, class_weights=[1.0, 2.0, 0.5][: max(k, 2)])
    logits = torch.randn(2, k, 4, 4)
    loss, grad = _loss_and_grad(loss_fn, logits, torch.full((2, 4, 4), 255))
    assert loss.item() == 0.0
    assert grad is not None and (grad == 0).all()


def test_cross_entropy_equals_torch() -> None:
    logits, target = _case(4)
    target[target == 255] = 1
    torch.testing.assert_close(cross_entropy(logits, target), F.cross_entropy(logits, target))
    w = torch.tensor([0.5, 1.0, 2.0, 3.0])
    torch.testing.assert_close(
        cross_entropy(logits, target, weight=w), F.cross_entropy(logits, target, weight=w)
    )


def test_cross_entropy_with_ignore_equals_torch() -> None:
    logits, target = _case(3)
    w = torch.tensor([0.5, 1.0, 2.0])
    expected = F.cross_entropy(logits, target, weight=w, ignore_index=255)
    torch.testing.assert_close(cross_entropy(logits, target, 255, w), expected)


def test_binary_cross_entropy_equals_torch() -> None:
    logits, target = _case(1)
    valid = target != 255
    expected = F.binary_cross_entropy_with_logits(logits[:, 0][valid], target[valid].float())
    torch.testing.assert_close(cross_entropy(logits, target), expected)
    # weights (background, foreground) weight each pixel by its class
    w = torch.tensor([1.0, 3.0])
    pixel_w = w[target[valid]]
    per_pixel = F.binary_cross_entropy_with_logits(
        logits[:, 0][valid], target[valid].float(), reduction="none"
    )
    torch.testing.assert_close(
        cross_entropy(logits, target, weight=w), (pixel_w * per_pixel).sum() / pixel_w.sum()
    )


@pytest.mark.parametrize("k", [1, 3])
def test_focal_with_gamma_zero_is_cross_entropy(k: int) -> None:
    logits, target = _case(k)
    w = torch.tensor([0.5, 2.0, 1.0][: max(k, 2)])
    torch.testing.assert_close(
        FocalLoss(gamma=0.0, weight=w)(logits, target), cross_entropy(logits, target, weight=w)
    )


def test_focal_value_on_one_pixel() -> None:
    logits = torch.tensor([2.0, 0.0, -1.0]).view(1, 3, 1, 1)
    target = torch.tensor([[[1]]])
    p = torch.softmax(torch.tensor([2.0, 0.0, -1.0]), 0)[1]
    expected = -((1 - p) ** 2) * torch.log(p)
    torch.testing.assert_close(FocalLoss(gamma=2.0)(logits, target), expected)
    assert FocalLoss(gamma=2.0)(logits, target) < cross_entropy(logits, target)


def test_dice_perfect_prediction_is_near_zero() -> None:
    target = torch.randint(0, 3, (2, 8, 8))
    target[0, 0] = 255
    logits = F.one_hot(target.clamp(max=2), 3).permute(0, 3, 1, 2).float() * 30
    assert DiceLoss()(logits, target).item() == pytest.approx(0.0, abs=1e-6)
    binary = (target == 1).long()
    binary[0, 0] = 255
    assert DiceLoss()((binary.float() * 2 - 1)[:, None] * 30, binary).item() == pytest.approx(
        0.0, abs=1e-6
    )


def test_dice_binary_value() -> None:
    # p = 0.5 everywhere, half of the 16 pixels foreground: dice = (2*4 + 1) / (8 + 8 + 1)
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, :2] = 1
    loss = DiceLoss(smooth=1.0)(torch.zeros(1, 1, 4, 4), target)
    assert loss.item() == pytest.approx(1 - 9 / 17)


def test_ce_plus_dice_is_the_sum() -> None:
    logits, target = _case(3)
    combined = build_loss("ce+dice", 3)(logits, target)
    torch.testing.assert_close(combined, cross_entropy(logits, target) + DiceLoss()(logits, target))


def test_build_loss_errors() -> None:
    with pytest.raises(
        ConfigError, match="unknown loss 'bce'; choose one of ce, dice, focal, ce\\+dice"
    ):
        build_loss("bce", 2)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="class_weights has 3 values but the task has 2 classes"):
        build_loss("ce", 2, class_weights=[1.0, 2.0, 3.0])
    with pytest.raises(
        ConfigError,
        match=r"has 1 values but the task has 2 classes \(binary: background, foreground\)",
    ):
        build_loss("ce", 1, class_weights=[1.0])
    with pytest.raises(ConfigError, match="class_weights must be finite and >= 0"):
        build_loss("focal", 2, class_weights=[1.0, -1.0])


def test_class_weights_from_counts() -> None:
    torch.testing.assert_close(
        class_weights_from_counts([100, 25], power=1.0), torch.tensor([0.4, 1.6])
    )
    torch.testing.assert_close(class_weights_from_counts([100, 25]), torch.tensor([2 / 3, 4 / 3]))
    # an absent class gets weight 0; the others keep mean 1
    torch.testing.assert_close(
        class_weights_from_counts([100, 0, 25], power=1.0), torch.tensor([0.4, 0.0, 1.6])
    )
    assert class_weights_from_counts([5, 7, 9], power=0.0).tolist() == [1.0, 1.0, 1.0]
    assert class_weights_from_counts([3, 1]).dtype == torch.float32


@pytest.mark.parametrize(
    ("counts", "power", "message"),
    [
        ([0, 0], 0.5, "class counts are all 0"),
        ([5, -1], 0.5, "class counts must be a non-empty list of counts >= 0"),
        ([], 0.5, "class counts must be a non-empty list"),
        ([5, 1], -1.0, "class weight power must be >= 0"),
    ],
)
def test_class_weights_errors(counts: list[int], power: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        class_weights_from_counts(counts, power)
