"""Swap the norm layers of a built model for DyT.

Prefer building with DyT (``timm.create_model(..., norm_layer=...)``): a swap
after the fact cannot see functional norms (``F.layer_norm`` inside a forward)
and loses special inits (timm ResNets zero-init the last BN gain of a block).
Where a model cannot be built with DyT, ``convert_norms`` swaps an exact
allowlist of module types and refuses, in strict mode, any other norm-like
module it finds, so nothing is silently left behind.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Callable

import torch
from timm.layers import LayerNorm as TimmLayerNorm
from timm.layers import LayerNorm2d as TimmLayerNorm2d
from timm.layers import RmsNorm as TimmRmsNorm
from timm.layers import RmsNorm2d as TimmRmsNorm2d
from torch import nn

from dyt.nn.layers import DyT, DyT2d

__all__ = ["convert_norms", "count_norms", "is_norm_like", "UnsupportedNormError"]

# exact types (not isinstance: a subclass may carry an activation or another layout)
_CHANNELS_LAST = (nn.LayerNorm, TimmLayerNorm, nn.RMSNorm, TimmRmsNorm)
_CHANNELS_FIRST = (TimmLayerNorm2d, TimmRmsNorm2d, nn.BatchNorm1d, nn.BatchNorm2d)
SUPPORTED = {cls: DyT for cls in _CHANNELS_LAST} | {cls: DyT2d for cls in _CHANNELS_FIRST}

_NORM_BASES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, nn.LocalResponseNorm)
_NORM_NAME = re.compile(r"(Norm|Norm[123]d|NormAct|NormAct[123]d)$")


class UnsupportedNormError(TypeError):
    """A norm-like module that ``convert_norms`` does not know how to replace."""


def is_norm_like(module: nn.Module) -> bool:
    """True for normalization layers (and DyT, which stands in for one)."""
    if isinstance(module, (DyT, *_NORM_BASES)):
        return True
    return bool(_NORM_NAME.search(type(module).__name__))


def count_norms(model: nn.Module) -> dict[str, int]:
    """Number of norm-like modules (DyT included) in ``model``, by class name."""
    return dict(Counter(type(m).__name__ for m in model.modules() if is_norm_like(m)))


def _normalized_features(norm: nn.Module) -> int:
    if isinstance(norm, nn.modules.batchnorm._NormBase):
        return norm.num_features
    shape = tuple(norm.normalized_shape)
    if len(shape) != 1:
        raise UnsupportedNormError(
            f"{type(norm).__name__} normalizes over {shape}; DyT replaces norms over one channel dimension only"
        )
    return shape[0]


def _make_dyt(norm: nn.Module, alpha_init: float) -> DyT:
    cls = SUPPORTED[type(norm)]
    weight = getattr(norm, "weight", None)
    ref = next(iter(norm.parameters()), None)
    if ref is None:  # no affine: take device/dtype from a buffer if any
        ref = next(iter(norm.buffers()), torch.empty(0))
    return cls(
        _normalized_features(norm),
        alpha_init=alpha_init,
        elementwise_affine=weight is not None,
        bias=getattr(norm, "bias", None) is not None,  # RMSNorm has none: DyT neither (the paper's LLaMA DyT)
        device=ref.device,
        dtype=ref.dtype if ref.is_floating_point() else None,
    )


def convert_norms(model: nn.Module, to: str = "dyt", alpha_init: float = 0.5, strict: bool = True,
                  layers: dict[type, Callable[[int], nn.Module]] | None = None) -> nn.Module:
    """Replace every supported norm of ``model`` in place by DyT; return ``model``.

    Channels-last norms (``nn.LayerNorm``, timm ``LayerNorm``, ``nn.RMSNorm``,
    timm ``RmsNorm``) become ``DyT``; channels-first ones (timm ``LayerNorm2d``,
    ``RmsNorm2d``, ``nn.BatchNorm1d/2d``) become ``DyT2d``. The new layers are
    freshly initialised (weight 1, bias 0), as in the paper's training from
    scratch, with an affine only where the replaced norm had one (so the
    parameter count grows by one alpha per layer). With ``strict=True`` any other norm-like module (timm
    ``BatchNormAct2d``, ``LayerNormAct2d``, ``GroupNorm``, an unknown subclass)
    raises ``UnsupportedNormError`` before anything is changed.

    ``layers`` (``{norm type: factory(num_features)}``) replaces exactly those types with what the
    factories build instead (e.g. the norm registry's layer for each layout, ``dyt.run.builders.cnn``).
    """
    if to != "dyt":
        raise ValueError(f"convert_norms: unknown target {to!r} (supported: 'dyt')")
    targets, unsupported = [], []
    for name, module in model.named_modules():
        if type(module) in (layers or SUPPORTED):
            targets.append(name)
        elif is_norm_like(module) and not isinstance(module, DyT):
            unsupported.append(f"{name or '<root>'} ({type(module).__name__})")
    if strict and unsupported:
        raise UnsupportedNormError(
            "convert_norms cannot replace: " + ", ".join(unsupported)
            + ". Build the model with norm_layer=DyT instead, or pass strict=False to leave them."
        )
    if "" in targets:
        raise UnsupportedNormError("convert_norms: the model itself is a norm; wrap it in a module first")
    # build every replacement first, so an error leaves the model untouched
    def make(norm: nn.Module) -> nn.Module:
        return layers[type(norm)](_normalized_features(norm)) if layers else _make_dyt(norm, alpha_init)

    replacements = {name: make(model.get_submodule(name)) for name in targets}
    for name, new in replacements.items():
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, new)
    return model
