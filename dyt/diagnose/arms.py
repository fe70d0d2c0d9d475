"""The arms a probe trains side by side: the model as it is (its norms: the baseline) and DyT copies of it.

A DyT copy of a user's model is a deepcopy with ``convert_norms`` applied and each DyT's alpha set to its
layer's init (the paper's per position, or the user's); a calibrated copy starts from a placeholder and gets
``alpha = target / std(input)`` per layer on the first training batch (``dyt.run.calibrate.calibrate_alphas``)
before its first step. Every copy keeps the original's weights, so the arms differ in their norms only.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from dyt.nn import convert_norms, dyt_layers
from dyt.diagnose.inputs import DiagnoseError


@dataclass(frozen=True)
class Settings:
    """The probe's optimizer and schedule (AdamW, weight decay on >= 2-D parameters as ``dyt.run.optim``)."""

    lr: float = 1e-3
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    decay_1d: bool = False
    alpha_lr_mult: float = 1.0
    decay_alpha: bool | None = None
    clip_grad: float | None = None
    warmup_frac: float = 0.1  # linear warmup over this share of the steps, then constant


@dataclass
class Arm:
    name: str  # "ln", "dyt-a0.5", "dyt-cal1": keys of curves and reports
    label: str  # for people: "LayerNorm", "DyT alpha 0.5", "DyT calibrated alpha"
    model: nn.Module
    settings: Settings = field(default_factory=Settings)
    calibrate: float | None = None  # a target: calibrate the alphas on the first batch before training
    alpha: str = ""  # the init, in words
    baseline: bool = False


@dataclass(frozen=True)
class AlphaChoice:
    """``--alpha``: None (the paper's), a number, or ``calibrate[:<target>]`` (the paper's and a calibrated arm)."""

    value: float | None = None
    calibrate: float | None = None

    @classmethod
    def parse(cls, text) -> "AlphaChoice":
        if text is None or text == "paper":
            return cls()
        if isinstance(text, (int, float)):
            return cls(value=positive(float(text)))
        text = str(text)
        if text == "calibrate" or text.startswith("calibrate:"):
            target = text.partition(":")[2]
            try:
                value = float(target) if target else 1.0
            except ValueError:
                raise DiagnoseError(f"--alpha {text!r}: the calibration target must be a number > 0, e.g. "
                                    "calibrate:1") from None
            return cls(calibrate=positive(value))
        try:
            return cls(value=positive(float(text)))
        except ValueError:
            raise DiagnoseError(f"--alpha {text!r}: give a number > 0, 'paper' or 'calibrate[:<target>]'") from None


def positive(value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise DiagnoseError(f"alpha must be a finite number > 0, got {value}")
    return value


def dyt_copy(model: nn.Module, alphas: dict[str, float]) -> nn.Module:
    """A deepcopy of ``model`` with every norm swapped for DyT, each starting at ``alphas[path]``."""
    out = convert_norms(copy.deepcopy(model), alpha_init=1.0)
    with torch.no_grad():
        for name, layer in dyt_layers(out):
            if name in alphas:
                layer.alpha.fill_(alphas[name])
                layer.alpha_init = alphas[name]
    return out


def describe(alphas: dict[str, float]) -> str:
    values = sorted(set(round(v, 4) for v in alphas.values()))
    return f"alpha {values[0]:g}" if len(values) == 1 else "alpha " + " / ".join(f"{v:g}" for v in values)


BASELINE_NAMES = {"LayerNorm": "ln", "LayerNorm2d": "ln", "RMSNorm": "rmsnorm", "RmsNorm": "rmsnorm",
                  "RmsNorm2d": "rmsnorm", "BatchNorm1d": "bn", "BatchNorm2d": "bn"}


def baseline_name(norms: dict[str, int]) -> tuple[str, str]:
    """``(name, label)`` of a model that keeps its norms: ``("ln", "LayerNorm")`` for the most common class."""
    cls = max(norms, key=norms.get)
    return BASELINE_NAMES.get(cls, "norm"), "+".join(sorted(norms))


def user_arms(model: nn.Module, alphas: dict[str, float], choice: AlphaChoice, settings: Settings,
              norms: dict[str, int]) -> list[Arm]:
    """The baseline (a deepcopy), DyT at ``alphas``, and a calibrated DyT when ``choice`` asks for one."""
    text = describe(alphas)
    name, label = baseline_name(norms)
    arms = [Arm(name, label, copy.deepcopy(model), settings, baseline=True),
            Arm("dyt-" + text.replace("alpha ", "a").replace(" / ", "_"), f"DyT {text}", dyt_copy(model, alphas),
                settings, alpha=text)]
    if choice.calibrate is not None:
        target = choice.calibrate
        placeholder = dyt_copy(model, dict.fromkeys(alphas, 1.0))
        arms.append(Arm(f"dyt-cal{target:g}", "DyT calibrated alpha", placeholder, settings,
                        calibrate=target, alpha=f"calibrated: {target:g} / std(input) per layer"))
    return arms
