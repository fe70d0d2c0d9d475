"""The regime study, declared once: for each model the budget ladder, its arms and the interventions.

``make regime-<model>`` runs what ``commands(model)`` prints (``python -m dyt.train -m ...`` lines, every
budget with its own full schedule and run dir: ``+epochs-10``, ``+max_steps-3000``); the experiment's own
budget gets no override, so its runs are those of ``make reproduce-<model>``. The report
(``dyt.reports.regime.report``) reads the same plan to group the runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BASE_SEEDS, TOP_SEEDS = (0, 1, 2), (0, 1)  # 3 seeds per cell, 2 at the top rung


@dataclass(frozen=True)
class Ladder:
    model: str  # the experiment (runs/<model>)
    metric: str
    higher_is_better: bool
    budget_key: str  # trainer.epochs or trainer.max_steps
    budgets: tuple  # spanning >= 10x; the one equal to ``default`` is the experiment's own
    default: float
    baseline: str  # the arm every other is compared with
    arms: dict[str, tuple[str, ...]]  # label -> overrides, run at every budget
    interventions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # label -> overrides, default budget
    seeds: tuple = BASE_SEEDS
    top_seeds: tuple = TOP_SEEDS

    def budget_override(self, budget) -> tuple[str, ...]:
        return () if budget == self.default else (f"{self.budget_key}={budget:g}",)

    def seeds_at(self, budget) -> tuple:
        return self.top_seeds if budget == max(self.budgets) else self.seeds


# The ladder's last DyT arm is the intervention we expected to close the gap fastest (alpha's learning rate:
# the Adam rate limit); experiments/regime/README.md compares it with the others at the default budget.
LADDERS = {l.model: l for l in (
    Ladder("vit", "val/acc1", True, "trainer.epochs", (1, 3, 10), 3, "LN",
           {"LN": ("norm=ln",), "DyT (alpha 0.5)": ("norm=dyt",), "DyT calibrated": ("norm=dyt_cal",),
            "DyT, alpha lr x100": ("norm=dyt", "optim.alpha_lr_mult=100")},
           {"DyT, alpha lr x10": ("norm=dyt", "optim.alpha_lr_mult=10"),
            "DyT, warmup 30%": ("norm=dyt", "optim.warmup_frac=0.3")}),
    Ladder("gpt", "val/loss", False, "trainer.max_steps", (300, 1000, 3000), 300, "LN",
           {"LN": ("norm=ln",), "DyT (paper alpha)": ("norm=dyt",), "DyT + embedding scalar": ("norm=dyt_embed",),
            "DyT calibrated": ("norm=dyt_cal",), "DyT, alpha lr x100": ("norm=dyt", "optim.alpha_lr_mult=100")},
           {"DyT, alpha lr x10": ("norm=dyt", "optim.alpha_lr_mult=10"),
            "DyT, warmup 30%": ("norm=dyt", "optim.warmup_frac=0.3")}),
    Ladder("llama", "val/loss", False, "trainer.max_steps", (300, 1000, 3000), 300, "RMSNorm",
           {"RMSNorm": ("norm=rmsnorm",), "DyT (paper alpha)": ("norm=dyt",), "DyT calibrated": ("norm=dyt_cal",),
            "DyT, alpha lr x100": ("norm=dyt", "optim.alpha_lr_mult=100")},
           {"DyT, alpha lr x10": ("norm=dyt", "optim.alpha_lr_mult=10"),
            "DyT, warmup 30%": ("norm=dyt", "optim.warmup_frac=0.3"),
            "DyT, no weight decay on alpha": ("norm=dyt", "optim.decay_alpha=false"),
            "RMSNorm, GELU MLP": ("norm=rmsnorm", "model.kwargs.mlp=gelu"),
            "DyT, GELU MLP": ("norm=dyt", "model.kwargs.mlp=gelu")}),
)}


def _gpu(ladder: Ladder, model: str, budgets: tuple) -> Ladder:
    """The same study at GPU size (``conf/experiment/<model>.yaml``): its arms, the interventions that matter most."""
    keep = {k: v for k, v in ladder.interventions.items() if "MLP" in k}
    return Ladder(model, ladder.metric, ladder.higher_is_better, ladder.budget_key, budgets, max(budgets),
                  ladder.baseline, ladder.arms, keep)


LADDERS.update({l.model: l for l in (_gpu(LADDERS["vit"], "vit_gpu", (3, 10, 30)),
                                     _gpu(LADDERS["gpt"], "gpt_gpu", (500, 1500, 5000)),
                                     _gpu(LADDERS["llama"], "llama_gpu", (500, 1500, 5000)))})
CPU_MODELS = ("vit", "gpt", "llama")


def _line(model: str, overrides: tuple[str, ...], seeds: tuple, extra: tuple[str, ...]) -> str:
    return " ".join(["python -m dyt.train -m", f"experiment={model}", *overrides,
                     "seed=" + ",".join(map(str, seeds)), *extra])


def _merged(arms: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Arms that differ only in ``norm=<name>`` as one sweep (``norm=ln,dyt,dyt_cal``): fewer, longer multiruns."""
    plain = [a[0].split("=", 1)[1] for a in arms if len(a) == 1 and a[0].startswith("norm=")]
    rest = [a for a in arms if not (len(a) == 1 and a[0].startswith("norm="))]
    return ([(f"norm={','.join(plain)}",)] if plain else []) + rest


def commands(model: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The multirun command lines of ``model``'s study: the default budget first (every arm, then the
    interventions), then the other rungs, the top rung last."""
    ladder = LADDERS[model]
    budgets = sorted(ladder.budgets, key=lambda b: (b != ladder.default, b))
    lines = []
    for budget in budgets:
        for overrides in _merged(list(ladder.arms.values())):
            lines.append(_line(model, overrides + ladder.budget_override(budget), ladder.seeds_at(budget), extra))
        if budget == ladder.default:
            lines += [_line(model, o, ladder.seeds_at(budget), extra) for o in ladder.interventions.values()]
    return lines
