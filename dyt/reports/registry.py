"""Every claim the suite tests, declared once, and the paper's numbers, written once.

``EXPERIMENTS``: one entry per ``results/<experiment>/`` report (its runs folders, metric, the paper's claim
and table). ``CLAIMS``: one entry per claim, with its arms given as command-line overrides of the
experiment (``Arm("norm=dyt")``: the runs ``python -m dyt.train experiment=vit norm=dyt`` makes), the metric
and its direction, the paper's numbers, the expectation (match / better / worse, or an evaluator for
claims that are not a comparison of two arms) and the command that makes the runs. ``results/REPORT.md``,
each ``results/<experiment>/README.md`` and the README's results table are generated from these.

Adding a claim: its experiment config in ``conf/experiment/`` and one ``Claim`` below.

    Paper numbers: "Transformers without Normalization" (Zhu et al., CVPR 2025, arXiv 2503.10622; tables as
    in ../shared/paper-facts.md), the Derf paper ("Stronger Normalization-Free Transformers", arXiv 2512.10938).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache


@dataclass(frozen=True)
class PaperRow:
    """One setting of a paper table: the baseline's number and DyT's (two columns of one table)."""

    setting: str
    base: float | str
    dyt: float | str

    def __str__(self) -> str:
        return f"{self.setting} {self.base} → {self.dyt}"


# -- the papers' numbers (ImageNet-1K top-1 %, or loss) ------------------------------------------------------
VIT_B, VIT_L = PaperRow("ViT-B", 82.3, 82.5), PaperRow("ViT-L", 83.1, 83.6)
CONVNEXT_B, CONVNEXT_L = PaperRow("ConvNeXt-B", 83.7, 83.7), PaperRow("ConvNeXt-L", 84.3, 84.4)
RESNET50, VGG19 = PaperRow("ResNet-50", 76.2, 68.9), PaperRow("VGG19", 72.7, 71.0)
GPT2_124M = PaperRow("GPT-2 124M, OpenWebText val loss (Derf paper)", 2.94, 2.97)
LLAMA_7B = PaperRow("LLaMA 7B, The Pile final train loss (paper)", 1.59, "1.60")  # as printed: 1.60
LLAMA_70B = PaperRow("LLaMA 70B, The Pile final train loss (paper)", 1.45, 1.45)
DERF_GPT2 = 2.94  # Derf paper: GPT-2 124M val loss with Derf (LN 2.94, DyT 2.97)
DERF_VIT_B = 82.8  # Derf paper: ViT-B top-1 with Derf (LN 82.3)
# the squashing ablation, ViT-B (ViT-S beside): top-1 with a learnable alpha, and with alpha fixed
SQUASH_VIT_B = {"identity": "61.0, then diverged", "dyt": 82.5, "hardtanh": 82.2, "sigmoid": 81.6}
SQUASH_VIT_B_NOALPHA = {"dyt": 81.1, "hardtanh": 80.7, "sigmoid": 80.7}
SQUASH_VIT_S = {"identity": "58.5, then diverged", "dyt": 80.3, "hardtanh": 79.9, "sigmoid": 79.6}
# the regime study (arXiv 2604.23434, "When Does Removing LayerNorm Help?", GPT-2 family on WikiText-103)
LADDER_PAPER = ("paper: parity at full budgets; GPT-2 64M: DyT's gap 0.68 → 0.36 nats from 5k to 10k steps "
                "(arXiv 2604.23434)")
ADAM_LIMIT = "— (Adam moves a scalar by about lr per step: at lr 1e-3 alpha travels at most ~0.3 in 300 steps)"
SWIGLU_PAPER = ("LLaMA-style DyT collapsed in 1 of 3 seeds; a GELU MLP made every seed converge, 4.48 ± 0.01 "
                "(arXiv 2604.23434)")
SPEED_UNCOMPILED, SPEED_COMPILED = "8.3 → 4.8", "equal compiled"  # LLaMA-7B, H100, bf16: norm layers' training time


@dataclass(frozen=True)
class Experiment:
    """A ``results/<key>/`` report: the runs it reads, the metric its verdicts test, the paper's claim and table."""

    key: str
    folders: tuple[str, ...]  # runs/<folder> (the experiment's ``name``)
    metric: str
    higher_is_better: bool
    claim: str
    paper_metric: str
    columns: tuple[str, str]
    rows: tuple[PaperRow, ...]
    by_norm: dict = field(default_factory=dict)  # the paper's number per norm name (None: diverged)


