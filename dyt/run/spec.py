"""One run, resolved once from the composed Hydra config: ``build_spec(cfg) -> RunSpec``.

Every section is read here and handed down as frozen values, validated in one place: the norm
(``dyt.run.norms.norm_spec``: ``norm.alpha_init`` parsed, GPT per-position inits resolved), the optimizer
(``OptimSpec``) and the trainer settings (``TrainerSpec``); the run's label (``arm``) and run dir come from the
config (``dyt.run.identity``). Defaults are written once, in the schema (``dyt.run.schema``). Builders, the
trainer and the run dir take this spec; a config that cannot work fails here with a ``ConfigError`` naming
the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional

from omegaconf import DictConfig, OmegaConf

from dyt.run.errors import ConfigError
from dyt.run.norms import NormSpec, norm_spec

CNN_FAMILIES = ("resnet", "vgg", "convnext", "nfnet")
FAMILIES = ("vit", "gpt", *CNN_FAMILIES)  # model.family: dyt.run.builders.build_model dispatches on it


@dataclass(frozen=True)
class OptimSpec:
    """``optim.*`` as values (the schema's ``OptimConfig`` holds the defaults and the meaning of each)."""

    name: str
    lr: float
    weight_decay: float
    decay_1d: bool
    betas: tuple
    eps: float
    warmup_steps: Optional[int]
    warmup_frac: float
    min_lr_ratio: float
    batch_size_ref: Optional[int]
    alpha_lr_mult: float
    decay_alpha: Optional[bool]


@dataclass(frozen=True)
class TrainerSpec:
    """``trainer.*`` as values (the schema's ``TrainerConfig`` holds the defaults and the meaning of each)."""

    max_steps: Optional[int]
    epochs: float
    eval_every: int
    ckpt_every: int
    log_every: int
    clip_grad: Optional[float]
    clip_mode: str
    label_smoothing: float
    ema_decay: float
    precision: str
    device: str
    compile: bool
    threads: Optional[int]
    extend: bool
    progress: bool
    diagnostics: bool
    deterministic: bool


def _frozen(cls, section) -> object:
    values = OmegaConf.to_container(section, resolve=True)
    names = {f.name for f in fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names})


@dataclass(frozen=True)
class RunSpec:
    """A run: the composed config (its model, data and logger sections are read as they are) and what was
    resolved from it once: the norm, the optimizer and the trainer settings."""

    cfg: DictConfig
    experiment: str
    seed: int
    arm: str
    out_dir: Path
    norm: NormSpec
    optim: OptimSpec
    trainer: TrainerSpec

    model = property(lambda self: self.cfg.model)
    data = property(lambda self: self.cfg.data)
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
                   norm=norm_spec(cfg), optim=_frozen(OptimSpec, cfg.optim), trainer=_frozen(TrainerSpec, cfg.trainer))
