"""Data whose training batch is a pure function of the step: resuming needs no sampler state."""

from __future__ import annotations

import torch


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random generator of one training step."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


class Stepwise:
    """Mixin: ``batches(start_step)`` from a ``batch(step)`` method."""

    def batch(self, step: int):
        raise NotImplementedError

    def batches(self, start_step: int = 0):
        step = start_step
        while True:
            yield self.batch(step)
            step += 1
