"""One training step, the piece the trainer loops over and the bench times: ``TrainStep``.

Forward under autocast, loss, backward, gradient clipping, optimizer and schedule step, EMA update.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_for(device: torch.device, precision: str):
    """``(context factory, precision name)``: bf16 autocast on CUDA for ``auto``, fp32 on CPU."""
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return nullcontext, "fp32"
    if precision == "bf16":
        return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)), "bf16"
    raise ValueError(f"unknown trainer.precision {precision!r}: use auto, fp32 or bf16")


def total_steps(trainer_cfg, steps_per_epoch: int) -> int:
    """The run's budget in optimizer steps: ``trainer.max_steps``, else ``trainer.epochs`` of the data."""
    if trainer_cfg.max_steps is not None:
        return int(trainer_cfg.max_steps)
    return max(1, math.ceil(trainer_cfg.epochs * steps_per_epoch))


def loss_fn(logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy over the last dim; integer targets (classes, tokens) or soft targets (mixup)."""
    logits = logits.reshape(-1, logits.shape[-1]).float()
    if target.is_floating_point():
        return F.cross_entropy(logits, target.reshape(-1, logits.shape[-1]))
    return F.cross_entropy(logits, target.reshape(-1), label_smoothing=label_smoothing)


def clip_gradients(model: nn.Module, tcfg) -> torch.Tensor | None:
    """``trainer.clip_mode``: ``norm`` clips the global grad norm to ``clip_grad`` and returns the norm before
    clipping; ``agc`` (adaptive gradient clipping, Brock et al. 2021) clips each unit's gradient to
    ``clip_grad`` times its weight norm, except the classifier's (as NFNets and timm do). Nothing without
    ``clip_grad``. (``clip_mode`` is validated by the run spec.)"""
    if not tcfg.clip_grad:
        return None
    if tcfg.clip_mode == "agc":
        from timm.utils import adaptive_clip_grad

        head = {id(p) for p in model.get_classifier().parameters()} if hasattr(model, "get_classifier") else set()
        adaptive_clip_grad([p for p in model.parameters() if id(p) not in head], clip_factor=tcfg.clip_grad)
        return None
    return nn.utils.clip_grad_norm_(model.parameters(), tcfg.clip_grad)


class TrainStep:
    """``step(x, y, index) -> (loss, grad norm or None)``: one optimizer step on a batch already on the device.

    ``model`` holds the parameters (clipping, EMA); ``train_model`` is what runs the forward (the model, or its
    DDP / ``torch.compile`` wrapper). The loss comes back as a device tensor: no host sync per step."""

    def __init__(self, model: nn.Module, optimizer, scheduler, tcfg, autocast, *, train_model: nn.Module | None = None,
                 ema=None, mixup=None) -> None:
        self.model, self.train_model = model, train_model if train_model is not None else model
        self.optimizer, self.scheduler, self.tcfg = optimizer, scheduler, tcfg
        self.autocast, self.ema, self.mixup = autocast, ema, mixup

    def __call__(self, x: torch.Tensor, y: torch.Tensor, index: int = 0):
        if self.mixup is not None:
            x, y = self.mixup(x, y)
        with self.autocast():
            logits = self.train_model(x)
        loss = loss_fn(logits, y, self.tcfg.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_gradients(self.model, self.tcfg)
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model, step=index)
        return loss.detach(), grad_norm
