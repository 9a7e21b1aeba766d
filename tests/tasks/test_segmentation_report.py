"""segmentation_report against hand values and torchmetrics."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassCohenKappa,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassJaccardIndex,
    MulticlassPrecision,
    MulticlassRecall,
)

from terralearn.errors import ConfigError
from terralearn.tasks.metrics import segmentation_report


def test_hand_computed_two_classes() -> None:
    # rows = true, columns = predicted
    report = segmentation_report(torch.tensor([[6, 2], [1, 3]]), ["land", "water"])
    assert report["num_pixels"] == 12
    assert report["overall_accuracy"] == pytest.approx(9 / 12)
    water = report["per_class"]["water"]
    assert water["iou"] == pytest.approx(3 / 6)
    assert water["precision"] == pytest.approx(3 / 5)
    assert water["recall"] == pytest.approx(3 / 4)
    assert water["f1"] == pytest.approx(6 / 9)
    assert (water["support"], water["predicted"]) == (4, 5)
    assert report["per_class"]["land"]["iou"] == pytest.approx(6 / 9)
    assert report["mean_iou"] == pytest.approx((6 / 9 + 3 / 6) / 2)
    p_e = (8 * 7 + 4 * 5) / 144
    assert report["kappa"] == pytest.approx((9 / 12 - p_e) / (1 - p_e))


def test_matches_torchmetrics_with_ignore() -> None:
    g = torch.Generator().manual_seed(0)
    k = 4
    target = torch.randint(0, k, (3, 20, 20), generator=g)
    preds = torch.where(
        torch.rand(3, 20, 20, generator=g) < 0.6,
        target,
        torch.randint(0, k, (3, 20, 20), generator=g),
    )
    target[:, :3] = 255
    kw = {"num_classes": k, "ignore_index": 255}
    confmat = MulticlassConfusionMatrix(**kw)(preds, target)
    report = segmentation_report(confmat)

    def tm(metric, **extra):
        return metric(**kw, **extra)(preds, target)

    assert report["kappa"] == pytest.approx(tm(MulticlassCohenKappa).item(), abs=1e-6)
    assert report["mean_iou"] == pytest.approx(tm(MulticlassJaccardIndex).item(), abs=1e-6)
    assert report["overall_accuracy"] == pytest.approx(
        tm(MulticlassAccuracy, average="micro").item(), abs=1e-6
    )
    for key, metric in [
        ("iou", MulticlassJaccardIndex),
        ("f1", MulticlassF1Score),
        ("precision", MulticlassPrecision),
        ("recall", MulticlassRecall),
    ]:
        expected = tm(metric, average="none").tolist()
        got = [report["per_class"][f"class_{i}"][key] for i in range(k)]
        assert got == pytest.approx(expected, abs=1e-6), key
    assert report["num_pixels"] == int((target != 255).sum())


def test_absent_class_is_none_and_left_out_of_means() -> None:
    confmat = torch.tensor([[5, 1, 0], [2, 4, 0], [0, 0, 0]])
    report = segmentation_report(confmat, ["a", "b", "c"])
    c = report["per_class"]["c"]
    assert c["iou"] is None and c["precision"] is None and c["recall"] is None
    assert report["mean_iou"] == pytest.approx((5 / 8 + 4 / 7) / 2)
    empty = segmentation_report(torch.zeros(2, 2))
    assert empty["overall_accuracy"] is None and empty["kappa"] is None
    assert empty["mean_iou"] is None and empty["num_pixels"] == 0
    # one class only, all correct: kappa is undefined
    assert segmentation_report(torch.tensor([[4, 0], [0, 0]]))["kappa"] is None


def test_errors() -> None:
    with pytest.raises(ConfigError, match=r"must be square \(K, K\), got \(2, 3\)"):
        segmentation_report(torch.zeros(2, 3))
    with pytest.raises(ConfigError, match=r"class_names has 3 names \(3 unique\) for 2 classes"):
        segmentation_report(torch.zeros(2, 2), ["a", "b", "c"])
    with pytest.raises(ConfigError, match=r"class_names has 2 names \(1 unique\)"):
        segmentation_report(torch.zeros(2, 2), ["a", "a"])
