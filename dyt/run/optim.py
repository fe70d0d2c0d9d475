"""AdamW with explicit weight-decay groups, and linear warmup + cosine decay.

No weight decay for every parameter with fewer than two dimensions (DyT's
alpha, norm gains, biases) nor for what the model lists in ``no_weight_decay()``
(timm: position embeddings, class token), as in the official DyT / ConvNeXt
recipe; ``optim.decay_1d=true`` decays everything, as the LLaMA recipe does.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float, decay_1d: bool = False) -> list[dict]:
    """Two groups: decayed weights, and the rest (1-D params unless ``decay_1d``, and ``no_weight_decay()``)."""
    skip = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") and not decay_1d else set()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if (p.ndim < 2 and not decay_1d) or name in skip else decay).append((name, p))
    return [
        {"params": [p for _, p in decay], "names": [n for n, _ in decay], "weight_decay": weight_decay},
        {"params": [p for _, p in no_decay], "names": [n for n, _ in no_decay], "weight_decay": 0.0},
    ]


def peak_lr(optim_cfg, global_batch_size: int) -> float:
    """``optim.lr``, scaled linearly by ``global_batch / batch_size_ref`` when a reference batch is set."""
    if optim_cfg.batch_size_ref:
        return optim_cfg.lr * global_batch_size / optim_cfg.batch_size_ref
    return optim_cfg.lr


def build_optimizer(model: nn.Module, optim_cfg, lr: float) -> torch.optim.Optimizer:
    if optim_cfg.name != "adamw":
        raise ValueError(f"unknown optim.name {optim_cfg.name!r}: choose adamw")
    groups = param_groups(model, optim_cfg.weight_decay, optim_cfg.decay_1d)
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(optim_cfg.betas), eps=optim_cfg.eps)


def warmup_steps(optim_cfg, max_steps: int) -> int:
    if optim_cfg.warmup_steps is not None:
        return int(optim_cfg.warmup_steps)
    return int(round(optim_cfg.warmup_frac * max_steps))


def lr_factor(step: int, warmup: int, max_steps: int, min_ratio: float = 0.0) -> float:
    """Multiplier of the peak lr at ``step``: linear warmup to 1, then cosine to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, optim_cfg, max_steps: int):
    warmup = warmup_steps(optim_cfg, max_steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup, max_steps, optim_cfg.min_lr_ratio)
    )
