"""Claims that are not a comparison of two arms (``Claim.evaluate`` names one of these).

Each takes the claim's context and returns ``(ours, statistic, verdict)``, or ``None`` when the runs or
tables it reads do not exist ("not run"). Tables come from ``dyt.reports.analysis`` (``results/analysis``),
runs from the run dirs.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dyt.reports.runs import load_runs
from dyt.reports.stats import ALPHA, mean_std
from dyt.reports.verdict import LEVEL

LINEAR_SHARE = 0.9  # "~99% of points in the linear middle": reproduced when the mean share over layers is at least this
EXTREME_X = 50  # the paper's example of an input LN squashes (|x| > 50 in ViT-B)


@dataclass(frozen=True)
class Context:
    runs_root: Path
    analysis_dir: Path  # results/analysis; its parent holds the other results (results/bench)
    folder: str | None = None  # the claim's runs folder


def fmt(values: list[float], n_bad: int = 0, collapsed: int = 0) -> str:
    """``mean ± std (n = k)``, the cell format of every claim (with the runs that diverged, failed or collapsed)."""
    mean, std = mean_std(values)
    extra = f", {n_bad} diverged/failed" if n_bad else ""
    extra += (", collapsed" if collapsed == len(values) else f", {collapsed} collapsed") if collapsed else ""
    return f"{mean:.4g} ± {std:.2g} (n = {len(values)}{extra})"


def _csv(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open())) if path.exists() else []


def _scurve_tables(ctx: Context) -> dict[str, list[dict]]:
    tables = {m: _csv(ctx.analysis_dir / f"scurves_{m}.csv") for m in ("vit", "gpt")}
    return {m: t for m, t in tables.items() if t}


def _column(table: list[dict], key: str) -> list[float]:
    return [float(r[key]) for r in table]


def scurve_linear(ctx: Context):
    """``scurves_<model>.csv``: the mean share of points in tanh's linear middle, per model."""
    tables = _scurve_tables(ctx)
    if not tables:
        return None
    linear = {model: _column(table, "frac_linear") for model, table in tables.items()}
    parts = [f"{m}: {100 * np.mean(v):.1f}% linear (layers {100 * min(v):.0f}–{100 * max(v):.0f}%)" for m, v in linear.items()]
    ok = min(float(np.mean(v)) for v in linear.values()) >= LINEAR_SHARE
    verdict = "reproduced" if ok else "**not reproduced**: fewer points in the linear middle"
    return "; ".join(parts), f"mean share over layers, threshold {LINEAR_SHARE:.0%}", verdict


def scurve_extremes(ctx: Context):
    """``scurves_<model>.csv``: the largest |LN input| per model, and the share of points squashed."""
    tables = _scurve_tables(ctx)
    if not tables:
        return None
    absmax = {m: max(_column(t, "input_absmax")) for m, t in tables.items()}
    parts = [f"{m}: max |x| {absmax[m]:.3g}, ≤ {100 * max(_column(t, 'frac_squashed')):.2f}% of points squashed"
             for m, t in tables.items()]
    verdict = ("reproduced" if max(absmax.values()) > EXTREME_X else
               f"inconclusive: no input beyond |x| = {EXTREME_X} in our models, nothing extreme to squash")
    return "; ".join(parts), f"largest |LN input| vs {EXTREME_X}", verdict


def scurve_depth(ctx: Context):
    """S-ness (R² of b·tanh(a·x) minus R² of a line) against the layer's depth, Spearman's ρ per model."""
    from scipy import stats

    tables = _scurve_tables(ctx)
    if not tables:
        return None
    parts, signs = [], []
    for model, table in tables.items():
        gain = [float(r["r2_tanh"]) - float(r["r2_line"]) for r in table]
        rho, p = stats.spearmanr([int(r["index"]) for r in table], gain)
        parts.append(f"{model}: ρ = {rho:+.2f} (p = {p:.2g}, {len(table)} layers)")
        signs.append(0 if not (p < ALPHA) else (1 if rho > 0 else -1))
    verdict = ("reproduced" if all(s > 0 for s in signs) else "**not reproduced**" if all(s < 0 for s in signs)
               else "inconclusive: the models disagree or the trend is not significant")
    return "; ".join(parts), "Spearman ρ of depth vs (R² tanh − R² line)", verdict


