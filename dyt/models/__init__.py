"""``build_model(cfg)``: the one place that dispatches on model family."""

from __future__ import annotations

from torch import nn

from dyt.models.norm import ConfigError, norm_layer
from dyt.models.vit import build_vit

FAMILIES = {"vit": build_vit}

__all__ = ["build_model", "ConfigError", "norm_layer", "FAMILIES"]


def build_model(cfg) -> nn.Module:
    family = cfg.model.family
    if family not in FAMILIES:
        raise ConfigError(f"unknown model family {family!r}: choose one of {', '.join(FAMILIES)}")
    return FAMILIES[family](cfg.model, cfg.norm, cfg.data)
