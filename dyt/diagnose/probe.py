"""Step 3, the probe: each arm trains for the same short budget on the same batches from the same seed.

AdamW with ``dyt.run.optim.param_groups`` (no weight decay on 1-D parameters: alpha, gains, biases), a linear
warmup over ``warmup_frac`` of the steps, then a constant lr (``dyt.run.optim.lr_factor`` with a floor of 1).
At about ``LOG_POINTS`` steps spread over the probe (the first included) the training forward is watched:
DyT layers through ``dyt.run.trainer.diagnostics.Diagnostics`` (input std, saturation at the current alpha,
the residual stream after each block), a baseline's norms through ``NormWatch`` (saturation at the alpha DyT
would start at), and every DyT alpha is recorded. Before and after, the arm is evaluated on the held-out
batches (eval mode, no gradient). A loss that is not finite or above ``DIVERGENCE_FACTOR`` times the first
stops the arm as diverged, as the trainer does.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from dyt.nn import dyt_layers
from dyt.run.calibrate import calibrate_alphas
from dyt.run.optim import lr_factor, param_groups
from dyt.run.trainer import DIVERGENCE_FACTOR
from dyt.run.trainer.diagnostics import Diagnostics, dyt_alphas
from dyt.diagnose.arms import Arm, Settings
from dyt.diagnose.init_stats import NormWatch

LOG_POINTS = 15


@dataclass
class ArmResult:
    name: str
    label: str
    alpha: str
    baseline: bool
    losses: list[float] = field(default_factory=list)  # training loss per step
    log_steps: list[int] = field(default_factory=list)
    watched: dict[str, list[float]] = field(default_factory=dict)  # input_std/ sat/ resid_std/ alpha/ -> per log step
    start: dict = field(default_factory=dict)  # held-out loss (and acc1) before training
    end: dict = field(default_factory=dict)  # ... after
    diverged_at: int | None = None
    seconds: float = 0.0
    calibrated: dict | None = None  # the alphas a calibrated arm started at

    def to_dict(self) -> dict:
        return asdict(self)

    def last(self, prefix: str) -> dict[str, float]:
        """``{path: value}`` of one watched quantity at the last log step."""
        return {k[len(prefix):]: v[-1] for k, v in self.watched.items() if k.startswith(prefix) and v}


def build_optimizer(model: nn.Module, s: Settings, steps: int):
    groups = param_groups(model, s.weight_decay, s.decay_1d, s.alpha_lr_mult, s.decay_alpha)
    for group in groups:
        group["lr"] = s.lr * group.pop("lr_mult", 1.0)
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=s.lr, betas=tuple(s.betas))
    warmup = max(1, round(s.warmup_frac * steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, warmup, steps, 1.0))
    return optimizer, scheduler


@torch.no_grad()
def evaluate(model: nn.Module, batches: list, loss_fn) -> dict:
    """Mean held-out loss, and top-1 accuracy (%) where the targets are classes or tokens."""
    was = model.training
    model.eval()
    losses, correct, total = [], 0, 0
    try:
        for x, y in batches:
            out = model(x)
            losses.append(float(loss_fn(out, y)))
            if isinstance(out, torch.Tensor) and not y.is_floating_point() and out.shape[:-1].numel() == y.numel():
                correct += int((out.reshape(-1, out.shape[-1]).argmax(-1) == y.reshape(-1)).sum())
                total += y.numel()
    finally:
        model.train(was)
    out = {"loss": sum(losses) / len(losses)}
    if total:
        out["acc1"] = 100.0 * correct / total
    return out


def diverged(loss: float, first: float) -> bool:
    return not math.isfinite(loss) or loss > DIVERGENCE_FACTOR * max(first, 1e-3)


def train_arm(arm: Arm, batches, loss_fn, seed: int, watch_alphas: dict[str, float], bar=None) -> ArmResult:
    """Train ``arm.model`` for ``batches.steps`` steps; ``watch_alphas``: a baseline's saturation reference."""
    result = ArmResult(arm.name, arm.label, arm.alpha, arm.baseline)
    model, steps = arm.model, batches.steps
    torch.manual_seed(seed)
    if arm.calibrate is not None:
        result.calibrated = calibrate_alphas(model, batches[0][0], arm.calibrate)
    optimizer, scheduler = build_optimizer(model, arm.settings, steps)
    watchers = [Diagnostics(model)] + ([NormWatch(model, watch_alphas)] if not dyt_layers(model) else [])
    result.start = evaluate(model, batches.held_out(), loss_fn)
    every = max(1, steps // LOG_POINTS)
    model.train()
    began = time.perf_counter()
    for step in range(steps):
        x, y = batches[step]
        logging = step % every == 0 or step == steps - 1
        if logging:
            record(result, step, dyt_alphas(model))
            for w in watchers:
                w.watch()
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if arm.settings.clip_grad:
            nn.utils.clip_grad_norm_(model.parameters(), arm.settings.clip_grad)
        optimizer.step()
        scheduler.step()
        result.losses.append(float(loss.detach()))
        if logging:
            for w in watchers:
                record(result, None, w.collect())
        if bar is not None:
            bar.update(1)
        if diverged(result.losses[-1], result.losses[0]):
            result.diverged_at = step
            if bar is not None:
                bar.update(steps - step - 1)
            break
    result.seconds = time.perf_counter() - began
    result.end = evaluate(model, batches.held_out(), loss_fn)
    return result


def record(result: ArmResult, step: int | None, values: dict[str, float]) -> None:
    if step is not None:
        result.log_steps.append(step)
    for key, value in values.items():
        result.watched.setdefault(key, []).append(float(value))