EXPERIMENTS = {e.key: e for e in (
    Experiment("vit", ("vit",), "val/acc1", True,
               "Replacing every LayerNorm of a ViT with DyT (alpha init 0.5, recipe unchanged) matches or beats LN.",
               "ImageNet-1K top-1 (%)", ("LN (paper)", "DyT (paper)"), (VIT_B, VIT_L)),
    Experiment("convnext", ("convnext",), "val/acc1", True,
               "Replacing every LayerNorm of a ConvNeXt (channels-first in stem and downsampling, channels-last in the "
               "blocks) with DyT, recipe unchanged, matches LN.",
               "ImageNet-1K top-1 (%)", ("LN (paper)", "DyT (paper)"), (CONVNEXT_B, CONVNEXT_L)),
    Experiment("gpt", ("gpt", "llama"), "val/loss", False,
               "Replacing every norm of an LLM with DyT (tuned, width-dependent alpha inits; LLaMA: plus a learnable "
               "scalar after the embedding) matches the normalized model's loss.",
               "loss (lower is better)", ("LN / RMSNorm", "DyT"), (GPT2_124M, LLAMA_7B, LLAMA_70B),
               by_norm={"ln": GPT2_124M.base, "dyt": GPT2_124M.dyt, "derf": DERF_GPT2}),
    Experiment("resnet", ("resnet", "vgg"), "val/acc1", True,
               "Replacing BatchNorm in classic ConvNets (ResNet-50, VGG19) with DyT loses accuracy; the authors advise "
               "replacing LayerNorm only.",
               "ImageNet-1K top-1 (%), torchvision recipes (appendix)", ("BN (paper)", "DyT (paper)"), (RESNET50, VGG19)),
    Experiment("ablation", ("ablation",), "val/acc1", True,
               "The squashing function is needed (identity diverges), tanh is the best of tanh, hardtanh and sigmoid, and "
               "a learnable alpha helps (tanh without alpha: 81.1 vs 82.5, ViT-B).",
               "ImageNet-1K top-1 (%)", ("learnable alpha", "alpha fixed (\"without alpha\")"),
               (PaperRow("ViT-B, identity (no squashing)", SQUASH_VIT_B["identity"], "not reported"),
                PaperRow("ViT-B, tanh (DyT)", SQUASH_VIT_B["dyt"], SQUASH_VIT_B_NOALPHA["dyt"]),
                PaperRow("ViT-B, hardtanh", SQUASH_VIT_B["hardtanh"], SQUASH_VIT_B_NOALPHA["hardtanh"]),
                PaperRow("ViT-B, sigmoid", SQUASH_VIT_B["sigmoid"], SQUASH_VIT_B_NOALPHA["sigmoid"]),
                PaperRow("ViT-S, identity (no squashing)", SQUASH_VIT_S["identity"], "not reported"),
                PaperRow("ViT-S, tanh / hardtanh / sigmoid",
                         " / ".join(str(SQUASH_VIT_S[k]) for k in ("dyt", "hardtanh", "sigmoid")), "not reported")),
               by_norm={**SQUASH_VIT_B, "identity": None,  # None: the paper's run diverged
                        **{f"{k}_noalpha": v for k, v in SQUASH_VIT_B_NOALPHA.items()}}),
)}


@dataclass(frozen=True)
class Arm:
    """The runs of one arm: what ``python -m dyt.train experiment=<experiment> <overrides>`` trains."""

    overrides: tuple[str, ...]

    def __init__(self, *overrides: str) -> None:
        object.__setattr__(self, "overrides", tuple(overrides))

    def label(self, experiment: str) -> str:
        """The run-dir label (``arm``) such runs get: the norm's tag plus any naming overrides."""
        return _arm_label(experiment, self.overrides)


