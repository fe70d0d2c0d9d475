"""The two ways in from the command line: one of our experiments (``--experiment``) or a timm model by name.

``--experiment EXP [overrides]``: the baseline is ``experiment=EXP`` with its own norm (LN, BN or RMSNorm);
the DyT arm adds the norm overrides (``norm=...``, ``norm.*``, ``optim.alpha_lr_mult``, ``optim.decay_alpha``;
``norm=dyt`` when none is given); every other override applies to both. Both go through
``dyt.run.spec.build_spec`` and ``dyt.run.builders.build_model`` (so the GPT gets the paper's per-position
alphas and LLaMA its embedding scalar, as in a real run), from the same seed; batches are
``build_data(cfg).train.batch(step)``, at most ``IMAGE_BATCH`` images a step unless ``--batch-size`` says
otherwise; the optimizer settings are the experiment's (``optim.*``, ``trainer.clip_grad``).

``--timm NAME``: ``timm.create_model(NAME, in_chans=1, num_classes=10, **model_kwargs)`` on Fashion-MNIST
from our data pipeline (``experiment=vit``'s data), handed to ``dyt.diagnose.diagnose``.
"""

from __future__ import annotations

import copy

import torch
import yaml

from dyt.nn import dyt_layers
from dyt.run.errors import ConfigError, DataError
from dyt.diagnose.arms import AlphaChoice, Arm, Settings, describe
from dyt.diagnose.inputs import Batches, DiagnoseError, first_loss, default_loss
from dyt.diagnose.init_stats import init_stats
from dyt.diagnose.static import static_report

IMAGE_BATCH = 64
ARM_KEYS = ("norm", "optim.alpha_lr_mult", "optim.decay_alpha")