def alpha_std(ctx: Context):
    """``alpha_std.csv``: Pearson's r of alpha vs 1/std over each run's points (each run judged on its own)."""
    table = _csv(ctx.analysis_dir / "alpha_std.csv")
    if not table:
        return None
    runs = [r for r in table if not r["run"].startswith("pooled")]
    r_run = [float(r["r_all"]) for r in runs]
    significant = [float(r["p_all"]) < ALPHA for r in runs]  # a run's points are not independent of each other
    across = [float(r["r_final_layers"]) for r in runs]
    over_time = [float(r["r_over_training_median"]) for r in runs]
    ours = (f"r over each run's points: {', '.join(f'{r:+.2f}' for r in r_run)} ({len(runs)} run(s)); across layers "
            f"at the end: median r {np.median(across):+.2f}; per layer over training: median r {np.median(over_time):+.2f}")
    if all(significant) and all(r > 0 for r in r_run):
        verdict = "reproduced"
    elif all(significant) and all(r < 0 for r in r_run):
        verdict = "**not reproduced**: negative correlation in every run"
    else:
        verdict = "inconclusive: the runs disagree or are not significant"
    return ours, f"Pearson r (alpha vs 1/std) per run, each p < {ALPHA}: {sum(significant)}/{len(runs)}", verdict


def identity_diverges(ctx: Context):
    folder = ctx.runs_root / ctx.folder
    runs = [r for r in load_runs(folder) if r.config["norm"]["name"] == "identity"] if folder.is_dir() else []
    if not runs:
        return None
    n_div = sum(r.summary.get("status") == "diverged" for r in runs)
    acc = [float(r.summary["final/val/acc1"]) for r in runs if r.completed and "final/val/acc1" in r.summary]
    ours = f"{n_div}/{len(runs)} runs diverged" + (f"; completed: top-1 {fmt(acc)}" if acc else "")
    verdict = ("reproduced" if n_div == len(runs) else
               "**not reproduced**: no run diverged" if n_div == 0 else "inconclusive: some runs diverged")
    return ours, f"{n_div} of {len(runs)} seeds", verdict


def alpha_init_range(ctx: Context):
    """One-way ANOVA of final top-1 over the sweep's alpha inits in [0.5, 1.2]."""
    from scipy import stats

    from dyt.reports.sweep import columns, final, numeric_columns

    folder = ctx.runs_root / ctx.folder
    if not folder.is_dir():
        return None
    cols = columns(load_runs(folder))
    inside = [k for v, k in numeric_columns(cols) if 0.5 <= v <= 1.2]
    if len(inside) < 2:
        return "fewer than two inits in 0.5–1.2", "—", "inconclusive"
    groups = {k: [final(r, "val/acc1") for r in cols[k] if r.completed] for k in inside}
    stat, p = stats.f_oneway(*groups.values())
    means = {k: np.mean(v) for k, v in groups.items()}
    spread = max(means.values()) - min(means.values())
    ours = "; ".join(f"α {k}: {fmt(v)}" for k, v in groups.items())
    verdict = (f"reproduced: no significant effect of the init {LEVEL}" if p >= ALPHA
               else "**not reproduced**: the init matters here")
    return ours, f"one-way ANOVA F = {stat:.2f}, p = {p:.2g}; spread of means {spread:.2f}", verdict


