"""Step 1, no training: which norms would become DyT, what kind of model this is, and where the paper's recipe
differs for that kind.

- **Swap**: ``dyt.nn.count_norms`` and a dry run of ``dyt.nn.convert_norms`` on a deepcopy; a norm it cannot
  convert (``nn.GroupNorm``, timm ``BatchNormAct2d``) is a ``DiagnoseError`` naming it.
- **Kind**: a language model has an ``nn.Embedding`` whose ``num_embeddings`` is the output size (the logits
  over the vocabulary); otherwise ``vision`` (the paper's alpha 0.5), or ``diffusion`` when the user says so.
- **The paper's alpha per layer**: 0.5 for vision and diffusion; for a language model the width rule
  (``dyt.nn.paper_alpha_init``: attention-input norms get one value, the MLP-input and final norms another);
  a number given by the user wins everywhere.
- **Notes**: the width rule, the learnable embedding scalar of the paper's LLaMA DyT, zero-initialised norm
  gains (timm ResNet's ``zero_init_last``), BatchNorm, and DiT's learning-rate recipe.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from torch import nn

from dyt.nn import UnsupportedNormError, convert_norms, count_norms, is_norm_like, paper_alpha_init
from dyt.nn.layers import DyT
from dyt.diagnose.inputs import DiagnoseError

VISION_ALPHA = 0.5  # the paper's default for non-LLM models
KINDS = ("auto", "vision", "lm", "diffusion")


@dataclass
class StaticReport:
    norms: dict[str, int]  # norm-like modules by class name
    swaps: dict[str, str]  # module path -> "LayerNorm -> DyT"
    kind: str  # vision | lm | diffusion
    width: int | None  # a language model's embedding width
    alphas: dict[str, float]  # the paper's alpha (or the user's) per norm path
    alpha_rule: str
    notes: list[str] = field(default_factory=list)


def norm_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(path, module)`` of every norm layer DyT would replace (DyT layers already there excluded)."""
    return [(n, m) for n, m in model.named_modules() if is_norm_like(m) and not isinstance(m, DyT)]


def position(name: str) -> str:
    """``attn`` for a norm before attention (``norm1``, ``ln_1``, ``norm_attn``, ``input_layernorm``), else
    ``other``."""
    last = name.rsplit(".", 1)[-1].lower()
    if "post" in last:
        return "other"
    attn = "attn" in last or "attention" in last or last in ("norm1", "ln_1", "ln1", "input_layernorm")
    return "attn" if attn else "other"


def dry_run(model: nn.Module) -> dict[str, str]:
    """What ``convert_norms`` would swap, by path, or a ``DiagnoseError`` naming what it cannot."""
    norms = count_norms(model)
    if not norms:
        raise DiagnoseError("the model has no norm layers (LayerNorm, RMSNorm, BatchNorm modules) for DyT to "
                            "replace; a functional norm (F.layer_norm in forward) is invisible: use nn.LayerNorm "
                            "modules")
    before = {n: type(m).__name__ for n, m in norm_modules(model)}
    trial = copy.deepcopy(model)
    try:
        convert_norms(trial)
    except UnsupportedNormError as err:
        what = str(err).split(". Build the model")[0]
        raise DiagnoseError(f"{what}. Fix: use a supported norm there (nn.LayerNorm, nn.RMSNorm, nn.BatchNorm2d, "
                            "timm LayerNorm2d) or build the model with norm_layer=DyT") from None
    return {n: f"{cls} -> {type(trial.get_submodule(n)).__name__}" for n, cls in before.items()}


def lm_width(model: nn.Module, output_size: int | None) -> int | None:
    """The width of the token embedding whose vocabulary is the output size, if the model has one."""
    for m in model.modules():
        if isinstance(m, nn.Embedding) and output_size is not None and m.num_embeddings == output_size:
            return m.embedding_dim
    return None


def paper_alphas(names: list[str], kind: str, width: int | None, alpha: float | None) -> tuple[dict[str, float], str]:
    """The alpha each norm path starts at, and a sentence saying why."""
    if alpha is not None:
        return dict.fromkeys(names, float(alpha)), f"alpha {alpha:g} everywhere (given)"
    if kind == "lm" and width:
        attn, other, how = paper_alpha_init(width)
        return ({n: attn if position(n) == "attn" else other for n in names},
                f"the paper's LLM width rule: attention {attn:g}, other {other:g} ({how})")
    return dict.fromkeys(names, VISION_ALPHA), f"the paper's {VISION_ALPHA:g} for non-LLM models"


def static_report(model: nn.Module, output_size: int | None = None, kind: str = "auto",
                  alpha: float | None = None) -> StaticReport:
    if kind not in KINDS:
        raise DiagnoseError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    swaps = dry_run(model)
    width = lm_width(model, output_size)
    if kind == "auto":
        kind = "lm" if width else "vision"
    alphas, rule = paper_alphas(list(swaps), kind, width, alpha)
    report = StaticReport(norms=count_norms(model), swaps=swaps, kind=kind, width=width, alphas=alphas, alpha_rule=rule)
    report.notes = recipe_notes(model, report)
    return report


def recipe_notes(model: nn.Module, report: StaticReport) -> list[str]:
    """Where the paper's recipe (or our study) says something specific to this model."""
    notes = []
    if report.kind == "lm":
        notes.append(f"language model (width {report.width}): alpha init follows {report.alpha_rule}; in our GPT-2 "
                     "and LLaMA style models (width 128 -> alpha 1.0) that init collapsed to the unigram solution; "
                     "calibrated alpha did not in the GPT-2 style one (results/REPORT.md)")
        if not any("embed" in n and "scale" in n for n, _ in model.named_parameters()):
            notes.append("the paper's LLaMA DyT multiplies the token embedding by a learnable scalar (init "
                         "sqrt(width); dyt.nn.gpt's embed_scale); this model has none. It did not rescue our "
                         "GPT-2 style model (dyt-embed collapsed too, results/gpt)")
    zeroed = [n for n, m in norm_modules(model)
              if isinstance(getattr(m, "weight", None), nn.Parameter) and not m.weight.detach().abs().sum()]
    if zeroed:
        notes.append(f"{len(zeroed)} norm gain(s) start at zero (timm ResNet's zero_init_last, e.g. {zeroed[0]}); "
                     "convert_norms gives DyT fresh gains of 1, which is what you want: zero-initialised DyT gains "
                     "cost 19 points in our ResNet (experiments/resnet/README.md); build with zero_init_last=False")
    if any("BatchNorm" in cls for cls in report.norms):
        notes.append("BatchNorm in a ConvNet: DyT replacing BN loses in the paper (ResNet-50 76.2 -> 68.9) and here "
                     "(ResNet 83.4 -> 72.0, VGG 87.4 -> 43.4; results/REPORT.md)")
    if report.kind == "diffusion":
        notes.append("diffusion (DiT): the paper trains DiT-DyT with its own learning-rate recipe (its Table 6 "
                     "tunes lr per model); a probe at a classifier's lr says little: pass --lr from that recipe")
    return notes
