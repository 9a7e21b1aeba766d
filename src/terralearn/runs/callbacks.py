"""Lightning callbacks of terralearn runs."""

from __future__ import annotations

import statistics
import time

import lightning as L


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
