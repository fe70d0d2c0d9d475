"""The norm axis of every experiment: ``norm.name`` -> a constructor for timm's ``norm_layer``.

``NORMS`` maps each name to a factory ``(norm_cfg, channels_first) -> norm_layer | None``
(``None`` keeps the model's own norm, the baseline). Add a variant by adding an entry.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Optional

from timm.layers import RmsNorm, RmsNorm2d

from dyt.layers import DyT, DyT2d, check_alpha_init


class ConfigError(ValueError):
    """A config value that cannot work; the message names the fix."""


def alpha_value(value, key: str = "norm.alpha_init") -> float:
    """A positive finite alpha, or ``ConfigError`` naming the key."""
    try:
        return check_alpha_init(float(value))
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number > 0, got {value!r} (the paper uses 0.5)") from None


def _dyt(norm_cfg, channels_first: bool) -> Callable:
    return partial(
        DyT2d if channels_first else DyT,
        alpha_init=alpha_value(norm_cfg.alpha_init),
        alpha_per_channel=bool(norm_cfg.get("alpha_per_channel", False)),
    )


NORMS: dict[str, Callable] = {
    "ln": lambda norm_cfg, channels_first: None,
    "rmsnorm": lambda norm_cfg, channels_first: RmsNorm2d if channels_first else RmsNorm,
    "dyt": _dyt,
}


def norm_layer(norm_cfg, channels_first: bool = False) -> Optional[Callable]:
    """timm ``norm_layer`` for ``norm_cfg``; ``None`` keeps the model's own norm (LayerNorm / BatchNorm)."""
    factory = NORMS.get(norm_cfg.name)
    if factory is None:
        raise ConfigError(f"unknown norm {norm_cfg.name!r}: choose one of {', '.join(NORMS)} (norm=dyt)")
    return factory(norm_cfg, channels_first)
