"""The regime study, declared once: for each model the budget ladder, its arms (with their seeds per rung) and
the interventions measured at the default budget.

The lean ladder (issue 22; why: experiments/regime/README.md, "The study"): the arms that can answer "does
DyT's gap shrink with budget" at every rung, 3 seeds each; the GPT's collapsed paper-alpha arm one seed per
rung (its collapse is a yes/no outcome: seed std 0.0013 at the unigram plateau), 3 at 3000 steps, where its
seed 0 left the plateau (2.927, the issue's "more only if it leaves the plateau"); RMSNorm 2 seeds above the
default; the interventions are those already run at the default budget (their records are kept).

``runs(model)`` lists every planned run as one line of overrides (``make regime`` trains them through
``python -m dyt.run.queue``, two at a time, each its own process); ``commands(model)`` lists the same runs as
multirun lines, for a cluster. Every budget has its own full schedule and run dir (``+epochs-10``,
``+max_steps-3000``); the experiment's own budget gets no override, so its runs are those of
``make reproduce-<model>``. The report (``dyt.reports.regime.report``) reads the same plan to group the runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class LadderArm:
    """One arm of a ladder: its overrides, its seeds, and (optionally) different seeds above the default rung
    or only some rungs."""

    overrides: tuple[str, ...]
    seeds: tuple = SEEDS
    seeds_above_default: tuple | None = None  # None: ``seeds`` at every rung
    budgets: tuple | None = None  # the rungs it runs at; None: every rung of the ladder
    seeds_at: tuple = ()  # ((budget, seeds), ...): the seeds of one rung, over the two fields above


@dataclass(frozen=True)
class Ladder:
    model: str  # the experiment (runs/<model>)
    metric: str
    higher_is_better: bool
    budget_key: str  # trainer.epochs or trainer.max_steps
    budgets: tuple  # spanning >= 10x; the one equal to ``default`` is the experiment's own
    default: float
    baseline: str  # the arm every other is compared with
    arms: dict[str, LadderArm]  # label -> arm, run at its rungs
    interventions: dict[str, LadderArm] = field(default_factory=dict)  # label -> arm, default budget only
    steps_per_unit: int = 1  # optimizer steps per budget unit (the ViT: 234 steps an epoch)
    eval_every: dict = field(default_factory=dict)  # budget -> trainer.eval_every (bookkeeping: names nothing)

    def budget_override(self, budget) -> tuple[str, ...]:
        return () if budget == self.default else (f"{self.budget_key}={budget:g}",)

    def rungs(self, label: str) -> tuple:
        arm = self.arms.get(label) or self.interventions[label]
        if label in self.interventions:
            return (self.default,)
        return tuple(sorted(arm.budgets or self.budgets))

    def seeds(self, label: str, budget) -> tuple:
        arm = self.arms.get(label) or self.interventions[label]
        if budget in dict(arm.seeds_at):
            return dict(arm.seeds_at)[budget]
        above = budget > self.default and arm.seeds_above_default is not None
        return arm.seeds_above_default if above else arm.seeds

    def overrides(self, label: str) -> tuple[str, ...]:
        return (self.arms.get(label) or self.interventions[label]).overrides


_A = LadderArm
LADDERS = {l.model: l for l in (
    Ladder("vit", "val/acc1", True, "trainer.epochs", (1, 3, 10), 3, "LN",
           {"LN": _A(("norm=ln",)), "DyT (alpha 0.5)": _A(("norm=dyt",)), "DyT calibrated": _A(("norm=dyt_cal",)),
            "DyT (alpha 2)": _A(("norm=dyt", "norm.alpha_init=2"))},
           steps_per_unit=234, eval_every={10: 234}),
    Ladder("gpt", "val/loss", False, "trainer.max_steps", (300, 1000, 3000), 300, "LN",
           {"LN": _A(("norm=ln",)), "DyT (paper alpha)": _A(("norm=dyt",), seeds=(0,), seeds_at=((3000, SEEDS),)),
            "DyT calibrated": _A(("norm=dyt_cal",)), "DyT (alpha 2)": _A(("norm=dyt", "norm.alpha_init=2")),
            "LN, dropout 0.2": _A(("norm=ln", "model.kwargs.dropout=0.2"), budgets=(3000,))},
           {"DyT, alpha lr x100": _A(("norm=dyt", "optim.alpha_lr_mult=100"))},
           eval_every={1000: 250, 3000: 250}),
    Ladder("llama", "val/loss", False, "trainer.max_steps", (300, 1000, 3000), 300, "RMSNorm",
           {"RMSNorm": _A(("norm=rmsnorm",), seeds_above_default=(0, 1)), "DyT (paper alpha)": _A(("norm=dyt",)),
            "DyT calibrated": _A(("norm=dyt_cal",))},
           {"DyT, alpha lr x100": _A(("norm=dyt", "optim.alpha_lr_mult=100")),
            "DyT, no weight decay on alpha": _A(("norm=dyt", "optim.decay_alpha=false")),
            "RMSNorm, GELU MLP": _A(("norm=rmsnorm", "model.kwargs.mlp=gelu")),
            "DyT, GELU MLP": _A(("norm=dyt", "model.kwargs.mlp=gelu"))},
           eval_every={1000: 250, 3000: 250}),
)}


def _gpu(ladder: Ladder, model: str, budgets: tuple) -> Ladder:
    """The same study at GPU size (``conf/experiment/<model>.yaml``): its arms, the MLP interventions, 3 seeds."""
    keep = {k: v for k, v in ladder.interventions.items() if "MLP" in k}
    arms = {k: LadderArm(a.overrides) for k, a in ladder.arms.items() if a.budgets is None}
    return Ladder(model, ladder.metric, ladder.higher_is_better, ladder.budget_key, budgets, max(budgets),
                  ladder.baseline, arms, keep)


LADDERS.update({l.model: l for l in (_gpu(LADDERS["vit"], "vit_gpu", (3, 10, 30)),
                                     _gpu(LADDERS["gpt"], "gpt_gpu", (500, 1500, 5000)),
                                     _gpu(LADDERS["llama"], "llama_gpu", (500, 1500, 5000)))})
CPU_MODELS = ("vit", "gpt", "llama")
STEP_COST = {"vit": 0.85, "gpt": 1.0, "llama": 1.15}  # a step's cost relative to the GPT's, measured (queue order)


@dataclass(frozen=True)
class PlannedRun:
    model: str
    label: str
    budget: float
    seed: int
    arm: tuple[str, ...]  # the overrides that name the run: experiment, arm, budget
    bookkeeping: tuple[str, ...]  # overrides that name nothing (evaluation interval, threads, ...)
    cost: float  # relative (steps x the model's step cost): the queue starts the longest first

    @property
    def overrides(self) -> tuple[str, ...]:
        """Everything after ``python -m dyt.train``."""
        return (*self.arm, f"seed={self.seed}", *self.bookkeeping)

    @property
    def line(self) -> str:
        return " ".join(self.overrides)


def planned_runs(model: str, extra: tuple[str, ...] = ()) -> list[PlannedRun]:
    """Every run of ``model``'s study, rung by rung (the default budget first, then upwards)."""
    ladder = LADDERS[model]
    out = []
    for budget in sorted(ladder.budgets, key=lambda b: (b != ladder.default, b)):
        every = (f"trainer.eval_every={ladder.eval_every[budget]}",) if budget in ladder.eval_every else ()
        cost = budget * ladder.steps_per_unit * STEP_COST.get(model, 1.0)
        for label in [*ladder.arms, *ladder.interventions]:
            if budget in ladder.rungs(label):
                arm = (f"experiment={model}", *ladder.overrides(label), *ladder.budget_override(budget))
                out += [PlannedRun(model, label, budget, seed, arm, (*every, *extra), cost)
                        for seed in ladder.seeds(label, budget)]
    return out


def rung_index(run: PlannedRun) -> int:
    ladder = LADDERS[run.model]
    return sorted(ladder.budgets, key=lambda b: (b != ladder.default, b)).index(run.budget)


def runs(models, extra: tuple[str, ...] = ()) -> list[PlannedRun]:
    """The runs of ``models`` in the order the study trains them: every model's default rung, then every model's
    next rung, ...; the longest runs of a rung first (two workers finish a rung together)."""
    every = [r for m in models for r in planned_runs(m, extra)]
    return sorted(every, key=lambda r: (rung_index(r), -r.cost))


def commands(model: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The same runs as multirun lines (one per arm and rung: ``seed=0,1,2``), for a cluster launcher."""
    seeds: dict[tuple, list[int]] = {}
    for r in planned_runs(model, extra):
        seeds.setdefault((r.arm, r.bookkeeping), []).append(r.seed)
    return [" ".join(["python -m dyt.train -m", *arm, "seed=" + ",".join(map(str, s)), *rest])
            for (arm, rest), s in seeds.items()]
