"""The norm axis of every experiment: ``norm.name`` -> a constructor for timm's ``norm_layer``."""

from __future__ import annotations

from functools import partial
from typing import Callable, Optional

from timm.layers import RmsNorm, RmsNorm2d

from dyt.layers import DyT, DyT2d, check_alpha_init

NORMS = ("ln", "rmsnorm", "dyt")


class ConfigError(ValueError):
    """A config value that cannot work; the message names the fix."""


def alpha_value(value, key: str = "norm.alpha_init") -> float:
    """A positive finite alpha, or ``ConfigError`` naming the key."""
    try:
        return check_alpha_init(float(value))
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number > 0, got {value!r} (the paper uses 0.5)") from None


def norm_layer(norm_cfg, channels_first: bool = False) -> Optional[Callable]:
    """timm ``norm_layer`` for ``norm_cfg``; ``None`` keeps the model's own LayerNorm."""
    name = norm_cfg.name
    if name == "ln":
        return None
    if name == "rmsnorm":
        return RmsNorm2d if channels_first else RmsNorm
    if name == "dyt":
        return partial(DyT2d if channels_first else DyT, alpha_init=alpha_value(norm_cfg.alpha_init))
    raise ConfigError(f"unknown norm {name!r}: choose one of {', '.join(NORMS)} (norm=dyt)")
