"""``build_model(spec, num_classes) -> Built``: the one place that dispatches on model family.

Every builder takes the run's ``RunSpec`` (``dyt.run.spec``) and returns the model with what it decided on
the way (``Built.resolved``: stems, resolved inits, norm counts), which the run records in its config.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from torch import nn

from dyt.run.errors import ConfigError
from dyt.run.spec import CNN_FAMILIES, FAMILIES, RunSpec

__all__ = ["Built", "build_model", "FAMILIES"]


@dataclass
class Built:
    model: nn.Module
    resolved: dict = field(default_factory=dict)  # what the builder decided, for the run's record


def build_model(spec: "RunSpec", num_classes: int | None = None) -> Built:
    """The model of ``spec``; ``num_classes`` (classes or vocabulary size) defaults to ``data.num_classes``."""
    family = spec.model.family
    num_classes = num_classes or spec.data.num_classes
    if family == "vit":
        from dyt.run.builders.vit import build_vit

        return build_vit(spec, num_classes)
    if family == "gpt":
        from dyt.run.builders.gpt import build_gpt

        if not num_classes:
            raise ConfigError("a GPT needs the vocabulary size: build the data first (build_model(spec, data.num_classes))")
        return build_gpt(spec, num_classes)
    if family in CNN_FAMILIES:
        from dyt.run.builders.cnn import build_cnn

        return build_cnn(spec, num_classes)
    raise ConfigError(f"unknown model family {family!r}: choose one of {', '.join(FAMILIES)}")
