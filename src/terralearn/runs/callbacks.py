"""Lightning callbacks of terralearn runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, RichProgressBar


class TrainThroughput(L.Callback):
    """Chips per second of each training epoch (data loading + steps, validation excluded)."""

    def __init__(self) -> None:
        self.rates: list[float] = []
        self._start = 0.0
        self._chips = 0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start, self._chips = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._chips += int(batch["image"].shape[0])

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        elapsed = time.perf_counter() - self._start
        if self._chips and elapsed > 0:
            self.rates.append(self._chips / elapsed)

    def median(self) -> float | None:
        """Median over epochs, leaving out the first (warm-up) when there are several."""
        rates = self.rates[1:] if len(self.rates) > 1 else self.rates
        return statistics.median(rates) if rates else None

    def state_dict(self) -> dict:
        return {"rates": list(self.rates)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.rates = list(state_dict.get("rates", []))


class TrainingBudget(L.Callback):
    """The length of a training run in optimiser steps and in time; stops the run at its end.

    :meth:`progress` (0 .. 1) drives the learning-rate schedule: the larger of the share of
    ``total_steps`` done and the share of ``max_seconds`` spent, so with a time budget the
    schedule reaches its end value when the time runs out, and with both budgets at whichever
    comes first. At the end of a training batch that reaches either budget the run stops
    through ``trainer.should_stop`` (Lightning then validates once more, so the last steps are
    scored and checkpointed).

    Args:
        total_steps: optimiser steps of the run; None: no step budget.
        epochs: alternatively, epochs of the run: ``total_steps`` becomes epochs x the training
            batches per epoch when training starts...
        at_least_steps: ...but at least this many steps...
        at_most_steps: ...and at most this many (None: no cap).
        max_seconds: training time budget (validation included); None: no time budget.
        clock: seconds as a float, e.g. ``time.monotonic`` (injectable for tests).

    The elapsed time is saved in checkpoints, so a resumed run continues the same budget.
    """

    def __init__(
        self,
        total_steps: int | None = None,
        epochs: int | None = None,
        at_least_steps: int = 0,
        at_most_steps: int | None = None,
        max_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total_steps = total_steps
        self.epochs = epochs
        self.at_least_steps = at_least_steps
        self.at_most_steps = at_most_steps
        self.max_seconds = max_seconds
        self.clock = clock
        self.elapsed_before = 0.0  # training seconds of the sessions before a resume
        self._start: float | None = None
        self.stop_reason: str | None = None

    def elapsed(self) -> float:
        """Training seconds so far, earlier sessions of a resumed run included."""
        if self._start is None:
            return self.elapsed_before
        return self.elapsed_before + self.clock() - self._start

    def progress(self, step: int) -> float:
        """Share of the run done at optimiser step ``step``, in [0, 1]."""
        shares = [0.0]
        if self.total_steps:
            shares.append(step / self.total_steps)
        if self.max_seconds:
            shares.append(self.elapsed() / self.max_seconds)
        return min(1.0, max(shares))

    def on_train_start(self, trainer, pl_module) -> None:
        if self.epochs is not None and self.total_steps is None:
            per_epoch = int(trainer.num_training_batches)
            self.total_steps = max(1, self.epochs * per_epoch, self.at_least_steps)
            if self.at_most_steps is not None:
                self.total_steps = min(self.total_steps, self.at_most_steps)
        self._start = self.clock()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        reason = None
        if self.total_steps and trainer.global_step >= self.total_steps:
            reason = "steps"
        elif self.max_seconds and self.elapsed() >= self.max_seconds:
            reason = "max_time"
        stop = trainer.strategy.reduce_boolean_decision(reason is not None, all=False)
        if stop and not trainer.should_stop:
            self.stop_reason = reason or "max_time"
            trainer.should_stop = True

    def on_train_end(self, trainer, pl_module) -> None:
        self.elapsed_before, self._start = self.elapsed(), None

    def state_dict(self) -> dict:
        return {"elapsed": self.elapsed()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.elapsed_before = float(state_dict.get("elapsed", 0.0))


class StepEarlyStopping(EarlyStopping):
    """Early stopping that never stops before ``min_steps`` optimiser steps.

    ``patience`` counts validation checks without improvement, as in Lightning's
    ``EarlyStopping``; checks before ``min_steps`` still track the best score and the count,
    so the first check past ``min_steps`` stops a run that has not improved for ``patience``
    checks. ``stopped_step`` is the step it stopped at (None: it did not stop the run).
    """

    def __init__(self, *args, min_steps: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.min_steps = min_steps
        self.stopped_step: int | None = None
        self._step = 0

    def _run_early_stopping_check(self, trainer) -> None:
        self._step = int(trainer.global_step)
        stopping = trainer.should_stop
        super()._run_early_stopping_check(trainer)
        if trainer.should_stop and not stopping:
            self.stopped_step = self._step

    def _evaluate_stopping_criteria(self, current):
        should_stop, reason = super()._evaluate_stopping_criteria(current)
        if should_stop and self._step < self.min_steps:
            return False, None
        return should_stop, reason


class RunProgressBar(RichProgressBar):
    """Rich progress bar that shows "Epoch i" rather than "Epoch i/-2" when the run's end is
    set by a step or time budget instead of Lightning's ``max_epochs`` (-1)."""

    def _get_train_description(self, current_epoch: int) -> str:
        text = super()._get_train_description(current_epoch)
        if self.trainer.max_epochs is not None and self.trainer.max_epochs < 0:
            text = text.replace(f"/{self.trainer.max_epochs - 1}", "", 1)
        return text