def key_of(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def split_overrides(overrides: list[str], choice: AlphaChoice) -> tuple[list[str], list[list[str]]]:
    """``(shared, [overrides of each DyT arm])``."""
    shared = [o for o in overrides if not key_of(o).startswith(ARM_KEYS)]
    arm = [o for o in overrides if key_of(o).startswith(ARM_KEYS)]
    if not any(key_of(o) == "norm" for o in arm):
        arm = ["norm=dyt", *arm]
    if choice.value is not None:
        arm.append(f"norm.alpha_init={choice.value:g}")
    arms = [arm]
    if choice.calibrate is not None:
        target = "calibrate" if choice.calibrate == 1.0 else f"calibrate:{choice.calibrate:g}"
        arms.append([o for o in arm if not key_of(o).startswith("norm.alpha")] + [f"norm.alpha_init={target}"])
    return shared, arms


def compose_cfg(*overrides: str):
    from dyt.run.schema import compose

    try:
        return compose(*overrides)
    except Exception as err:  # Hydra's own errors: a misspelled key or group
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DiagnoseError(f"cannot compose {' '.join(overrides)}: {first}") from None


def settings_of(cfg, lr: float | None) -> Settings:
    o, t = cfg.optim, cfg.trainer
    return Settings(lr=lr or float(o.lr), weight_decay=float(o.weight_decay), betas=tuple(o.betas),
                    decay_1d=bool(o.decay_1d), alpha_lr_mult=float(o.get("alpha_lr_mult", 1.0)),
                    decay_alpha=o.get("decay_alpha"), clip_grad=t.clip_grad if t.clip_mode == "norm" else None)


def build(cfg, num_classes: int | None, seed: int):
    """``(spec, model)`` through our builders, from ``seed`` (the arms start from the same weights)."""
    from dyt.run.builders import build_model
    from dyt.run.spec import build_spec

    try:
        spec = build_spec(cfg)
        torch.manual_seed(seed)
        return spec, build_model(spec, num_classes).model
    except ConfigError as err:
        raise DiagnoseError(str(err)) from None


def load_data(cfg):
    from dyt.run.data import build_data

    try:
        return build_data(cfg)
    except DataError as err:
        raise DiagnoseError(f"{err} (run `make data` / `make data-text`)") from None


def own_name(arm: str, baseline: str) -> str:
    """An arm's name without the suffixes it shares with the baseline (``dyt-a0.5+batch_size-64`` -> ``dyt-a0.5``)."""
    shared = set(baseline.split("+")[1:])
    head, *parts = arm.split("+")
    return head + "".join(f"+{p}" for p in parts if p not in shared)


def dyt_label(spec, model) -> tuple[str, str]:
    kind = "DyT" if spec.norm.name == "dyt" else spec.norm.name
    if spec.norm.calibration_target is not None:
        return f"{kind} calibrated alpha", f"calibrated: {spec.norm.calibration_target:g} / std(input) per layer"
    text = describe({n: float(m.alpha.detach().mean()) for n, m in dyt_layers(model)})  # as built
    return f"{kind} {text}", text


def experiment_setup(exp: str, overrides: list[str], choice: AlphaChoice, steps: int, seed: int = 0,
                     batch_size: int | None = None, lr: float | None = None, eval_batches: int = 4):
    """``(name, arms, batches, static, init)`` of ``--experiment EXP``."""
    shared, arm_overrides = split_overrides(list(overrides), choice)
    common = [f"experiment={exp}", "logger=none", f"seed={seed}", *shared]
    cfg = compose_cfg(*common)
    size = batch_size or (min(cfg.data.batch_size, IMAGE_BATCH) if cfg.data.kind == "image" else None)
    if size and size != cfg.data.batch_size:
        common.append(f"data.batch_size={size}")
        cfg = compose_cfg(*common)
    data = load_data(cfg)
    spec, base_model = build(cfg, data.num_classes, seed)
    arms = [Arm(own_name(spec.arm, spec.arm), spec.norm.name, base_model, settings_of(cfg, lr), baseline=True)]
    for extra in arm_overrides:
        arm_cfg = compose_cfg(*common, *extra)
        arm_spec, model = build(arm_cfg, data.num_classes, seed)
        if not dyt_layers(model):
            raise DiagnoseError(f"{' '.join(extra)} builds no DyT layer: choose a DyT-family norm "
                                "(norm=dyt, derf, ...)")
        label, alpha = dyt_label(arm_spec, model)
        arms.append(Arm(own_name(arm_spec.arm, spec.arm), label, model, settings_of(arm_cfg, lr),
                        arm_spec.norm.calibration_target, alpha))
    batches = Batches(data.train.batch, steps, eval_batches)
    first_loss(copy.deepcopy(base_model), batches[0], default_loss)  # a copy: BatchNorm's stats stay put
    kind = "lm" if cfg.model.family == "gpt" else "vision"
    static = static_report(base_model, data.num_classes, kind)
    fixed = [a for a in arms[1:] if a.calibrate is None]
    if fixed:
        built = {n: float(m.alpha.detach().mean()) for n, m in dyt_layers(fixed[0].model)}
        static.alphas = {n: built.get(n, v) for n, v in static.alphas.items()}
        static.alpha_rule = f"as built by the experiment's norm config ({fixed[0].name}: {fixed[0].alpha})"
    if any("embed_scale" in n for a in arms[1:] for n, _ in a.model.named_parameters()):
        static.notes = [n for n in static.notes if "learnable scalar" not in n] + [
            "the DyT arm carries the paper's learnable embedding scalar (embed_scale, init sqrt(width))"]
    target = next((a.calibrate for a in arms if a.calibrate is not None), 1.0)
    init = init_stats(base_model, batches[0][0], static.alphas, target)
    return f"{exp}-{arms[1].name}", arms, batches, static, init


def parse_kwargs(items: list[str]) -> dict:
    """``key=value`` pairs, values read as YAML scalars (``28`` -> 28, ``avg`` -> "avg", ``0.1`` -> 0.1)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DiagnoseError(f"--model-kwargs {item!r}: write key=value (e.g. img_size=28)")
        out[key] = yaml.safe_load(value)
    return out


def timm_setup(name: str, kwargs: dict, seed: int = 0, batch_size: int | None = None):
    """``(model, batch function)`` of ``--timm NAME`` on Fashion-MNIST."""
    import timm

    try:
        torch.manual_seed(seed)
        model = timm.create_model(name, pretrained=False, **{"in_chans": 1, "num_classes": 10, **kwargs})
    except Exception as err:  # an unknown name, a kwarg the class does not take, a bad value: the user's to fix
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DiagnoseError(f"timm cannot build {name!r} with {kwargs} ({type(err).__name__}: {first}): "
                            "check the name (timm.list_models) and --model-kwargs") from None
    cfg = compose_cfg("experiment=vit", "logger=none", f"seed={seed}", f"data.batch_size={batch_size or IMAGE_BATCH}")
    return model, load_data(cfg).train.batch