def budget_trend(ctx: Context):
    """The regime ladder of ``ctx.folder``: the DyT arm's gap to the baseline per budget, and its trend."""
    from dyt.reports.regime.analysis import cells, crossover, gap, power_law, top_rung
    from dyt.reports.regime.plan import LADDERS

    ladder = LADDERS[ctx.folder]
    table = cells(ladder, ctx.runs_root)
    # the first DyT arm the plan trains with 2+ seeds at every rung (the GPT's paper-alpha arm has 1 seed a rung:
    # a yes/no collapse, no interval), so the trend can resolve
    dyts = [arm for arm in ladder.arms if arm.startswith("DyT")]
    dyt = next((arm for arm in dyts if all(len(ladder.seeds(arm, b)) >= 2 for b in ladder.rungs(arm))), dyts[0])
    rungs = [b for b in sorted(ladder.budgets) if (dyt, b) in table and (ladder.baseline, b) in table]
    if not rungs:
        return None
    parts = []
    for b in rungs:
        g, lo, hi = gap(ladder, table[(dyt, b)], table[(ladder.baseline, b)])
        parts.append(f"{table[(dyt, b)].steps} steps: {g:+.3g}" + (f" [{lo:+.3g}, {hi:+.3g}]" if math.isfinite(lo) else "")
                     + (" (collapsed)" if table[(dyt, b)].collapsed else ""))
    trend = crossover(ladder, dyt, table)
    if "slope" not in trend:
        verdict = f"inconclusive: {trend['text']}"
    elif trend["slope_ci"][1] < 0:
        verdict = (f"reproduced: the gap shrinks; by a line, {trend['text']}; by a "
                   f"{power_law(ladder, dyt, table)['text']}; {top_rung(ladder, dyt, table)['text']}")
    else:
        verdict = "**not reproduced**: " + trend["text"]
    return f"{dyt} minus {ladder.baseline} (worse > 0): " + "; ".join(parts), "gap per rung, 95% Welch CI", verdict


SPEED_PAR = 1.05  # "as fast as": within 5% of LayerNorm


def _bench_results(results_dir: Path) -> dict[str, dict]:
    """``{capability: results.json}`` of every full (not smoke) ``make bench`` run under ``results/bench``."""
    import json

    found = {}
    for path in sorted((results_dir / "bench").rglob("results.json")):
        data = json.loads(path.read_text())
        if not data.get("smoke"):
            cap = data["machine"].get("cpu_capability") if data["device"] == "cpu" else data["machine"].get("gpu", "cuda")
            found[str(cap)] = data
    return found


def _ratio_range(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}×" if len(values) > 1 else f"{values[0]:.2f}×"


def speed(ctx: Context):
    """``make bench``: fused DyT vs LayerNorm per op (C >= 384, forward and forward+backward) and per training
    step, for every CPU capability (or GPU) a bench was committed for."""
    benches = _bench_results(ctx.analysis_dir.parent)
    if not benches:
        return None
    parts, verdicts = [], []
    for cap, data in benches.items():
        ops = [r for r in data.get("op", []) if not r["channels_first"] and r["C"] >= 384]
        op = [r["results"]["DyT fused"]["median_ms"] / r["results"]["LayerNorm"]["median_ms"] for r in ops]
        by = {}
        for r in data.get("model", []):
            by.setdefault((r["experiment"], r["mode"]), {})[r["norm"]] = r["results"]["median_ms"]
        step = [v["dyt"] / v["ln"] for v in by.values() if "dyt" in v and "ln" in v]
        parts.append(f"{cap}: per op {_ratio_range(op)} LN" + (f", per training step {_ratio_range(step)}" if step else ""))
        if max(op + step) <= SPEED_PAR:
            verdicts.append(f"{cap}: as fast as LN, not faster")
        elif step and max(step) <= SPEED_PAR:
            verdicts.append(f"{cap}: as fast as LN per training step, up to {max(op):.2f}× slower per op")
        else:
            verdicts.append(f"{cap}: slower than LN (up to {max(op + step):.2f}×)")
    held = all(v.endswith("as fast as LN, not faster") for v in verdicts)
    verdict = ("reproduced (the revision's claim): " if held else "partly: ") + "; ".join(verdicts)
    return "; ".join(parts), f"median time ratios DyT/LN, measured side by side; parity: ≤ {SPEED_PAR}×", verdict
