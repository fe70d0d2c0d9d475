"""``build_model(cfg)``: the one place that dispatches on model family."""

from __future__ import annotations

from torch import nn

from dyt.models.cnn import CNN_FAMILIES, build_cnn
from dyt.models.gpt_build import build_gpt
from dyt.models.norm import ConfigError, norm_layer
from dyt.models.vit import build_vit

FAMILIES = ("vit", "gpt", *CNN_FAMILIES)

__all__ = ["build_model", "ConfigError", "norm_layer", "FAMILIES"]


def build_model(cfg, num_classes: int | None = None) -> nn.Module:
    """The model of ``cfg``; ``num_classes`` (classes or vocabulary size) defaults to ``cfg.data.num_classes``."""
    family = cfg.model.family
    num_classes = num_classes or cfg.data.num_classes
    if family == "vit":
        return build_vit(cfg.model, cfg.norm, cfg.data, num_classes)
    if family == "gpt":
        if not num_classes:
            raise ConfigError("a GPT needs the vocabulary size: build the data first (build_model(cfg, data.num_classes))")
        return build_gpt(cfg.model, cfg.norm, num_classes)
    if family in CNN_FAMILIES:
        return build_cnn(cfg.model, cfg.norm, cfg.data, num_classes)
    raise ConfigError(f"unknown model family {family!r}: choose one of {', '.join(FAMILIES)}")
