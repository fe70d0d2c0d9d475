"""Step 2, one batch at init: what each norm layer of the original model sees, and what DyT would make of it.

Per norm layer (forward pre-hooks on the original model's norms, in a deepcopy, train mode, no gradient):
``std`` of its input over every element (what one scalar alpha faces), the share of ``|alpha * x| > 2``
(``dyt.run.trainer.diagnostics.SATURATION``: tanh's slope is below 0.07 there) at the paper's alpha and at the
calibrated alpha ``target / std`` (``dyt.run.calibrate``'s rule), and that calibrated alpha. ``spread`` is the
largest input std over the smallest: one alpha init for every layer fits all of them only when it is near 1.

``NormWatch`` records the same per norm layer on chosen forwards of a model that keeps its norms (the LN arm
of the probe), beside ``dyt.run.trainer.diagnostics.Diagnostics`` for DyT layers.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from dyt.run.calibrate import MIN_STD
from dyt.run.trainer.diagnostics import SATURATION
from dyt.diagnose.static import norm_modules


def share_beyond(x: torch.Tensor, alpha: float) -> float:
    """The share of elements with ``|alpha * x| > SATURATION``."""
    return float(((alpha * x.detach().float()).abs() > SATURATION).float().mean())


@dataclass
class LayerStat:
    name: str
    std: float  # of the layer's input, over every element
    alpha: float  # the paper's (or the given) alpha for this layer
    sat: float  # share of |alpha * x| > 2 at that alpha
    alpha_cal: float  # target / std
    sat_cal: float  # share of |alpha_cal * x| > 2


@dataclass
class InitStats:
    layers: list[LayerStat]
    target: float = 1.0

    @property
    def spread(self) -> float:
        stds = [s.std for s in self.layers if s.std > MIN_STD]
        return max(stds) / min(stds) if stds else float("nan")

    def to_dict(self) -> dict:
        return {"target": self.target, "spread": self.spread, "layers": [asdict(s) for s in self.layers]}

    def geomean_alpha_cal(self) -> float:
        values = [s.alpha_cal for s in self.layers if s.alpha_cal > 0]
        return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


class NormWatch:
    """Pre-hooks on a model's norm layers for chosen forwards: ``{"input_std/<path>", "sat/<path>"}`` with the
    share taken at ``alphas[path]`` (the alpha DyT would start at there)."""

    def __init__(self, model: nn.Module, alphas: dict[str, float]) -> None:
        self.layers = [(n, m) for n, m in norm_modules(model) if n in alphas]
        self.alphas, self.handles, self.values = alphas, [], {}

    def watch(self) -> None:
        if not self.handles:
            self.handles = [m.register_forward_pre_hook(self._hook(n)) for n, m in self.layers]

    def _hook(self, name: str):
        def record(module, args) -> None:
            x = args[0].detach().float()
            self.values[f"input_std/{name}"] = float(x.std())
            self.values[f"sat/{name}"] = share_beyond(x, self.alphas[name])
        return record

    def collect(self) -> dict[str, float]:
        for handle in self.handles:
            handle.remove()
        out, self.handles, self.values = self.values, [], {}
        return out


def init_stats(model: nn.Module, x, alphas: dict[str, float], target: float = 1.0) -> InitStats:
    """The statistics of every norm layer in ``alphas`` on one batch ``x`` (the model itself is not touched)."""
    trial = copy.deepcopy(model).train()
    inputs: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_pre_hook(lambda mod, args, n=n: inputs.setdefault(n, args[0].detach().float()))
               for n, m in norm_modules(trial) if n in alphas]
    try:
        with torch.no_grad():
            trial(x)
    finally:
        for h in handles:
            h.remove()
    layers = []
    for name in alphas:
        if name not in inputs:
            continue  # not reached by the forward pass (an unused head norm)
        v = inputs[name]
        std = float(v.std())
        cal = target / std if math.isfinite(std) and std > MIN_STD else alphas[name]
        layers.append(LayerStat(name, std, alphas[name], share_beyond(v, alphas[name]), cal, share_beyond(v, cal)))
    return InitStats(layers, target)
