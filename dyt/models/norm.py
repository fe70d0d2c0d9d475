"""The norm axis of every experiment: ``norm.name`` -> a constructor for timm's ``norm_layer``.

``NORMS`` maps each name to a factory ``(norm_cfg, channels_first) -> norm_layer | None``
(``None`` keeps the model's own norm, the baseline). Add a variant by adding an entry.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Optional

from timm.layers import RmsNorm, RmsNorm2d
from torch import nn

from dyt.calibrate import PLACEHOLDER_ALPHA, calibration_target
from dyt.layers import check_alpha_init
from dyt.variants import DYT_FAMILY


class ConfigError(ValueError):
    """A config value that cannot work; the message names the fix."""


def alpha_value(value, key: str = "norm.alpha_init") -> float:
    """A positive finite alpha, or ``ConfigError`` naming the key.

    ``calibrate[:<target>]`` gives the placeholder a model is built with (``dyt.calibrate`` sets the alphas)."""
    try:
        if calibration_target(value) is not None:
            return PLACEHOLDER_ALPHA
    except ValueError as err:
        raise ConfigError(str(err)) from None
    try:
        return check_alpha_init(float(value))
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number > 0, got {value!r} (the paper uses 0.5)") from None


def _dyt_family(name: str) -> Callable:
    """The factory for DyT or one of its variants (``dyt/variants.py``): the layer of the position's layout."""

    def factory(norm_cfg, channels_first: bool) -> Callable:
        return partial(DYT_FAMILY[name][1 if channels_first else 0],
                       alpha_init=alpha_value(norm_cfg.alpha_init),
                       alpha_per_channel=bool(norm_cfg.get("alpha_per_channel", False)),
                       fused=bool(norm_cfg.get("fused", True)))

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
    "ln": lambda norm_cfg, channels_first: None,
    "rmsnorm": lambda norm_cfg, channels_first: RmsNorm2d if channels_first else RmsNorm,
    # dyt, and the squashing ablation (hardtanh, sigmoid, identity, *_noalpha), Derf, DyISRU: dyt/variants.py
    **{name: _dyt_family(name) for name in DYT_FAMILY},
    "bn": lambda norm_cfg, channels_first: _batchnorm(channels_first),
    "none": lambda norm_cfg, channels_first: _no_norm(),
}


def norm_layer(norm_cfg, channels_first: bool = False) -> Optional[Callable]:
    """timm ``norm_layer`` for ``norm_cfg``; ``None`` keeps the model's own norm (LayerNorm / BatchNorm)."""
    factory = NORMS.get(norm_cfg.name)
    if factory is None:
        raise ConfigError(f"unknown norm {norm_cfg.name!r}: choose one of {', '.join(NORMS)} (norm=dyt)")
    return factory(norm_cfg, channels_first)


BASELINES = tuple(name for name in NORMS if name not in DYT_FAMILY)  # no alpha: ln, rmsnorm, bn, none
