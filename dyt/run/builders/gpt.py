"""The GPT of ``dyt/nn/gpt.py`` for a run: its norm and the per-position alpha inits the spec resolved."""

from __future__ import annotations

from dataclasses import fields
from dyt.nn.gpt import GPT, GPTConfig
from dyt.run.builders import Built
from dyt.run.errors import ConfigError
from dyt.run.spec import RunSpec


def build_gpt(spec: "RunSpec", vocab_size: int) -> Built:
    kwargs = dict(spec.model.kwargs)
    known = {f.name for f in fields(GPTConfig)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ConfigError(f"unknown GPT model.kwargs {unknown}: choose from {sorted(known - {'vocab_size', 'style', 'norm'})}")
    norm = spec.norm
    alphas = {f"alpha_{p}": v for p, v in (norm.positions or {}).items()}
    cfg = GPTConfig(vocab_size=vocab_size, style=spec.model.arch, norm=norm.name, fused=norm.fused,
                    embed_scale=bool(norm.embed_scale), **alphas, **kwargs)
    try:
        return Built(GPT(cfg))
    except (ValueError, AssertionError) as err:
        raise ConfigError(f"cannot build GPT: {err}") from None
