"""DyT's relatives: other squashing functions, a fixed alpha, Derf and DyISRU.

Every class is a ``DyT`` (or, channels-first, a ``DyT2d``) that overrides one
method, ``squash(z)``, applied to ``z = alpha * x`` before the per-channel
affine: ``y = weight * squash(alpha * x) + bias``. So timm builds them as
``norm_layer`` exactly like DyT, the trainer logs their ``alpha/<layer>``,
and ``alpha_init`` / ``alpha_per_channel`` / ``elementwise_affine`` / ``bias``
mean what they mean for DyT.

| name | squash(z) | from |
| --- | --- | --- |
| ``dyt`` | ``tanh(z)`` | Zhu et al. 2025 (the base class itself) |
| ``hardtanh`` | ``clamp(z, -1, 1)`` | the paper's squashing ablation |
| ``sigmoid`` | ``1 / (1 + exp(-z))``, range (0, 1) | the paper's squashing ablation |
| ``identity`` | ``z`` (no squashing) | the paper's squashing ablation (it diverges) |
| ``derf`` | ``erf(z + shift)``, ``shift`` a learnable scalar, init 0 | Chen et al., "Stronger Normalization-Free Transformers", arXiv 2512.10938 |
| ``dyisru`` | ``z / sqrt(1 + z^2)`` | arXiv 2503.21708: the element-wise counterpart of RMSNorm |

``sigmoid`` is the plain logistic function, range (0, 1), not rescaled to
tanh's (-1, 1): a sigmoid rescaled that way, ``2 * sigmoid(z) - 1``, is
exactly ``tanh(z / 2)``, i.e. DyT with alpha halved, which a learnable alpha
undoes; it would not test another squashing function. The paper attributes
tanh's lead over sigmoid to tanh being smooth and zero-centered, which only
the unscaled sigmoid is not. Its 0.5 offset at ``z = 0`` is a constant per
channel that ``bias`` (and the next linear layer) can absorb.

``*_noalpha`` keep alpha fixed at ``alpha_init`` (the paper's "without
alpha" rows, where the squashing function sees ``alpha_init * x`` throughout
training). alpha stays reachable as ``module.alpha`` and in the state dict,
but as a buffer, not a parameter: no optimizer sees it, it gets no gradient,
and the alpha log shows a constant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dyt.nn.layers import DyT, DyT2d

__all__ = [
    "HardTanhDyT", "SigmoidDyT", "IdentityDyT", "Derf", "DyISRU", "FixedAlpha",
    "DYT_FAMILY", "VARIANTS", "is_dyt_family",
]


class HardTanhDyT(DyT):
    """``weight * hardtanh(alpha * x) + bias``: tanh's range, piecewise linear."""

    def squash(self, z: torch.Tensor) -> torch.Tensor:
        return F.hardtanh(z)


class SigmoidDyT(DyT):
    """``weight * sigmoid(alpha * x) + bias``: the logistic function, range (0, 1), as in the paper."""

    def squash(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z)


class IdentityDyT(DyT):
    """``weight * (alpha * x) + bias``: no squashing at all (the paper: training diverges)."""

    def squash(self, z: torch.Tensor) -> torch.Tensor:
        return z


class DyISRU(DyT):
    """``weight * isru(alpha * x) + bias`` with ``isru(z) = z / sqrt(1 + z^2)`` (arXiv 2503.21708)."""

    def squash(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.rsqrt(1.0 + z * z)


class Derf(DyT):
    """``weight * erf(alpha * x + shift) + bias``; ``shift`` is one learnable scalar, init 0 (arXiv 2512.10938)."""

    def __init__(self, num_features: int, eps: float | None = None, **kwargs) -> None:
        super().__init__(num_features, eps, **kwargs)
        self.shift = nn.Parameter(torch.zeros((), device=self.alpha.device, dtype=self.alpha.dtype))

    def squash(self, z: torch.Tensor) -> torch.Tensor:
        return torch.erf(z + self.shift)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():
            self.shift.zero_()


class FixedAlpha:
    """Mixin (list it first): alpha stays at ``alpha_init``, held as a buffer instead of a parameter."""

    learns_alpha = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        alpha = self.alpha.detach().clone()
        del self.alpha  # drops the Parameter
        self.register_buffer("alpha", alpha)

    def extra_repr(self) -> str:
        return super().extra_repr() + ", alpha fixed"


def _channels_first(cls: type) -> type:
    """The ``DyT2d`` twin of a channels-last variant: same squash, weight/bias broadcast over H and W."""
    return type(cls.__name__ + "2d", (cls, DyT2d), {"__doc__": f"{cls.__doc__} Channels-first (N, C, H, W)."})


def _fixed(cls: type, name: str) -> type:
    return type(name, (FixedAlpha, cls), {"__doc__": f"{cls.__doc__} alpha fixed at its init (a buffer)."})


DyTNoAlpha = _fixed(DyT, "DyTNoAlpha")
HardTanhDyTNoAlpha = _fixed(HardTanhDyT, "HardTanhDyTNoAlpha")
SigmoidDyTNoAlpha = _fixed(SigmoidDyT, "SigmoidDyTNoAlpha")
IdentityDyTNoAlpha = _fixed(IdentityDyT, "IdentityDyTNoAlpha")

_CHANNELS_LAST = {
    "hardtanh": HardTanhDyT,
    "sigmoid": SigmoidDyT,
    "identity": IdentityDyT,
    "dyt_noalpha": DyTNoAlpha,
    "hardtanh_noalpha": HardTanhDyTNoAlpha,
    "sigmoid_noalpha": SigmoidDyTNoAlpha,
    "identity_noalpha": IdentityDyTNoAlpha,
    "derf": Derf,
    "dyisru": DyISRU,
}

VARIANTS: tuple[str, ...] = tuple(_CHANNELS_LAST)
"""Norm names (``conf/norm/<name>.yaml``) of the variants defined here."""

DYT_FAMILY: dict[str, tuple[type, type]] = {
    "dyt": (DyT, DyT2d),
    **{name: (cls, _channels_first(cls)) for name, cls in _CHANNELS_LAST.items()},
}
"""``norm name -> (channels-last class, channels-first class)`` for DyT and every variant."""

for _name, (_last, _first) in DYT_FAMILY.items():  # importable by name, e.g. dyt.variants.Derf2d
    globals().setdefault(_first.__name__, _first)
    globals().setdefault(_last.__name__, _last)


def is_dyt_family(norm_name: str) -> bool:
    """True for DyT and its variants: norms built with an alpha init."""
    return norm_name in DYT_FAMILY
