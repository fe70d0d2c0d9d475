"""``LogWindow``: the training steps since the last logged row (their loss, count and training time)."""

from __future__ import annotations

import time

import torch


class LogWindow:
    """Loss summed on the device (no host sync per step), steps and training seconds since the last row.

    Evaluation and checkpoints do not count as training time: ``pause_since(t)`` takes the time since ``t``
    (the end of the last step) out. ``state()`` is what a checkpoint keeps, so a resumed run's first row
    covers exactly the steps an uninterrupted run's would."""

    def __init__(self, state: tuple = (0.0, 0, 0.0)) -> None:
        loss, n, seconds = state
        self.loss_sum, self.n = loss, n
        self.started, self.paused = time.perf_counter() - seconds, 0.0
        self.step_end = time.perf_counter()

    def add(self, loss: torch.Tensor) -> None:
        self.loss_sum = self.loss_sum + loss.float()
        self.n += 1
        self.step_end = time.perf_counter()

    def seconds(self, now: float | None = None) -> float:
        return (self.step_end if now is None else now) - self.started - self.paused

    def pause_since(self, t: float) -> None:
        self.paused += time.perf_counter() - t

    def state(self) -> tuple[float, int, float]:
        return float(self.loss_sum), self.n, self.seconds()

    def close(self) -> tuple[float, int, float]:
        """``(mean loss, steps, seconds)`` of the window, which starts afresh."""
        out = (float(self.loss_sum) / self.n, self.n, self.seconds(time.perf_counter()))
        self.__init__()
        return out
