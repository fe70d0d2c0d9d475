"""The norm axis of every experiment: ``norm.name`` -> a constructor for timm's ``norm_layer``."""

from __future__ import annotations

from functools import partial
from typing import Callable, Optional

from dyt.layers import DyT, DyT2d, check_alpha_init

NORMS = ("ln", "dyt")


class ConfigError(ValueError):
    """A config value that cannot work; the message names the fix."""


def norm_layer(norm_cfg, channels_first: bool = False) -> Optional[Callable]:
    """timm ``norm_layer`` for ``norm_cfg``; ``None`` keeps the model's own LayerNorm."""
    name = norm_cfg.name
    if name == "ln":
        return None
    if name == "dyt":
        try:
            alpha_init = check_alpha_init(norm_cfg.alpha_init)
        except ValueError as err:
            raise ConfigError(str(err).replace("alpha_init", "norm.alpha_init", 1)) from None
        return partial(DyT2d if channels_first else DyT, alpha_init=alpha_init)
    raise ConfigError(f"unknown norm {name!r}: choose one of {', '.join(NORMS)} (norm=dyt)")
