"""What the trainer logs about the model at logging steps, beside the loss: DyT's internals and the stream.

Per DyT-family layer: ``alpha/<layer>`` (its alpha; a per-channel alpha: the mean), ``input_std/<layer>``
(the std of its input over all elements) and ``sat/<layer>`` (the share of elements with |alpha·x| > 2, where
tanh's slope is below 0.07 of its slope at 0: the layer passes almost no gradient there; for the variants the
same threshold, tanh's measure, whatever their own squashing). Per residual block
(``blocks.<i>`` of a ViT or GPT, ``layer<k>.<i>`` of a ResNet, ``stages.<s>.blocks.<i>`` of a ConvNeXt):
``resid_std/<block>``, the std of the stream after it. The hooks exist only while watching, for the training
forward of a logging step, so other steps pay nothing. Not with ``trainer.compile`` (hooks added and removed
would make torch.compile recompile).

``LOGGED`` and ``PER_LAYER`` (``dyt.run.metric_keys``) are every key a run's ``metrics.jsonl`` (and W&B history)
can hold; the W&B views (``dyt.reports.wandb_views``) reference exactly these.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from dyt.nn.layers import DyT, dyt_layers
from dyt.run.metric_keys import LOGGED, PER_LAYER  # noqa: F401 - the keys this module logs, re-exported

SATURATION = 2.0  # |alpha * x| beyond this counts as saturated
BLOCK = re.compile(r"(^|\.)blocks\.\d+$|^layer\d+\.\d+$")


def dyt_alphas(model: nn.Module) -> dict[str, float]:
    """``{"alpha/<module path>": value}`` for every DyT layer (a per-channel alpha: its mean over channels)."""
    return {f"alpha/{name}": m.alpha.mean().item() for name, m in dyt_layers(model)}


def residual_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(module path, block)`` of every residual block, in forward order."""
    return [(name, m) for name, m in model.named_modules() if BLOCK.search(name)]


def saturation(layer: DyT, x: torch.Tensor) -> torch.Tensor:
    """The share of ``|alpha * x| > SATURATION`` over every element of ``x`` (a 0-dim tensor on x's device)."""
    alpha = layer.alpha.detach()
    if alpha.dim():  # per channel: broadcast over the layout's other dims
        alpha = alpha.view(layer.affine_shape(x))
    return ((alpha * x.detach()).abs() > SATURATION).float().mean()


class Diagnostics:
    """``watch()`` before a forward, ``collect()`` after it: ``{"input_std/...", "sat/...", "resid_std/..."}``."""

    def __init__(self, model: nn.Module) -> None:
        self.layers, self.blocks = dyt_layers(model), residual_blocks(model)
        self.handles, self.values = [], {}

    def watch(self) -> None:
        if self.handles:
            return
        self.handles = [m.register_forward_hook(self._layer_hook(name)) for name, m in self.layers]
        self.handles += [m.register_forward_hook(self._block_hook(name)) for name, m in self.blocks]

    def _layer_hook(self, name: str):
        def record(module, inputs, output) -> None:
            x = inputs[0].detach().float()
            self.values[f"input_std/{name}"] = x.std()  # stays on the device until collect()
            self.values[f"sat/{name}"] = saturation(module, x)
        return record

    def _block_hook(self, name: str):
        def record(module, inputs, output) -> None:
            if isinstance(output, torch.Tensor):
                self.values[f"resid_std/{name}"] = output.detach().float().std()
        return record

    def collect(self) -> dict[str, float]:
        for handle in self.handles:
            handle.remove()
        out = {key: float(v) for key, v in self.values.items()}
        self.handles, self.values = [], {}
        return out
