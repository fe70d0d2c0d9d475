"""Every norm the suite knows, by name, in one table: ``create_norm(name, dim)`` and ``norm_class(name)``.

timm's ``create_norm_layer`` is the model: a name and a layout give the class; the GPT builds its norms
with ``create_norm`` and the ViT/CNN builders hand ``norm_class`` (as timm's ``norm_layer``) to timm.

| name | channels-last ``(..., C)`` | channels-first ``(N, C, ...)`` |
| --- | --- | --- |
| ``ln`` | ``nn.LayerNorm`` | timm ``LayerNorm2d`` |
| ``rmsnorm`` | ``nn.RMSNorm`` (eps 1e-6, as LLaMA) | timm ``RmsNorm2d`` |
| ``bn`` | none (BatchNorm normalizes over the batch: ConvNets only) | ``nn.BatchNorm2d`` |
| ``none`` | none (normalizer-free models) | none |
| ``dyt`` and its variants (``dyt.nn.variants.DYT_FAMILY``) | ``DyT`` / the variant | ``DyT2d`` / its twin |

Whether a norm learns an alpha is a property of its class (``learns_alpha``): DyT and its variants do, the
``*_noalpha`` ones (``FixedAlpha``) and the normalizers do not.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from timm.layers import LayerNorm2d, RmsNorm2d
from torch import nn

from dyt.nn.variants import DYT_FAMILY

__all__ = ["NORM_CLASSES", "BASELINES", "create_norm", "norm_class", "learns_alpha", "has_alpha"]

NORM_CLASSES: dict[str, tuple[Callable | None, Callable | None]] = {
    "ln": (nn.LayerNorm, LayerNorm2d),
    "rmsnorm": (partial(nn.RMSNorm, eps=1e-6), RmsNorm2d),
    "bn": (None, nn.BatchNorm2d),
    "none": (None, None),
    **DYT_FAMILY,  # dyt, the squashing ablation, Derf, DyISRU: (channels-last class, channels-first class)
}
"""``name -> (channels-last layer, channels-first layer)``; ``None``: the norm has no layer of that layout."""

BASELINES = tuple(name for name in NORM_CLASSES if name not in DYT_FAMILY)  # no alpha: ln, rmsnorm, bn, none
_NO_LAYER = {"bn": "norm=bn replaces channels-first norms only (ResNet, VGG); this model normalizes tokens: "
                   "use norm=ln or norm=rmsnorm",
             "none": "norm=none (no norm layer) is for normalizer-free models only: model=nf_resnet26_small"}


def norm_class(name: str, channels_first: bool = False) -> Callable:
    """The layer (a class, or a ``partial`` of one) of norm ``name`` in that layout; ``ValueError`` naming the
    fix for an unknown name or a layout the norm has no layer for."""
    if name not in NORM_CLASSES:
        raise ValueError(f"unknown norm {name!r}: choose one of {', '.join(NORM_CLASSES)}")
    layer = NORM_CLASSES[name][1 if channels_first else 0]
    if layer is None:
        raise ValueError(_NO_LAYER[name] if name in _NO_LAYER else f"norm {name!r} has no layer for this layout")
    return layer


def _cls(layer: Callable) -> type:
    return layer.func if isinstance(layer, partial) else layer


def has_alpha(name: str) -> bool:
    """True for DyT and its variants: norms built with an alpha init (learnt or fixed)."""
    return name in DYT_FAMILY


def learns_alpha(name: str) -> bool:
    """True where the norm's alpha is a parameter the optimizer trains (the class says so: ``learns_alpha``)."""
    return has_alpha(name) and bool(getattr(_cls(NORM_CLASSES[name][0]), "learns_alpha", False))


def create_norm(name: str, dim: int, *, channels_first: bool = False, bias: bool = True, alpha_init: float = 0.5,
                **kwargs) -> nn.Module:
    """A norm layer over ``dim`` channels: ``bias`` where the norm has one (RMSNorm and BatchNorm do not take
    it: RMSNorm has none, BatchNorm always has one), ``alpha_init`` and ``kwargs`` (``fused``,
    ``alpha_per_channel``, ...) for DyT and its variants."""
    layer = norm_class(name, channels_first)
    if has_alpha(name):
        return layer(dim, alpha_init=alpha_init, bias=bias, **kwargs)
    if name == "ln" and not channels_first:
        return layer(dim, bias=bias, **kwargs)
    return layer(dim, **kwargs)
