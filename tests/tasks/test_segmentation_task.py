"""SegmentationTask: overfitting a tiny set, checkpoints, normalisation, errors."""

from __future__ import annotations

from pathlib import Path

import lightning
import pytest
import torch
from torch.utils.data import DataLoader

from terralearn.errors import ConfigError
from terralearn.tasks.segmentation import SegmentationTask

MEAN, STD = [1500.0, 1500.0, 1000.0], [600.0, 600.0, 100.0]


def _chips(num_classes: int, n: int = 8, size: int = 32) -> list[dict[str, torch.Tensor]]:
    """Raw-valued chips: class c is a bright 10x10 square in band c - 1; two rows unlabelled."""
    g = torch.Generator().manual_seed(0)
    image = torch.randint(900, 1100, (n, 3, size, size), generator=g).float()
    mask = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        for cls in range(1, max(num_classes, 2)):
            y, x = torch.randint(0, size - 10, (2,), generator=g).tolist()
            image[i, cls - 1, y : y + 10, x : x + 10] += 2000
            mask[i, y : y + 10, x : x + 10] = cls
    mask[:, :2] = 255
    return [{"image": image[i], "mask": mask[i]} for i in range(n)]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models train faster on one thread, and much faster on a shared, busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _trainer(epochs: int) -> lightning.Trainer:
    return lightning.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
    )


@pytest.mark.parametrize(
    ("num_classes", "loss", "schedule"), [(3, "ce", "onecycle"), (1, "ce+dice", "cosine")]
)
def test_overfits_tiny_set_and_checkpoint_round_trips(
    tmp_path: Path, num_classes: int, loss: str, schedule: str
) -> None:
    lightning.seed_everything(0, verbose=False)
    loader = DataLoader(_chips(num_classes), batch_size=8)
    task = SegmentationTask(
        "unet_small", 3, num_classes, loss=loss, lr=1e-2, schedule=schedule,
        band_mean=MEAN, band_std=STD, model_kwargs={"norm": "batch"},
    )  # fmt: skip
    trainer = _trainer(30)
    trainer.fit(task, loader)
    metrics = trainer.validate(task, loader, verbose=False)[0]
    assert set(metrics) == {"val_loss", "val_miou", "val_acc"}
    assert metrics["val_miou"] > 0.9

    path = tmp_path / "task.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["hyper_parameters"]["band_mean"] == MEAN
    assert checkpoint["hyper_parameters"]["num_classes"] == num_classes
    assert "band_std" in checkpoint["state_dict"]
    restored = SegmentationTask.load_from_checkpoint(path, weights_only=True)
    task.eval()
    restored.eval()
    images = torch.stack([c["image"] for c in _chips(num_classes)])
    with torch.no_grad():
        torch.testing.assert_close(restored(images), task(images), rtol=0, atol=0)

    test_metrics = _trainer(1).test(restored, loader, verbose=False)[0]
    assert set(test_metrics) == {"test_loss", "test_miou", "test_acc"}
    assert test_metrics["test_miou"] == pytest.approx(metrics["val_miou"])


def test_forward_normalises_raw_images_inside() -> None:
    task = SegmentationTask("unet_small", 3, 4, band_mean=MEAN, band_std=STD).eval()
    raw = torch.randint(0, 3000, (2, 3, 16, 16), dtype=torch.uint16)
    normalised = (raw.float() - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(
        1, 3, 1, 1
    )
    with torch.no_grad():
        torch.testing.assert_close(task(raw), task.model(normalised))
        proba = task.predict_proba(raw.float())
    assert proba.shape == (2, 4, 16, 16)
    torch.testing.assert_close(proba.sum(1), torch.ones(2, 16, 16))


def test_binary_predict_proba_is_sigmoid() -> None:
    task = SegmentationTask("unet_small", 2, 1, augment=False).eval()
    image = torch.randn(1, 2, 9, 11)
    with torch.no_grad():
        proba = task.predict_proba(image)
        torch.testing.assert_close(proba, task(image).sigmoid())
    assert proba.shape == (1, 1, 9, 11)
    assert task.predict_labels(torch.tensor([-1.0, 2.0]).view(1, 1, 1, 2)).tolist() == [[[0, 1]]]


def test_configure_optimizers_without_schedule() -> None:
    task = SegmentationTask("unet_small", 3, 2, lr=0.05, weight_decay=0.0, schedule="none")
    optimizer = task.configure_optimizers()
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.param_groups[0]["lr"] == 0.05


@pytest.mark.parametrize("schedule", ["none", "cosine", "onecycle"])
def test_encoder_learning_rate_scale_makes_two_groups(schedule: str) -> None:
    task = SegmentationTask("unet_small", 3, 2, lr=0.01, schedule=schedule, encoder_lr_scale=0.1)
    trainer = lightning.Trainer(max_steps=10, logger=False, enable_checkpointing=False)
    task.trainer = trainer  # the schedules read the number of steps from the trainer
    task.trainer.fit_loop.epoch_loop.max_steps = 10
    configured = task.configure_optimizers()
    optimizer = configured if schedule == "none" else configured["optimizer"]
    encoder, rest = optimizer.param_groups
    assert {id(p) for p in encoder["params"]} == {id(p) for p in task.model.encoder.parameters()}
    assert len(encoder["params"]) + len(rest["params"]) == len(list(task.parameters()))
    factor = 1 / 25 if schedule == "onecycle" else 1.0  # OneCycle starts below its peak
    assert (encoder["lr"], rest["lr"]) == pytest.approx((0.001 * factor, 0.01 * factor))


def test_augment_names_pick_the_augmenter() -> None:
    from terralearn.data.augment import RandomD4, StrongAugment

    assert isinstance(SegmentationTask("unet_small", 3, 2).augmenter, RandomD4)
    assert isinstance(SegmentationTask("unet_small", 3, 2, augment=True).augmenter, RandomD4)
    assert isinstance(
        SegmentationTask("unet_small", 3, 2, augment="strong").augmenter, StrongAugment
    )
    assert SegmentationTask("unet_small", 3, 2, augment=False).augmenter is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"augment": "heavy"},
            "unknown augmentation 'heavy'; choose one of 'none', 'd4', 'strong'",
        ),
        ({"encoder_lr_scale": 0.0}, "encoder_lr_scale 0.0 must be positive"),
        (
            {"schedule": "step"},
            "unknown schedule 'step'; choose one of 'cosine', 'onecycle', 'none'",
        ),
        ({"band_mean": [0.0, 0.0]}, "give both band_mean and band_std, or neither"),
        (
            {"band_mean": [0.0, 0.0], "band_std": [1.0, 1.0]},
            "band_mean/band_std have 2 values but in_channels is 3",
        ),
        ({"class_names": ["a", "b", "c"]}, "class_names has 3 names but the task has 2 classes"),
        ({"model": "resnet"}, "unknown model 'resnet'"),
        ({"model_kwargs": {"depht": 2}}, "model 'unet_small' has no option 'depht'"),
        ({"loss": "l1"}, "unknown loss 'l1'"),
        ({"class_weights": [1.0]}, "class_weights has 1 values but the task has 2 classes"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"model": "unet_small", "in_channels": 3, "num_classes": 2, **kwargs}
    with pytest.raises(ConfigError, match=message):
        SegmentationTask(**args)
