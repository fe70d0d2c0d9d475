"""Dynamic Tanh: ``DyT(x) = weight * tanh(alpha * x) + bias``.

Zhu, Chen, He, LeCun, Liu, "Transformers without Normalization", CVPR 2025.
``alpha`` is one learnable scalar per layer (``alpha_per_channel=True``: one
per channel, an option beyond the paper); ``weight`` and ``bias`` are
per-channel, initialised to ones and zeros, exactly like a norm's affine.

Both classes take timm's ``norm_layer`` call signature
``(num_features, eps=..., device=..., dtype=...)`` so that
``timm.create_model(..., norm_layer=partial(DyT, alpha_init=0.5))`` builds a
model with DyT in every norm position. ``eps`` is accepted and ignored: DyT
divides by nothing.

``fused=True`` (the default) runs the fused op of ``dyt.fused`` (one pass forward,
one pass backward saving only x; C kernels on CPU, also inside ``torch.compile`` as
custom ops; inductor-generated kernels on CUDA) wherever it applies, and the
reference formula elsewhere (fp64, fp16 on CPU, other devices, tensor subclasses,
tiny inputs in eager, no C compiler). ``fused=False`` always runs the reference,
``weight * squash(alpha * x) + bias``, for debugging (config: ``norm.fused=false``).

Variants subclass ``DyT`` and override ``squash(z)`` (e.g. hardtanh, erf): a
subclass that does so always takes the reference path with its own squash.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dyt.nn.fused import dyt_fused, prepare

__all__ = ["DyT", "DyT2d", "check_alpha_init"]


def check_alpha_init(alpha_init: float) -> float:
    """Return ``alpha_init`` as a float, or raise ``ValueError`` naming the fix."""
    value = float(alpha_init)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"alpha_init must be a finite number > 0, got {alpha_init!r} "
            "(the paper uses 0.5; set norm.alpha_init=0.5)"
        )
    return value


class DyT(nn.Module):
    """DyT over the last dimension: input ``(..., C)`` (a LayerNorm stand-in)."""

    layout = "channels_last"
    learns_alpha = True  # alpha is a parameter (the ``*_noalpha`` variants hold it fixed, as a buffer)

    def __init__(
        self,
        num_features: int,
        eps: float | None = None,  # accepted for timm's norm_layer signature; unused
        *,
        alpha_init: float = 0.5,
        elementwise_affine: bool = True,
        bias: bool = True,
        alpha_per_channel: bool = False,
        fused: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.num_features = int(num_features)
        self.alpha_init = check_alpha_init(alpha_init)
        self.alpha_per_channel = bool(alpha_per_channel)
        self.fused = bool(fused)
        if self.fused:
            prepare(device)  # the CPU kernels: built once per machine (~1 s), then loaded from the cache
        alpha_shape = (self.num_features,) if self.alpha_per_channel else ()
        self.alpha = nn.Parameter(torch.full(alpha_shape, self.alpha_init, **factory))
        self.weight = nn.Parameter(torch.ones(self.num_features, **factory)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(self.num_features, **factory)) if elementwise_affine and bias else None

    def affine_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        """The shape per-channel parameters (weight, bias, a per-channel alpha) take to broadcast over ``x``."""
        return (self.num_features,)

    def squash(self, z: torch.Tensor) -> torch.Tensor:
        """The squashing function applied to ``alpha * x``; variants override it."""
        return torch.tanh(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused and type(self).squash is DyT.squash:
            y = dyt_fused(x, self.alpha, self.weight, self.bias, channels_first=self.layout == "channels_first")
            if y is not None:
                return y
        return self.reference(x)

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """``weight * squash(alpha * x) + bias`` as plain torch ops (autograd does the backward)."""
        alpha = self.alpha.view(self.affine_shape(x)) if self.alpha_per_channel else self.alpha
        y = self.squash(alpha * x)
        if self.weight is None:
            return y
        shape = self.affine_shape(x)
        y = y * self.weight.view(shape)
        return y if self.bias is None else y + self.bias.view(shape)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.alpha.fill_(self.alpha_init)
            if self.weight is not None:
                self.weight.fill_(1.0)
            if self.bias is not None:
                self.bias.zero_()

    def extra_repr(self) -> str:
        affine = "" if self.weight is not None else ", elementwise_affine=False"
        affine += "" if self.bias is not None or self.weight is None else ", bias=False"
        affine += ", alpha_per_channel=True" if self.alpha_per_channel else ""
        affine += "" if self.fused else ", fused=False"
        return f"{self.num_features}, alpha_init={self.alpha_init:g}, layout={self.layout}{affine}"


class DyT2d(DyT):
    """DyT over channels of an ``(N, C, H, W)`` tensor (a BatchNorm2d / LayerNorm2d stand-in).

    ``weight`` and ``bias`` are per channel (dim 1) and broadcast over H and W;
    ``(N, C)`` and ``(N, C, L)`` inputs work too (BatchNorm1d's layouts).
    """

    layout = "channels_first"

    def affine_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        """The shape per-channel parameters (weight, bias, a per-channel alpha) take to broadcast over ``x``."""
        return (self.num_features,) + (1,) * (x.dim() - 2)


def dyt_layers(model: nn.Module) -> list[tuple[str, DyT]]:
    """``(module path, layer)`` of every DyT-family layer (DyT, DyT2d, the variants), in forward order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, DyT)]
