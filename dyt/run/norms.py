"""The norm axis of every experiment: ``norm.name`` -> the layer each norm position of a model gets.

``NORMS`` maps a name to a factory ``(norm: NormSpec, channels_first: bool) -> norm_layer | None`` (timm's
``norm_layer`` signature; ``None`` keeps the model's own norm, the baseline). A DyT variant is one entry
of ``dyt.nn.variants.DYT_FAMILY`` and needs nothing here.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable, Optional

from timm.layers import RmsNorm, RmsNorm2d
from torch import nn

from dyt.nn.variants import DYT_FAMILY
from dyt.run.errors import ConfigError

if TYPE_CHECKING:
    from dyt.run.spec import NormSpec


def _dyt_family(name: str) -> Callable:
    """DyT or one of its variants (``dyt/nn/variants.py``): the class of the position's layout."""

    def factory(norm: "NormSpec", channels_first: bool) -> Callable:
        return partial(DYT_FAMILY[name][1 if channels_first else 0], alpha_init=norm.build_alpha,
                       alpha_per_channel=norm.per_channel, fused=norm.fused)

    return factory


def _batchnorm(channels_first: bool) -> Callable:
    """BatchNorm, the ConvNet baseline: channels-first positions only (ResNet, VGG)."""
    if not channels_first:
        raise ConfigError("norm=bn replaces channels-first norms only (ResNet, VGG); "
                          "this model normalizes tokens: use norm=ln or norm=rmsnorm")
    return nn.BatchNorm2d


def _no_norm() -> Callable:
    raise ConfigError("norm=none (no norm layer) is for normalizer-free models only: model=nf_resnet26_small")


NORMS: dict[str, Callable] = {
    "ln": lambda norm, channels_first: None,
    "rmsnorm": lambda norm, channels_first: RmsNorm2d if channels_first else RmsNorm,
    **{name: _dyt_family(name) for name in DYT_FAMILY},  # dyt, the squashing ablation, Derf, DyISRU
    "bn": lambda norm, channels_first: _batchnorm(channels_first),
    "none": lambda norm, channels_first: _no_norm(),
}

BASELINES = tuple(name for name in NORMS if name not in DYT_FAMILY)  # no alpha: ln, rmsnorm, bn, none


def norm_layer(norm: "NormSpec", channels_first: bool = False) -> Optional[Callable]:
    """timm ``norm_layer`` for ``norm``; ``None`` keeps the model's own norm (LayerNorm / BatchNorm)."""
    return NORMS[norm.name](norm, channels_first)
