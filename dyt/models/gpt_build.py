"""Build the GPT of ``dyt/models/gpt.py`` from the config, resolving per-position alpha inits."""

from __future__ import annotations

from dataclasses import fields

from dyt.calibrate import calibration_target
from dyt.models.gpt import GPT, GPTConfig
from dyt.models.llm_alpha import paper_alpha_init
from dyt.models.norm import ConfigError, alpha_value
from dyt.variants import is_dyt_family


def resolve_alphas(norm_cfg, width: int) -> tuple[dict[str, float], str]:
    """Per-position alpha inits and a sentence on where they came from."""
    if str(norm_cfg.alpha_init) == "auto":
        attn, other, how = paper_alpha_init(width)
        base = {"attn": attn, "mlp": other, "final": other}
    else:
        alpha = alpha_value(norm_cfg.alpha_init)
        how = f"norm.alpha_init={norm_cfg.alpha_init}" if calibration_target(norm_cfg.alpha_init) else f"norm.alpha_init={alpha:g}"
        base = {"attn": alpha, "mlp": alpha, "final": alpha}
    for pos in base:
        explicit = norm_cfg.get(f"alpha_{pos}")
        if explicit is not None:
            base[pos] = alpha_value(explicit, f"norm.alpha_{pos}")
            how += f", norm.alpha_{pos}={explicit:g}"
    return base, how


def build_gpt(model_cfg, norm_cfg, vocab_size: int):
    style = model_cfg.arch
    kwargs = dict(model_cfg.kwargs)
    known = {f.name for f in fields(GPTConfig)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ConfigError(f"unknown GPT model.kwargs {unknown}: choose from {sorted(known - {'vocab_size', 'style', 'norm'})}")
    cfg = GPTConfig(vocab_size=vocab_size, style=style, norm=norm_cfg.name, **kwargs)
    cfg.fused = bool(norm_cfg.get("fused", True))
    if is_dyt_family(norm_cfg.name):  # DyT or a variant (dyt/variants.py)
        alphas, how = resolve_alphas(norm_cfg, cfg.n_embd)
        cfg.alpha_attn, cfg.alpha_mlp, cfg.alpha_final = alphas["attn"], alphas["mlp"], alphas["final"]
    else:
        how = "no DyT"
    embed_scale = norm_cfg.get("embed_scale")
    cfg.embed_scale = (style == "llama" and is_dyt_family(norm_cfg.name)) if embed_scale is None else bool(embed_scale)
    try:
        model = GPT(cfg)
    except (ValueError, AssertionError) as err:
        raise ConfigError(f"cannot build GPT: {err}") from None
    model.alpha_note = how
    model.resolved = {"alpha_attn": cfg.alpha_attn, "alpha_mlp": cfg.alpha_mlp, "alpha_final": cfg.alpha_final,
                      "embed_scale": cfg.embed_scale, "alpha_rule": how} if is_dyt_family(cfg.norm) else {}
    return model