@lru_cache(maxsize=None)
def _arm_label(experiment: str, overrides: tuple[str, ...]) -> str:
    from dyt.run.schema import compose

    experiment_override = [o for o in overrides if o.startswith("experiment=")] or [f"experiment={experiment}"]
    return str(compose(*experiment_override, *(o for o in overrides if not o.startswith("experiment="))).arm)


@dataclass(frozen=True)
class Claim:
    """One claim: two arms of ``experiment`` compared on ``metric`` (``expect``: match | better | worse), or a
    claim an ``evaluate`` function of ``dyt.reports.evaluators`` decides (by name)."""

    title: str
    section: str  # experiments/<section>/ and its heading in REPORT.md
    paper: str  # the paper's numbers, as REPORT.md shows them (from the constants above)
    command: str  # what makes the runs
    experiment: str | None = None  # runs/<experiment>
    base: Arm | None = None
    other: Arm | None = None
    metric: str = "val/acc1"
    higher_is_better: bool = True
    expect: str = "match"
    evaluate: str | None = None  # name of a function in dyt.reports.evaluators
    headline: bool = False  # a row of the README's results table


LOSS = dict(metric="val/loss", higher_is_better=False)
DYT, LN, CAL = Arm("norm=dyt"), Arm("norm=ln"), Arm("norm=dyt_cal")
DERF_CAL = "python -m dyt.train -m experiment=gpt norm=derf,dyisru norm.alpha_init=calibrate seed=0,1,2"


def _intervention_command(model: str, override: str) -> str:
    """``make regime-<model>`` where the lean ladder (dyt/reports/regime/plan.py) trains this intervention, else the
    multirun that does (the ladder dropped it: issue 22)."""
    from dyt.reports.regime.plan import LADDERS

    if any(override in arm.overrides for arm in LADDERS[model].interventions.values()):
        return f"make regime-{model}"
    return f"python -m dyt.train -m experiment={model} norm=dyt {override} seed=0,1,2"


