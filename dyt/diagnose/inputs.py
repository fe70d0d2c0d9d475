"""What a diagnosis takes in: the batches (the same for every arm), the loss, and the one error it raises.

``batches`` may be an iterable or iterator of ``(x, y)`` or a callable ``step -> (x, y)`` (a ``Stepwise`` data
set's ``batch``). Every batch is fetched once and kept, so the LN model and each DyT copy train on exactly the
same batches; the last ``eval_batches`` of ``steps + eval_batches`` are held out for the final evaluation. An
iterable shorter than that is cycled (``Batches.cycled`` says so; the held-out batches are then seen ones).
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch

from dyt.run.trainer.step import loss_fn as cross_entropy


class DiagnoseError(ValueError):
    """Bad input to a diagnosis: the message is one line that names the fix."""


def default_loss(output, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the last dim, flattening leading dims (``dyt.run.trainer.step.loss_fn``)."""
    if not isinstance(output, torch.Tensor):
        raise DiagnoseError(f"the model returns a {type(output).__name__}, not a tensor of logits: "
                            "pass loss_fn=(output, y) -> scalar loss")
    return cross_entropy(output, target)


class Batches:
    """``batches[step] -> (x, y)``: fetched once per step, then the same for every arm."""

    def __init__(self, source: Iterable | Callable, steps: int, eval_batches: int = 4) -> None:
        if steps < 1:
            raise DiagnoseError(f"steps must be >= 1, got {steps}")
        if eval_batches < 1:
            raise DiagnoseError(f"eval batches must be >= 1, got {eval_batches}")
        self.steps, self.eval_count = int(steps), int(eval_batches)
        self.fn = source if callable(source) and not hasattr(source, "__iter__") else None
        self.iterator = None if self.fn is not None else iter(source)
        self.cache: list = []
        self.cycled = False

    def _fetch(self, step: int):
        if self.fn is not None:
            return self.fn(step)
        try:
            return next(self.iterator)
        except StopIteration:
            if not self.cache:
                raise DiagnoseError("batches yielded nothing: pass an iterable of (x, y) or a callable step -> (x, y)")
            self.cycled = True
            return None

    def __getitem__(self, step: int):
        while len(self.cache) <= step and not self.cycled:
            batch = self._fetch(len(self.cache))
            if batch is not None:
                self.cache.append(check_batch(batch, len(self.cache)))
        return self.cache[step % len(self.cache)] if self.cycled else self.cache[step]

    def train(self):
        return (self[s] for s in range(self.steps))

    def held_out(self) -> list:
        return [self[self.steps + i] for i in range(self.eval_count)]


def check_batch(batch, step: int):
    """``(x, y)`` with ``y`` a tensor, or a ``DiagnoseError`` naming what a batch must be."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise DiagnoseError(f"batch {step} is a {type(batch).__name__}"
                            f"{'' if not hasattr(batch, '__len__') else f' of {len(batch)}'}: "
                            "each batch must be a pair (inputs, targets)")
    x, y = batch
    if not isinstance(y, torch.Tensor):
        raise DiagnoseError(f"batch {step}: the targets are a {type(y).__name__}, not a tensor: yield (x, y) tensors")
    return x, y


def first_loss(model: torch.nn.Module, batch, loss_fn) -> tuple[torch.Tensor, float]:
    """The model's output and loss on ``batch`` (no gradient, the model's mode kept), or a ``DiagnoseError``
    when the batch does not fit the model or the loss is not finite before any update."""
    x, y = batch
    try:
        with torch.no_grad():
            output = model(x)
            loss = loss_fn(output, y)
    except DiagnoseError:
        raise
    except (RuntimeError, ValueError, IndexError, TypeError, AssertionError) as err:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DiagnoseError(f"the model cannot take a batch of inputs {shape} and targets {tuple(y.shape)} "
                            f"({first}): feed batches of the shape the model was built for") from None
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise DiagnoseError("loss_fn must return a scalar tensor")
    if not torch.isfinite(loss):
        raise DiagnoseError(f"the loss is {loss.item()} at step 0, before any update: check the inputs for NaN/Inf "
                            "and that loss_fn matches the model's output")
    return output, float(loss)
