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

import json
import math
import warnings
from pathlib import Path

import torch
from torch import nn

from dyt.layers import DyT, dyt_layers

PREFIX = "calibrate"
DEFAULT_TARGET = 1.0
PLACEHOLDER_ALPHA = 1.0  # the alpha a calibrated model is built with; calibration overwrites it
MIN_STD = 1e-6  # a layer whose input is (nearly) constant keeps its placeholder alpha
RECORD_FILE = "calibration.json"

__all__ = ["calibration_target", "calibrate_alphas", "calibration_batch", "calibrate_run", "RECORD_FILE"]


def calibration_target(alpha_init) -> float | None:
    """``None`` for a numeric/auto alpha init; the target ``alpha * std(input)`` for ``calibrate[:<target>]``.

    Raises ``ValueError`` naming the fix for a malformed value."""
    text = str(alpha_init).strip()
    if not text.startswith(PREFIX):
        return None
    rest = text[len(PREFIX):]
    if rest == "":
        return DEFAULT_TARGET
    try:
        if not rest.startswith(":"):
            raise ValueError
        target = float(rest[1:])
    except ValueError:
        raise ValueError(f"norm.alpha_init={text!r}: write calibrate or calibrate:<target>, e.g. calibrate:2") from None
    if not math.isfinite(target) or target <= 0:
        raise ValueError(f"norm.alpha_init={text!r}: the calibration target must be a number > 0 (calibrate:1)")
    return target


def _input_std(module: DyT, x: torch.Tensor) -> torch.Tensor:
    """std of the input: over everything (scalar alpha) or per channel (per-channel alpha)."""
    x = x.detach().double()
    if module.alpha.dim() == 0:
        return x.std()
    channel_dim = 1 if module.layout == "channels_first" else -1
    return x.movedim(channel_dim, -1).reshape(-1, x.shape[channel_dim]).std(dim=0)


@torch.no_grad()
def calibrate_alphas(model: nn.Module, inputs, target: float = DEFAULT_TARGET) -> dict[str, float | list[float]]:
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


def calibrate_run(model: nn.Module, norm_cfg, train, out_dir: Path, resuming: bool, is_main: bool = True,
                  device: torch.device | str = "cpu") -> None:
    """Calibrate ``model`` for a run if ``norm.alpha_init`` asks for it, on the device it will train on
    (the model moves there); records the alphas in ``<out_dir>/calibration.json`` and ``model.calibration``
    (copied into summary.json).

    A resumed run skips it (its checkpoint holds the trained alphas) and reads the record."""
    target = calibration_target(norm_cfg.alpha_init)
    if target is None or not dyt_layers(model):
        return
    record = Path(out_dir) / RECORD_FILE
    if resuming and record.exists():
        model.calibration = json.loads(record.read_text())
        return
    if not is_main:  # DDP broadcasts rank 0's parameters when it wraps the model
        return
    alphas = calibrate_alphas(model.to(device), calibration_batch(train).to(device), target)
    model.calibration = {"target": target, "alphas": alphas}
    record.write_text(json.dumps(model.calibration, indent=1))
    model.alpha_note = f"calibrated: alpha = {target:g} / std(input) on the first training batch"
