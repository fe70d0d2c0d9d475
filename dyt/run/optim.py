"""AdamW with explicit weight-decay groups, and linear warmup + cosine decay.

No weight decay for every parameter with fewer than two dimensions (DyT's
alpha, norm gains, biases) nor for what the model lists in ``no_weight_decay()``
(timm: position embeddings, class token), as in the official DyT / ConvNeXt
recipe; ``optim.decay_1d=true`` decays everything, as the LLaMA recipe does.

DyT's alphas get a group of their own when asked: ``optim.alpha_lr_mult`` (their learning rate is the
peak lr times this: Adam moves a scalar by about lr per step, so at lr 1e-3 alpha travels at most ~0.3 in
300 steps) and ``optim.decay_alpha`` (decay alpha or not, whatever ``decay_1d`` says for the rest).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from dyt.run.spec import OptimSpec


def _group(named: list, weight_decay: float, **extra) -> dict:
    return {"params": [p for _, p in named], "names": [n for n, _ in named], "weight_decay": weight_decay, **extra}


def alpha_names(model: nn.Module) -> set[str]:
    """The parameter names of every DyT-family layer's alpha."""
    from dyt.nn.layers import dyt_layers

    return {f"{name}.alpha" for name, m in dyt_layers(model) if isinstance(m.alpha, nn.Parameter)}


def param_groups(model: nn.Module, weight_decay: float, decay_1d: bool = False, alpha_lr_mult: float | None = None,
                 decay_alpha: bool | None = None) -> list[dict]:
    """Decayed weights, and the rest (1-D params unless ``decay_1d``, and ``no_weight_decay()``); with an
    ``alpha_lr_mult`` other than 1 or ``decay_alpha`` set, a third group of DyT's alphas (``lr_mult``: its lr
    factor); ``None``: alpha trains with the rest."""
    skip = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") and not decay_1d else set()
    own_lr = alpha_lr_mult is not None and alpha_lr_mult != 1
    alphas = alpha_names(model) if own_lr or decay_alpha is not None else set()
    decay, no_decay, alpha = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name in alphas:
            alpha.append((name, p))
        else:
            (no_decay if (p.ndim < 2 and not decay_1d) or name in skip else decay).append((name, p))
    groups = [_group(decay, weight_decay), _group(no_decay, 0.0)]
    if alpha:
        decayed = decay_1d if decay_alpha is None else decay_alpha
        groups.append(_group(alpha, weight_decay if decayed else 0.0, lr_mult=alpha_lr_mult if own_lr else 1))
    return groups


def peak_lr(optim: "OptimSpec", global_batch_size: int) -> float:
    """``optim.lr``, scaled linearly by ``global_batch / batch_size_ref`` when a reference batch is set."""
    if optim.batch_size_ref:
        return optim.lr * global_batch_size / optim.batch_size_ref
    return optim.lr


def build_optimizer(model: nn.Module, optim: "OptimSpec", lr: float) -> torch.optim.Optimizer:
    """AdamW over ``param_groups`` (``optim.name`` is validated by the run spec: adamw is the one optimizer)."""
    groups = param_groups(model, optim.weight_decay, optim.decay_1d, optim.alpha_lr_mult, optim.decay_alpha)
    for group in groups:
        group["lr"] = lr * group.pop("lr_mult", 1)
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(optim.betas), eps=optim.eps)


def warmup_steps(optim: "OptimSpec", max_steps: int) -> int:
    if optim.warmup_steps is not None:
        return int(optim.warmup_steps)
    return int(round(optim.warmup_frac * max_steps))


def lr_factor(step: int, warmup: int, max_steps: int, min_ratio: float = 0.0) -> float:
    """Multiplier of the peak lr at ``step``: linear warmup to 1, then cosine to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, optim: "OptimSpec", max_steps: int):
    warmup = warmup_steps(optim, max_steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup, max_steps, optim.min_lr_ratio)
    )