CLAIMS: list[Claim] = [
    Claim("ViT: DyT matches LN", "vit", f"{VIT_B}, {VIT_L} (ImageNet top-1)", "make reproduce-vit", "vit", LN, DYT,
          headline=True),
    Claim("ConvNeXt: DyT matches LN", "convnext", f"{CONVNEXT_B}, {CONVNEXT_L}", "make reproduce-convnext", "convnext",
          LN, DYT, headline=True),
    Claim("GPT-2 style LM: DyT matches LN", "gpt", f"GPT-2 124M val loss {GPT2_124M.base} → {GPT2_124M.dyt} (Derf paper)",
          "make reproduce-gpt", "gpt", LN, DYT, **LOSS, headline=True),
    Claim("LLaMA style LM: DyT matches RMSNorm", "gpt",
          f"LLaMA 7B loss {LLAMA_7B.base} → {LLAMA_7B.dyt}; 70B {LLAMA_70B.base} → {LLAMA_70B.dyt}", "make reproduce-gpt",
          "llama", Arm("norm=rmsnorm"), DYT, **LOSS, headline=True),
    Claim("ResNet: DyT replacing BatchNorm loses", "resnet", str(RESNET50), "make reproduce-resnet", "resnet",
          Arm("norm=bn"), DYT, expect="worse", headline=True),
    Claim("VGG: DyT replacing BatchNorm loses", "resnet", str(VGG19), "make reproduce-resnet", "vgg", Arm("norm=bn"), DYT,
          expect="worse"),
    Claim("Squashing: hardtanh instead of tanh is slightly worse", "ablation",
          f"ViT-B {SQUASH_VIT_B['dyt']} → {SQUASH_VIT_B['hardtanh']}", "make analysis", "ablation", DYT,
          Arm("norm=hardtanh"), expect="worse"),
    Claim("Squashing: sigmoid instead of tanh is worse", "ablation",
          f"ViT-B {SQUASH_VIT_B['dyt']} → {SQUASH_VIT_B['sigmoid']}", "make analysis", "ablation", DYT,
          Arm("norm=sigmoid"), expect="worse", headline=True),
    Claim("A learnable alpha helps (tanh without alpha is worse)", "ablation",
          f"ViT-B {SQUASH_VIT_B['dyt']} → {SQUASH_VIT_B_NOALPHA['dyt']}", "make analysis", "ablation", DYT,
          Arm("norm=dyt_noalpha"), expect="worse"),
    Claim("Derf matches LN in a ViT (beyond the paper)", "ablation", f"ViT-B: LN {VIT_B.base}, Derf {DERF_VIT_B} (Derf paper)",
          "make analysis", "ablation", LN, Arm("norm=derf")),
    Claim("DyISRU matches LN in a ViT (beyond the paper)", "ablation",
          "— (RMSNorm's element-wise counterpart; no training runs published)", "make analysis", "ablation", LN,
          Arm("norm=dyisru")),
    # GPT rows use calibrated alphas: at alpha auto DyT, Derf and DyISRU all collapse to the unigram solution
    # (val loss 3.2537 in every seed), and two collapsed arms carry no comparison (experiments/regime)
    Claim("Derf matches LN in a GPT-2 style LM, calibrated alpha (beyond the paper)", "ablation",
          f"GPT-2 124M val loss LN {GPT2_124M.base}, Derf {DERF_GPT2} (Derf paper)", DERF_CAL, "gpt", LN,
          Arm("norm=derf", "norm.alpha_init=calibrate"), **LOSS),
    Claim("DyISRU matches LN in a GPT-2 style LM, calibrated alpha (beyond the paper)", "ablation",
          "— (no training runs published)", DERF_CAL, "gpt", LN, Arm("norm=dyisru", "norm.alpha_init=calibrate"), **LOSS),
    Claim("Derf beats DyT in a GPT-2 style LM, both with calibrated alpha (beyond the paper)", "ablation",
          f"GPT-2 124M val loss DyT {GPT2_124M.dyt} → Derf {DERF_GPT2} (Derf paper)", DERF_CAL, "gpt", CAL,
          Arm("norm=derf", "norm.alpha_init=calibrate"), **LOSS, expect="better"),
    Claim("DyISRU matches DyT in a GPT-2 style LM, both with calibrated alpha (beyond the paper)", "ablation",
          "— (no training runs published)", DERF_CAL, "gpt", CAL, Arm("norm=dyisru", "norm.alpha_init=calibrate"), **LOSS),
    Claim("Calibrated alpha init matches LN in a ViT (ours)", "calibrated_alpha", "—", "make reproduce-vit", "vit", LN, CAL,
          headline=True),
    Claim("Calibrated alpha beats the paper's 0.5 in a ViT (ours)", "calibrated_alpha", "—", "make reproduce-vit", "vit",
          DYT, CAL, expect="better"),
    Claim("Calibrated alpha init matches LN in a GPT-2 style LM (ours)", "calibrated_alpha", "—", "make reproduce-gpt",
          "gpt", LN, CAL, **LOSS, headline=True),
    Claim("Calibrated alpha replaces BatchNorm in a ResNet (ours)", "resnet", "—", "make reproduce-resnet", "resnet",
          Arm("norm=bn"), CAL),
    Claim("Calibrated alpha init matches LN in a ConvNeXt (ours)", "convnext", "—",
          "make reproduce-convnext CONVNEXT_NORMS=ln,dyt,dyt_cal", "convnext", LN, CAL),
    Claim("LN's mapping: ~99% of points in the linear middle", "analysis", "ViT-B, one batch: ~99% linear",
          "make analysis", evaluate="scurve_linear", headline=True),
    Claim("LN squashes a few extreme values", "analysis", "ViT-B: inputs with |x| > 50 squashed", "make analysis",
          evaluate="scurve_extremes"),
    Claim("LN: early layers linear, deeper layers tanh-like S-curves", "analysis", "ViT-B, wav2vec 2.0, DiT (figure)",
          "make analysis", evaluate="scurve_depth"),
    Claim("alpha tracks 1/std of its input", "analysis", "figure: alpha ∝ 1/std over training and across layers",
          "make analysis", evaluate="alpha_std", headline=True),
    Claim("Without squashing (identity) training diverges", "ablation", f"ViT-B {SQUASH_VIT_B['identity']}",
          "make analysis", "ablation", evaluate="identity_diverges"),
    Claim("Non-LLM models are insensitive to alpha init in 0.5–1.2", "sweep_alpha",
          "ImageNet: ≤ 0.1–0.2 top-1 between inits 0.5 and 1.2", "make sweep-alpha", "sweep_alpha_vit",
          evaluate="alpha_init_range", headline=True),
    *[Claim(f"{name}: DyT's gap to {base} shrinks with the budget (ours)", "regime", LADDER_PAPER, "make regime-" + model,
            model, evaluate="budget_trend", headline=model != "llama")
      for model, name, base in (("vit", "ViT", "LN"), ("gpt", "GPT-2 style LM", "LN"), ("llama", "LLaMA style LM", "RMSNorm"))],
    *[Claim(f"{name}: a 100x learning rate for alpha improves DyT (ours)", "regime", ADAM_LIMIT,
            _intervention_command(model, "optim.alpha_lr_mult=100"), model, DYT, Arm("norm=dyt", "optim.alpha_lr_mult=100"),
            **metric, expect="better")
      for model, name, metric in (("vit", "ViT", {}), ("gpt", "GPT-2 style LM", LOSS), ("llama", "LLaMA style LM", LOSS))],
    *[Claim(f"{name}: a longer warmup (30% of the steps) improves DyT (ours)", "regime",
            "the paper's recipes warm up for thousands of steps (ours: 15–70)",
            _intervention_command(model, "optim.warmup_frac=0.3"), model, DYT,
            Arm("norm=dyt", "optim.warmup_frac=0.3"), **metric, expect="better")
      for model, name, metric in (("vit", "ViT", {}), ("gpt", "GPT-2 style LM", LOSS), ("llama", "LLaMA style LM", LOSS))],
    Claim("LLaMA style LM: a GELU MLP instead of SwiGLU rescues DyT (ours)", "regime", SWIGLU_PAPER, "make regime-llama",
          "llama", DYT, Arm("norm=dyt", "model.kwargs.mlp=gelu"), **LOSS, expect="better", headline=True),
    Claim("LLaMA style LM: no weight decay on alpha improves DyT (ours)", "regime",
          "the LLaMA recipe decays every parameter, alpha too", "make regime-llama", "llama", DYT,
          Arm("norm=dyt", "optim.decay_alpha=false"), **LOSS, expect="better"),
    Claim("DyT is faster than LN (first version); no faster once compiled (revision)", "speed",
          f"LLaMA-7B H100: norm layers {SPEED_UNCOMPILED} s uncompiled; {SPEED_COMPILED}", "make bench",
          evaluate="speed", headline=True),
]

# REPORT.md: one heading per experiments/ folder, in this order (each experiment README links its section)
SECTIONS = {"vit": "DyT in Vision Transformers", "convnext": "DyT in ConvNeXt", "gpt": "DyT in language models",
            "resnet": "Where DyT fails: BatchNorm in classic ConvNets", "analysis": "LN as a tanh, alpha and 1/std",
            "ablation": "Squashing functions, alpha, Derf and DyISRU", "sweep_alpha": "alpha init",
            "calibrated_alpha": "Calibrated alpha init (ours, not the paper's)",
            "regime": "When and why DyT catches up: budget, alpha's learning rate, warmup, SwiGLU",
            "speed": "Speed: DyT vs LayerNorm"}

SWEEP_STATEMENT = ("non-LLM models are insensitive to alpha init between 0.5 and 1.2 (supervised ViT-L diverges "
                   "above 0.6; bigger models or higher LRs need smaller alpha); LLMs need tuned, per-position, "
                   "width-dependent inits (attention / other: width 1024 -> 1.0 / 1.0, 2048 -> 1.0 / 0.5, "
                   "4096 -> 0.8 / 0.2, 8192 -> 0.2 / 0.05)")
