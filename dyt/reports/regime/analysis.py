"""The regime study's numbers: each arm's gap to the baseline per budget, with a 95% interval, and where the
trend says the gap closes.

Gap convention: how much worse than the baseline (positive = worse): baseline − arm for accuracy, arm −
baseline for loss. Interval: Welch's t interval of the difference of means over seeds. Crossover: a
least-squares line of the gap against log10(steps) over the rungs' means (weighted by 1/se²); where its slope
is negative with 95% confidence and the line is above 0 at the smallest budget, the budget at which it
reaches 0, with a bootstrap interval (resampling seeds within each cell); else "no crossover within 10×" of
the top rung. Three rungs make a crude line: the estimate is a direction, not a forecast.

The line is one model of the trend. A gap that shrinks by the same factor at every rung (a power law, gap ∝
steps^-k) never reaches 0, and three rungs cannot tell the two apart, so ``power_law`` fits that too and says
where it brings the gap below the equivalence margin (``stats.EQUIVALENCE_MARGIN``); ``top_rung`` says whether
the arm is equivalent to the baseline (TOST) at the largest budget trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dyt.reports.regime.plan import Ladder
from dyt.reports.registry import Arm
from dyt.reports.runs import Run, load_runs
from dyt.reports.stats import ALPHA, EQUIVALENCE_MARGIN, metric_unit, tost

CROSSOVER_HORIZON = 10.0  # a crossover is reported up to this many times the top rung's budget
BOOTSTRAP = 2000
TRAIN_EVAL = "final/train_eval/loss"  # the training samples' loss in eval mode, at the end (the train-val gap)


@dataclass
class Cell:
    arm: str
    budget: float  # in the ladder's unit (epochs or steps)
    steps: int  # optimizer steps of the budget
    values: list[float]  # final metric of the completed runs
    runs: int  # all runs (diverged and failed too)
    collapsed: int
    seconds: float = math.nan  # median training time of the completed runs (summary train_seconds; a paused run is an outlier)
    fit_gaps: list[float] = field(default_factory=list)  # val loss - train-sample loss (eval mode) of runs that have it


def run_label(ladder: Ladder, overrides: tuple[str, ...], budget) -> str:
    """The arm label (run dir name) of ``overrides`` at ``budget``."""
    return Arm(*overrides, *ladder.budget_override(budget)).label(ladder.model)


def cells(ladder: Ladder, runs_root: Path) -> dict[tuple[str, float], Cell]:
    """``{(arm, budget): Cell}`` for every arm at its rungs, and the interventions at the default budget."""
    folder = runs_root / ladder.model
    runs = load_runs(folder) if folder.is_dir() else []
    by_label: dict[str, list[Run]] = {}
    for r in runs:
        by_label.setdefault(r.arm, []).append(r)
    wanted = [(arm, b, ladder.overrides(arm)) for arm in (*ladder.arms, *ladder.interventions) for b in ladder.rungs(arm)]
    out = {}
    key = f"final/{ladder.metric}"
    for arm, budget, overrides in wanted:
        found = by_label.get(run_label(ladder, overrides, budget), [])
        if not found:
            continue
        done = [r for r in found if r.completed and key in r.summary]
        secs = [float(r.summary["train_seconds"]) for r in done if r.summary.get("train_seconds")]
        out[(arm, budget)] = Cell(arm, budget, int(found[0].summary.get("max_steps") or 0),
                                  [float(r.summary[key]) for r in done], len(found),
                                  sum(r.collapsed for r in done),
                                  float(np.median(secs)) if secs else math.nan,
                                  [float(r.summary["final/val/loss"]) - float(r.summary[TRAIN_EVAL]) for r in done
                                   if TRAIN_EVAL in r.summary and "final/val/loss" in r.summary])
    return out


def _gap_se(ladder: Ladder, arm: Cell, base: Cell) -> tuple[float, float, float]:
    """``(gap, its standard error, Welch's degrees of freedom)``; se and df nan without 2 seeds each."""
    a, b = np.asarray(arm.values, float), np.asarray(base.values, float)
    diff = (b.mean() - a.mean()) if ladder.higher_is_better else (a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return float(diff), math.nan, math.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return float(diff), 0.0, math.inf
    return float(diff), math.sqrt(va + vb), (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))


def gap(ladder: Ladder, arm: Cell, base: Cell) -> tuple[float, float, float]:
    """``(gap, low, high)``: the arm's gap to the baseline and its 95% Welch interval (nan without 2 seeds each)."""
    from scipy import stats

    diff, se, df = _gap_se(ladder, arm, base)
    if not math.isfinite(se):
        return diff, math.nan, math.nan
    half = stats.t.ppf(0.975, df) * se if se > 0 else 0.0
    return diff, diff - half, diff + half


def _fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least squares y = a + b x; returns (a, b)."""
    W = np.diag(w)
    X = np.stack([np.ones_like(x), x], axis=1)
    a, b = np.linalg.solve(X.T @ W @ X, X.T @ W @ y)
    return float(a), float(b)


def crossover(ladder: Ladder, arm: str, table: dict, seed: int = 0) -> dict:
    """Where ``arm``'s gap line crosses 0: ``{"slope", "slope_ci", "steps", "steps_ci", "text"}``."""
    budgets = _trend_rungs(ladder, arm, table)
    if len(budgets) < 3:
        return {"text": "too few rungs with 2+ seeds each for a trend"}
    rng = np.random.default_rng(seed)
    x = np.log10([table[(arm, b)].steps for b in budgets])
    # weights 1/se², se floored at a quarter of the smallest non-zero one of the real cells, so that a resample
    # whose seeds happen to coincide (zero variance) does not take over the fit
    real = [_gap_se(ladder, table[(arm, b)], table[(ladder.baseline, b)])[1] for b in budgets]
    floor = 0.25 * min([se for se in real if se > 0] or [1.0])

    def fit(resample: bool) -> tuple[float, float]:
        gaps, weights = [], []
        for b in budgets:
            a, base = table[(arm, b)], table[(ladder.baseline, b)]
            if resample:
                a = Cell(arm, b, a.steps, list(rng.choice(a.values, len(a.values))), a.runs, a.collapsed)
                base = Cell(base.arm, b, base.steps, list(rng.choice(base.values, len(base.values))), base.runs, 0)
            g, se, _ = _gap_se(ladder, a, base)
            gaps.append(g)
            weights.append(1.0 / max(se, floor) ** 2)
        return _fit(x, np.asarray(gaps), np.asarray(weights))

    a, b = fit(False)
    boots = np.array([fit(True) for _ in range(BOOTSTRAP)])
    slope_ci = tuple(float(v) for v in np.percentile(boots[:, 1], [2.5, 97.5]))
    out = {"slope": b, "slope_ci": slope_ci, "line": (a, b)}  # gap = a + b log10(steps)
    horizon = math.log10(CROSSOVER_HORIZON) + x.max()
    if b >= 0 or slope_ci[1] >= 0:
        out["text"] = f"no crossover within {CROSSOVER_HORIZON:g}×: the gap does not shrink with confidence " \
                      f"(slope per decade {b:+.3g}, 95% [{slope_ci[0]:+.3g}, {slope_ci[1]:+.3g}])"
        return out
    at = -a / b
    if at <= x.min():
        out["text"] = (f"no crossover to find: the arm is at or ahead of {ladder.baseline} by the smallest budget "
                       f"(slope per decade {b:+.3g})")
        return out
    crossings = [-ai / bi for ai, bi in boots if bi < 0]
    lo, hi = (float(v) for v in np.percentile(crossings, [2.5, 97.5])) if crossings else (math.nan, math.nan)
    out.update(steps=10 ** at, steps_ci=(10 ** lo, 10 ** hi))
    if at > horizon:
        out["text"] = (f"no crossover within {CROSSOVER_HORIZON:g}×: the gap shrinks (slope per decade {b:+.3g}, "
                       f"95% [{slope_ci[0]:+.3g}, {slope_ci[1]:+.3g}]), reaching 0 near {10 ** at:.3g} steps by the "
                       f"line (95% [{10 ** lo:.3g}, {10 ** hi:.3g}])")
    else:
        out["text"] = (f"crossover near {10 ** at:.3g} steps (95% [{10 ** lo:.3g}, {10 ** hi:.3g}]); slope per decade "
                       f"{b:+.3g}")
    return out


def _trend_rungs(ladder: Ladder, arm: str, table: dict) -> list:
    return [b for b in sorted(ladder.budgets) if (arm, b) in table and (ladder.baseline, b) in table
            and len(table[(arm, b)].values) >= 2 and len(table[(ladder.baseline, b)].values) >= 2]


def power_law(ladder: Ladder, arm: str, table: dict) -> dict:
    """The gap as ``c · steps^-k`` (least squares of log gap against log10(steps), weighted by (gap/se)²):
    ``{"k", "per_decade", "margin_steps", "text"}``; ``margin_steps``: where the fit brings the gap below the
    metric's equivalence margin. Only where every rung's gap is positive (a power law cannot cross 0)."""
    budgets = _trend_rungs(ladder, arm, table)
    if len(budgets) < 3:
        return {"text": "too few rungs with 2+ seeds each for a trend"}
    gse = [_gap_se(ladder, table[(arm, b)], table[(ladder.baseline, b)])[:2] for b in budgets]
    if any(g <= 0 for g, _ in gse):
        return {"text": "no power law: the gap is not positive at every rung"}
    x = np.log10([table[(arm, b)].steps for b in budgets])
    y = np.log10([g for g, _ in gse])
    rel = [max(se, 1e-12) / g for g, se in gse]  # se of log10(gap) up to a constant factor
    floor = 0.25 * min(rel)
    c, slope = _fit(x, y, 1.0 / np.maximum(rel, floor) ** 2)
    out = {"k": -slope, "per_decade": 10 ** slope, "fit": (c, slope)}  # log10(gap) = c + slope log10(steps)
    margin = EQUIVALENCE_MARGIN.get(ladder.metric)
    unit = metric_unit(ladder.metric)
    if slope >= 0:
        out["text"] = f"power law: the gap does not shrink (×{10 ** slope:.2g} per decade)"
        return out
    text = f"power law (gap ∝ steps^−k): k = {-slope:.2g}, the gap ×{10 ** slope:.2g} per decade, never 0"
    if margin is not None:
        out["margin_steps"] = 10 ** ((math.log10(margin) - c) / slope)
        if out["margin_steps"] <= 10 ** x.max():
            text += f"; the fit is under the equivalence margin (±{margin:g} {unit}) by the top rung already"
        else:
            text += f"; under the equivalence margin (±{margin:g} {unit}) near {out['margin_steps']:.3g} steps"
    out["text"] = text
    return out


def top_rung(ladder: Ladder, arm: str, table: dict) -> dict:
    """The arm against the baseline at its largest budget with 2+ seeds each: ``{"budget", "steps", "p",
    "equivalent", "text"}`` (TOST within the metric's equivalence margin, at ``stats.ALPHA``)."""
    budgets = _trend_rungs(ladder, arm, table)
    margin = EQUIVALENCE_MARGIN.get(ladder.metric)
    if not budgets or margin is None:
        return {"text": "no rung with 2+ seeds each" if margin is not None else f"no equivalence margin for {ladder.metric}"}
    b = budgets[-1]
    a, base = table[(arm, b)], table[(ladder.baseline, b)]
    p = tost(base.values, a.values, margin)
    unit = metric_unit(ladder.metric)
    g = _gap_se(ladder, a, base)[0]
    said = (f"equivalent to {ladder.baseline} within ±{margin:g} {unit}" if p < ALPHA
            else f"not shown equivalent to {ladder.baseline} within ±{margin:g} {unit}")
    return {"budget": b, "steps": a.steps, "p": p, "equivalent": p < ALPHA,
            "text": f"at the top rung ({a.steps} steps, gap {g:+.3g}): {said} (TOST p = {p:.2g})"}
