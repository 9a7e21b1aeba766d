"""Training length: steps, epochs and time budgets; early stopping never before --min-steps."""

from __future__ import annotations

import csv
import json
import math
from types import SimpleNamespace

import pytest
import torch

from terralearn.errors import ConfigError
from terralearn.runs.callbacks import RunProgressBar, TrainingBudget
from terralearn.runs.train import DEFAULT_EPOCHS, VAL_STEPS, TrainConfig, train, training_plan
from terralearn.tasks.segmentation import SegmentationTask, schedule_factor


class FakeClock:
    """Seconds that advance by ``tick`` on every reading."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def _trainer(step: int = 0) -> SimpleNamespace:
    strategy = SimpleNamespace(reduce_boolean_decision=lambda value, all=True: value)
    return SimpleNamespace(global_step=step, should_stop=False, strategy=strategy,
                           num_training_batches=4)  # fmt: skip


def test_training_plan_defaults_to_epochs_but_at_least_min_steps() -> None:
    plan = training_plan(TrainConfig(batch_size=16), train_chips=60)
    assert (plan.epochs, plan.at_least_steps, plan.max_seconds) == (DEFAULT_EPOCHS, 1000, None)
    assert plan.val_interval == VAL_STEPS  # 4 steps an epoch: validate every 50 steps
    plan = training_plan(TrainConfig(batch_size=16, max_time=2.0), train_chips=60)
    assert (plan.epochs, plan.at_least_steps, plan.max_seconds) == (None, 0, 120.0)
    plan = training_plan(TrainConfig(batch_size=16, epochs=3), train_chips=6400)
    assert (plan.epochs, plan.at_least_steps, plan.val_interval) == (3, 0, 400)

    assert (
        plan.at_most_steps is None
        and plan.describe() == "training 3 epochs of 400 steps (--epochs)"
    )


def test_default_plan_caps_a_large_store_at_max_steps() -> None:
    # 4,860 chips of 16: 304 steps an epoch, 20 epochs would be 6,080 steps
    plan = training_plan(TrainConfig(batch_size=16), train_chips=4860)
    assert (plan.epochs, plan.at_least_steps, plan.at_most_steps) == (DEFAULT_EPOCHS, 1000, 2000)
    assert plan.describe() == (
        "training 2,000 steps of 304 per epoch (6.6 of 20 epochs: --max-steps; "
        "--epochs N trains N epochs)"
    )
    assert training_plan(TrainConfig(batch_size=16), train_chips=60).describe() == (
        "training 1,000 steps of 4 per epoch (at least --min-steps 1,000)"
    )
    assert training_plan(TrainConfig(batch_size=16), train_chips=1200).describe() == (
        "training 1,500 steps of 75 per epoch (20 epochs)"
    )
    # --min-steps above --max-steps wins: the run is never shorter than --min-steps
    plan = training_plan(TrainConfig(batch_size=16, min_steps=2500), train_chips=4860)
    assert plan.at_most_steps == 2500
    assert training_plan(TrainConfig(batch_size=16, max_time=1.5), train_chips=60).describe() == (
        "training for 1.5 minutes (--max-time)"
    )


def test_epoch_budget_is_capped_at_most_steps() -> None:
    budget = TrainingBudget(epochs=20, at_least_steps=10, at_most_steps=30, clock=FakeClock(0.0))
    budget.on_train_start(_trainer(), None)  # 4 batches an epoch: 80 steps, capped to 30
    assert budget.total_steps == 30 and budget.progress(15) == 0.5
    trainer = _trainer(step=30)
    budget.on_train_batch_end(trainer, None, None, None, 0)
    assert trainer.should_stop and budget.stop_reason == "steps"


def test_max_steps_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"--max-steps 0 must be at least 1"):
        TrainConfig(max_steps=0).validate()


@pytest.mark.parametrize(("max_epochs", "expected"), [(-1, "Epoch 3"), (5, "Epoch 3/4")])
def test_progress_bar_names_no_epoch_total_under_a_step_budget(max_epochs, expected) -> None:
    bar = RunProgressBar()
    bar._trainer = SimpleNamespace(max_epochs=max_epochs)
    assert bar._get_train_description(3).strip() == expected


def test_time_budget_drives_the_cosine_schedule_to_its_end() -> None:
    clock = FakeClock(tick=0.0)
    budget = TrainingBudget(max_seconds=100.0, clock=clock)
    task = SegmentationTask("unet_small", 3, 2, lr=0.01, schedule="cosine")
    task.schedule_progress = budget.progress
    configured = task.configure_optimizers()
    optimizer, scheduler = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    budget.on_train_start(_trainer(), task)
    lrs = []
    for seconds in (25.0, 50.0, 75.0, 100.0):
        clock.now = seconds
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    expected = [0.01 * schedule_factor("cosine", s / 100) for s in (25, 50, 75, 100)]
    assert lrs == pytest.approx(expected)
    assert lrs[1] == pytest.approx(0.005) and lrs[-1] == pytest.approx(0.0, abs=1e-12)
    trainer = _trainer(step=4)
    budget.on_train_batch_end(trainer, task, None, None, 3)
    assert trainer.should_stop and budget.stop_reason == "max_time"
    assert budget.state_dict() == {"elapsed": 100.0}


def test_epoch_budget_counts_steps_and_is_lengthened_to_at_least_steps() -> None:
    budget = TrainingBudget(epochs=20, at_least_steps=150, clock=FakeClock(0.0))
    budget.on_train_start(_trainer(), None)
    assert budget.total_steps == 150 and budget.progress(75) == 0.5
    trainer = _trainer(step=149)
    budget.on_train_batch_end(trainer, None, None, None, 0)
    assert not trainer.should_stop
    trainer.global_step = 150
    budget.on_train_batch_end(trainer, None, None, None, 0)
    assert trainer.should_stop and budget.stop_reason == "steps"


def test_resumed_budget_continues_the_elapsed_time() -> None:
    budget = TrainingBudget(max_seconds=60.0, clock=FakeClock(tick=10.0))
    budget.load_state_dict({"elapsed": 30.0})
    budget.on_train_start(_trainer(), None)  # clock reads 10
    assert budget.progress(0) == pytest.approx((30.0 + 10.0) / 60.0)  # clock reads 20


def test_onecycle_factor_rises_then_anneals() -> None:
    assert schedule_factor("onecycle", 0.0) == pytest.approx(1 / 25)
    assert schedule_factor("onecycle", 0.3) == pytest.approx(1.0)
    assert schedule_factor("onecycle", 1.0) == pytest.approx(1 / 25 / 1e4)
    assert schedule_factor("none", 0.7) == 1.0
    assert schedule_factor("cosine", 0.5) == pytest.approx(0.5)


def _csv_rows(run) -> list[dict[str, str]]:
    with open(run / "logs" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_defaults_train_at_least_min_steps_despite_early_stopping(tmp_path, tiny_store) -> None:
    # default length and validation spacing; patience 1 would stop a tiny store within steps
    out = tmp_path / "run"
    config = TrainConfig(
        store=str(tiny_store), out=str(out), model="unet_small", batch_size=8, patience=1,
        min_steps=120, progress=False,
    )  # fmt: skip
    train(config)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] >= 120
    assert metrics["stop_reason"] in ("steps", "early_stopping")
    checkpoint = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == metrics["steps"]
    val_steps = sorted({int(r["step"]) for r in _csv_rows(out) if r.get("val_miou")})
    # validated every 50 steps (a tiny store's epoch is 4 steps) and once at the end
    assert val_steps[:2] == [VAL_STEPS - 1, 2 * VAL_STEPS - 1]
    assert val_steps[-1] == metrics["steps"] - 1


def test_time_budget_run_ends_the_schedule_at_the_budget(tmp_path, tiny_store) -> None:
    out = tmp_path / "run"
    config = TrainConfig(
        store=str(tiny_store), out=str(out), model="unet_small", batch_size=8, lr=0.01,
        max_time=0.2, patience=None, progress=False,
    )  # fmt: skip
    train(config, clock=FakeClock(tick=0.25))  # 12 "seconds": about 48 clock readings
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stop_reason"] == "max_time" and metrics["steps"] > 4
    lrs = [float(r["lr-AdamW"]) for r in _csv_rows(out) if r.get("lr-AdamW")]
    assert lrs[0] == pytest.approx(0.01, rel=0.01)  # the clock has ticked a little
    assert all(b <= a for a, b in zip(lrs, lrs[1:], strict=False))
    assert lrs[-1] < 0.01 * 0.2 and not math.isnan(lrs[-1])
