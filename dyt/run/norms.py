"""The norm of a run, resolved once: ``norm_spec(cfg) -> NormSpec``, and the layer a builder hands to timm.

The names and classes live in the layer library (``dyt.nn.norms``: one table, ``create_norm``); this module
reads ``norm.*`` from the composed config: ``norm.alpha_init`` (a number, ``auto`` or ``calibrate[:<target>]``,
parsed by ``dyt.run.alpha``) becomes an ``AlphaInit``, GPT per-position inits are resolved (the paper's
width rule for ``auto``, explicit ``norm.alpha_<position>`` on top). A norm variant needs nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Optional

from omegaconf import DictConfig

from dyt.nn.gpt import GPTConfig
from dyt.nn.norms import BASELINES, NORM_CLASSES, has_alpha, learns_alpha, norm_class
from dyt.nn.width_rule import paper_alpha_init
from dyt.run.alpha import AUTO, VALUE, AlphaInit, parse_alpha_init
from dyt.run.errors import ConfigError

POSITIONS = ("attn", "mlp", "final")  # GPT norm positions, each with its own alpha init
PLACEHOLDER_ALPHA = 1.0  # what a calibrated model is built with; calibration sets every alpha before step 0
NORMS = tuple(NORM_CLASSES)  # every norm.name


@dataclass(frozen=True)
class NormSpec:
    """The norm of every position: its name, tag and, for DyT and its variants, the resolved alpha inits."""

    name: str
    tag: str
    alpha: AlphaInit | None = None  # None: a norm without alpha (LN, RMSNorm, BN, none)
    positions: dict[str, float] | None = None  # GPT: the init of each position; None elsewhere
    rule: str | None = None  # where the inits came from (summary.json's alpha_init_note); None: not recorded
    per_channel: bool = False
    zero_init_last: bool | None = None
    fused: bool = True
    embed_scale: bool | None = None

    @property
    def has_alpha(self) -> bool:
        return self.alpha is not None

    @property
    def learns_alpha(self) -> bool:
        return learns_alpha(self.name)

    @property
    def calibration_target(self) -> float | None:
        return self.alpha.value if self.alpha is not None and self.alpha.calibrated else None

    @property
    def build_alpha(self) -> float:
        """The alpha every layer of a (non-GPT) model is built with."""
        if self.alpha is None or self.alpha.kind == AUTO:
            raise ConfigError(f"norm {self.name} has no single alpha init to build with")
        return PLACEHOLDER_ALPHA if self.alpha.calibrated else self.alpha.value


def norm_layer(norm: NormSpec, channels_first: bool = False) -> Optional[Callable]:
    """timm ``norm_layer`` for ``norm``; ``None`` for ``ln``: the model keeps its own LayerNorm (timm's eps)."""
    if norm.name == "ln":
        return None
    try:
        layer = norm_class(norm.name, channels_first)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if not norm.has_alpha:
        return layer
    return partial(layer, alpha_init=norm.build_alpha, alpha_per_channel=norm.per_channel, fused=norm.fused)


def _gpt_positions(norm_cfg, alpha: AlphaInit, width: int) -> tuple[dict[str, float], str]:
    """Per-position inits and a sentence on where they came from."""
    if alpha.kind == AUTO:
        attn, other, rule = paper_alpha_init(width)
        positions = {"attn": attn, "mlp": other, "final": other}
    else:
        value = PLACEHOLDER_ALPHA if alpha.calibrated else alpha.value
        rule = f"norm.alpha_init={alpha.text}" if alpha.calibrated else f"norm.alpha_init={alpha.value:g}"
        positions = dict.fromkeys(POSITIONS, value)
    for pos in POSITIONS:
        explicit = norm_cfg.get(f"alpha_{pos}")
        if explicit is not None:
            parsed = parse_alpha_init(explicit, f"norm.alpha_{pos}")
            if parsed.kind != VALUE:
                raise ConfigError(f"norm.alpha_{pos} must be a number > 0, got {explicit!r}")
            positions[pos] = parsed.value
            rule += f", norm.alpha_{pos}={parsed.value:g}"
    return positions, rule


def _check(cfg: DictConfig, gpt: bool) -> None:
    n, optim = cfg.norm, cfg.optim
    if n.name not in NORMS:
        raise ConfigError(f"unknown norm {n.name!r}: choose one of {', '.join(NORMS)}")
    if n.embed_scale and not gpt:
        raise ConfigError("norm.embed_scale (the scalar after the token embedding) is for GPT models; drop it")
    if n.alpha_per_channel and gpt:
        raise ConfigError("norm.alpha_per_channel is for ConvNets and ViTs; a GPT's DyT has one alpha per layer")
    if not learns_alpha(n.name) and (optim.alpha_lr_mult != 1.0 or optim.decay_alpha is not None):
        raise ConfigError(f"norm={n.name} has no learnable alpha: drop optim.alpha_lr_mult / optim.decay_alpha")


def norm_spec(cfg: DictConfig) -> NormSpec:
    """The norm of the run of ``cfg`` (``ConfigError`` naming the fix)."""
    n, gpt = cfg.norm, cfg.model.family == "gpt"
    _check(cfg, gpt)
    common = dict(name=n.name, tag=n.tag, per_channel=bool(n.alpha_per_channel), zero_init_last=n.zero_init_last,
                  fused=bool(n.fused))
    if n.name in BASELINES:
        embed = bool(n.embed_scale) if gpt else None
        return NormSpec(**common, rule="no DyT" if gpt else None, embed_scale=embed)
    assert has_alpha(n.name)
    alpha = parse_alpha_init(n.alpha_init)
    given = [f"norm.alpha_{p}" for p in POSITIONS if n.get(f"alpha_{p}") is not None]
    if alpha.calibrated and given:
        raise ConfigError(f"norm.alpha_init={n.alpha_init} sets every alpha from data: drop {', '.join(given)} "
                          "(or set them to null)")
    calibrated_rule = f"calibrated: alpha = {alpha.value:g} / std(input) on the first training batch"
    if not gpt:
        if alpha.kind == AUTO:
            raise ConfigError("norm.alpha_init=auto is the paper's LLM width rule: GPT models only; give a number")
        if given:
            raise ConfigError(f"{', '.join(given)}: per-position alphas are for GPT models; use norm.alpha_init")
        return NormSpec(**common, alpha=alpha, rule=calibrated_rule if alpha.calibrated else None)
    width = int(cfg.model.kwargs.get("n_embd", GPTConfig.n_embd))
    positions, rule = _gpt_positions(n, alpha, width)
    embed = (cfg.model.arch == "llama") if n.embed_scale is None else bool(n.embed_scale)
    return NormSpec(**common, alpha=alpha, positions=positions, rule=calibrated_rule if alpha.calibrated else rule,
                    embed_scale=embed)
