"""What the trainer logs about the DyT layers at logging steps: each layer's alpha and the std of its input."""

from __future__ import annotations

from torch import nn

from dyt.nn.layers import dyt_layers


def dyt_alphas(model: nn.Module) -> dict[str, float]:
    """``{"alpha/<module path>": value}`` for every DyT layer (a per-channel alpha: its mean over channels)."""
    return {f"alpha/{name}": m.alpha.mean().item() for name, m in dyt_layers(model)}


class InputStds:
    """``{"input_std/<module path>": std}`` of every DyT layer's input (over all its elements), for the
    paper's alpha-vs-1/std analysis. Forward hooks exist only between ``arm()`` and ``collect()``: the
    trainer arms them for the training forward of logging steps, so other steps pay nothing. Not used
    with ``trainer.compile`` (hooks added and removed would make torch.compile recompile)."""

    def __init__(self, model: nn.Module) -> None:
        self.layers = dyt_layers(model)
        self.handles, self.values = [], {}

    def arm(self) -> None:
        if not self.handles:
            self.handles = [m.register_forward_hook(self._hook(name)) for name, m in self.layers]

    def _hook(self, name: str):
        def record(module, inputs, output) -> None:
            self.values[name] = inputs[0].detach().float().std()  # stays on the device until collect()
        return record

    def collect(self) -> dict[str, float]:
        for handle in self.handles:
            handle.remove()
        out = {f"input_std/{name}": float(v) for name, v in self.values.items()}
        self.handles, self.values = [], {}
        return out
