"""One run, resolved once from the composed Hydra config: ``build_spec(cfg) -> RunSpec``.

Every string form is read here and handed down as values: ``norm.alpha_init`` (a number, ``auto`` or
``calibrate[:<target>]``, parsed by ``dyt.run.alpha``) becomes an ``AlphaInit``, GPT per-position inits are
resolved (the paper's width rule for ``auto``, explicit ``norm.alpha_<position>`` on top), and the run's
label (``arm``) and run dir come from the config (``dyt.run.identity``). Builders, the trainer and the
run dir take this spec; a config that cannot work fails here with a ``ConfigError`` naming the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from dyt.nn.gpt import GPTConfig
from dyt.nn.width_rule import paper_alpha_init
from dyt.run.alpha import AUTO, VALUE, AlphaInit, parse_alpha_init
from dyt.run.builders import FAMILIES
from dyt.run.errors import ConfigError
from dyt.run.norms import BASELINES, NORMS

POSITIONS = ("attn", "mlp", "final")  # GPT norm positions, each with its own alpha init
PLACEHOLDER_ALPHA = 1.0  # what a calibrated model is built with; calibration sets every alpha before step 0


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
    def calibration_target(self) -> float | None:
        return self.alpha.value if self.alpha is not None and self.alpha.calibrated else None

    @property
    def build_alpha(self) -> float:
        """The alpha every layer of a (non-GPT) model is built with."""
        if self.alpha is None or self.alpha.kind == AUTO:
            raise ConfigError(f"norm {self.name} has no single alpha init to build with")
        return PLACEHOLDER_ALPHA if self.alpha.calibrated else self.alpha.value


@dataclass(frozen=True)
class RunSpec:
    """A run: the composed config (its model, data, optim, trainer and logger sections are read as they are)
    and what was resolved from it once."""

    cfg: DictConfig
    experiment: str
    seed: int
    arm: str
    out_dir: Path
    norm: NormSpec

    model = property(lambda self: self.cfg.model)
    data = property(lambda self: self.cfg.data)
    optim = property(lambda self: self.cfg.optim)
    trainer = property(lambda self: self.cfg.trainer)
    logger = property(lambda self: self.cfg.logger)

    @property
    def run_name(self) -> str:
        """The W&B run name: ``<arm>-s<seed>``."""
        return f"{self.arm}-s{self.seed}"

    def resolved(self) -> dict:
        """What the spec resolved beyond the config, for the run's record (``resolved:`` in config.yaml)."""
        out = {"arm": self.arm}
        if self.norm.positions is not None:
            out.update({f"alpha_{p}": v for p, v in self.norm.positions.items()})
            out.update({"embed_scale": self.norm.embed_scale, "alpha_rule": self.norm.rule})
        return out

    def record(self) -> dict:
        """The resolved config as ``config.yaml`` holds it (builders add their own ``resolved`` entries)."""
        record = OmegaConf.to_container(self.cfg, resolve=True)
        record["arm"] = self.arm
        record["resolved"] = self.resolved()
        return record


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


def _norm_spec(cfg: DictConfig) -> NormSpec:
    n = cfg.norm
    if n.name not in NORMS:
        raise ConfigError(f"unknown norm {n.name!r}: choose one of {', '.join(NORMS)}")
    common = dict(name=n.name, tag=n.tag, per_channel=bool(n.get("alpha_per_channel", False)),
                  zero_init_last=n.get("zero_init_last"), fused=bool(n.get("fused", True)))
    gpt = cfg.model.family == "gpt"
    embed_scale = n.get("embed_scale")
    if embed_scale and not gpt:
        raise ConfigError("norm.embed_scale (the scalar after the token embedding) is for GPT models; drop it")
    if common["per_channel"] and gpt:
        raise ConfigError("norm.alpha_per_channel is for ConvNets and ViTs; a GPT's DyT has one alpha per layer")
    learnable = n.name not in BASELINES and not n.name.endswith("_noalpha")
    if not learnable and (cfg.optim.get("alpha_lr_mult", 1.0) != 1.0 or cfg.optim.get("decay_alpha") is not None):
        raise ConfigError(f"norm={n.name} has no learnable alpha: drop optim.alpha_lr_mult / optim.decay_alpha")
    if n.name in BASELINES:
        embed = (bool(embed_scale) if embed_scale is not None else False) if gpt else None
        return NormSpec(**common, rule="no DyT" if gpt else None, embed_scale=embed)
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
    embed = (cfg.model.arch == "llama") if embed_scale is None else bool(embed_scale)
    return NormSpec(**common, alpha=alpha, positions=positions, rule=calibrated_rule if alpha.calibrated else rule,
                    embed_scale=embed)


def _check(cfg: DictConfig) -> None:
    """Values the schema's types cannot rule out."""
    t = cfg.trainer
    checks = [
        (cfg.model.family in FAMILIES, f"unknown model.family {cfg.model.family!r}: choose one of {', '.join(FAMILIES)}"),
        (t.max_steps is None or t.max_steps > 0, f"trainer.max_steps must be > 0, got {t.max_steps}"),
        (t.max_steps is not None or t.epochs > 0, f"trainer.epochs must be > 0, got {t.epochs}"),
        (cfg.data.batch_size > 0, f"data.batch_size must be > 0, got {cfg.data.batch_size}"),
        (cfg.optim.lr > 0, f"optim.lr must be > 0, got {cfg.optim.lr}"),
        (cfg.optim.name == "adamw", f"unknown optim.name {cfg.optim.name!r}: choose adamw"),
        (cfg.optim.alpha_lr_mult > 0, f"optim.alpha_lr_mult must be > 0, got {cfg.optim.alpha_lr_mult}"),
        (cfg.logger.backend in ("wandb", "none"), f"unknown logger.backend {cfg.logger.backend!r}: use wandb or none (logger=none)"),
        (t.precision in ("auto", "fp32", "bf16"), f"unknown trainer.precision {t.precision!r}: use auto, fp32 or bf16"),
        (t.clip_mode in ("norm", "agc"), f"unknown trainer.clip_mode {t.clip_mode!r}: use norm or agc"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def build_spec(cfg: DictConfig) -> RunSpec:
    """The run of ``cfg`` (raises ``ConfigError`` naming the fix)."""
    _check(cfg)
    return RunSpec(cfg=cfg, experiment=cfg.name, seed=int(cfg.seed), arm=str(cfg.arm), out_dir=Path(cfg.out_dir),
                   norm=_norm_spec(cfg))
