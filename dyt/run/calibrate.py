"""Data-calibrated alpha init: ``norm.alpha_init=calibrate`` (or ``calibrate:<target>``).

The paper observes that a trained DyT's alpha tracks 1/std of its input. We
start it there: before the first step, one batch of training data goes
through the model and each DyT-family layer sets ``alpha = target / std(x)``
from its own input ``x``, in forward order, inside the same forward pass (a
pre-forward hook calibrates a layer the first time it runs, so every later
layer already sees calibrated inputs). ``target = 1`` (the default) makes
``alpha * x`` a unit-std signal: exactly LayerNorm's normalized output in
tanh's linear region, which is as close to LN's unit output as tanh allows
without saturating. Per-channel alphas get ``target / std`` per channel.

Only alpha changes; the model runs in eval mode under ``no_grad``, so no
other parameter or buffer (BatchNorm running stats included) is touched.
Under DDP rank 0 calibrates and DDP's construction broadcasts the parameters
and buffers to the other ranks.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import torch
from torch import nn

from dyt.nn.layers import DyT, dyt_layers

if TYPE_CHECKING:
    from dyt.run.rundir import RunDir
    from dyt.run.norms import NormSpec

MIN_STD = 1e-6  # a layer whose input is (nearly) constant keeps its alpha

__all__ = ["calibrate_alphas", "calibration_batch", "calibrate_run"]


def _input_std(module: DyT, x: torch.Tensor) -> torch.Tensor:
    """std of the input: over everything (scalar alpha) or per channel (per-channel alpha)."""
    x = x.detach().double()
    if module.alpha.dim() == 0:
        return x.std()
    channel_dim = 1 if module.layout == "channels_first" else -1
    return x.movedim(channel_dim, -1).reshape(-1, x.shape[channel_dim]).std(dim=0)


@torch.no_grad()
def calibrate_alphas(model: nn.Module, inputs, target: float = 1.0) -> dict[str, float | list[float]]:
    """Set every DyT-family layer's alpha to ``target / std(its input)`` on ``inputs``; returns the new alphas.

    A layer never reached by the forward pass, or seeing a constant input, keeps its alpha (with a warning)."""
    layers = dyt_layers(model)
    if not layers:
        return {}
    calibrated: set[int] = set()

    def hook(module: DyT, args):
        if id(module) in calibrated:
            return
        calibrated.add(id(module))
        std = _input_std(module, args[0])
        ok = torch.isfinite(std) & (std > MIN_STD)
        new = torch.where(ok, target / std.clamp_min(MIN_STD), module.alpha.detach().double())
        module.alpha.copy_(new.to(module.alpha.dtype))

    handles = [m.register_forward_pre_hook(hook) for _, m in layers]
    was_training = model.training
    try:
        model.eval()
        model(inputs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    missed = [name for name, m in layers if id(m) not in calibrated]
    if missed:
        warnings.warn(f"calibration: {len(missed)} DyT layer(s) not reached by the forward pass keep their init: {missed[:5]}")
    return {name: (m.alpha.item() if m.alpha.dim() == 0 else m.alpha.tolist()) for name, m in layers}


def calibration_batch(train) -> torch.Tensor:
    """The inputs of the first training batch (what step 0 trains on), without moving a streaming dataset on."""
    state = train.state_dict() if hasattr(train, "state_dict") else None
    x, _ = next(iter(train.batches(0)))
    if state is not None:
        train.load_state_dict(state)
    return x


def calibrate_run(model: nn.Module, norm: "NormSpec", train, run_dir: "RunDir", is_main: bool = True,
                  device: torch.device | str = "cpu") -> dict | None:
    """Calibrate ``model`` for a run whose alpha init asks for it, on the device it will train on (the model
    moves there); returns the record (target and chosen alphas), also kept in the run dir's calibration.json.

    A resumed run skips it (its checkpoint holds the trained alphas) and returns the record it kept."""
    target = norm.calibration_target
    if target is None or not dyt_layers(model):
        return None
    if run_dir.checkpoint.exists() and run_dir.calibration() is not None:
        return run_dir.calibration()
    if not is_main:  # DDP broadcasts rank 0's parameters when it wraps the model
        return None
    alphas = calibrate_alphas(model.to(device), calibration_batch(train).to(device), target)
    record = {"target": target, "alphas": alphas}
    run_dir.write_calibration(record)
    return record
