"""Learning-rate schedules shared by the Lightning tasks."""

from __future__ import annotations

import torch


def restore_scheduled_lr(trainer) -> None:
    """Set each ``LambdaLR`` group's rate to the current schedule's value at the restored step.

    A resumed run restores the learning rate of the old schedule, whose budget may have changed
    (more epochs, another ``--max-time``); call this from ``on_train_start``.
    """
    for config in trainer.lr_scheduler_configs:
        scheduler = config.scheduler
        if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
            for group, base, factor in zip(
                scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas,
                strict=True,
            ):  # fmt: skip
                group["lr"] = base * factor(scheduler.last_epoch)
