"""``results/regime/``: per model the gap to the baseline against budget (figure, csv, tables), the
interventions at the default budget, and what the DyT layers looked like at the end (saturation, alpha,
the residual stream)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from dyt.reports.regime.analysis import CROSSOVER_HORIZON, Cell, cells, run_label, crossover, gap, power_law, top_rung
from dyt.reports.regime.plan import LADDERS, Ladder
from dyt.reports.evaluators import fmt
from dyt.reports.runs import load_runs
from dyt.reports.stats import EQUIVALENCE_MARGIN, mean_std
from dyt.reports.verdict import compare, verdict


def _cell_text(cell: Cell) -> str:
    return fmt(cell.values, cell.runs - len(cell.values), cell.collapsed)


def _gap_text(ladder: Ladder, cell: Cell, base: Cell | None) -> str:
    if base is None or cell.arm == ladder.baseline or not cell.values or not base.values:
        return "—"
    g, lo, hi = gap(ladder, cell, base)
    return f"{g:+.3g} [{lo:+.3g}, {hi:+.3g}]" if math.isfinite(lo) else f"{g:+.3g}"


def ladder_lines(ladder: Ladder, table: dict) -> list[str]:
    unit = "epochs" if ladder.budget_key.endswith("epochs") else "steps"
    lines = [f"| arm | budget ({unit}) | steps | final `{ladder.metric}` (mean ± std) | gap to {ladder.baseline} "
             "[95% CI] (worse > 0) | train–val gap (val loss − train loss, eval mode) |", "| --- | --- | --- | --- | --- | --- |"]
    for arm in ladder.arms:
        for b in ladder.rungs(arm):
            cell = table.get((arm, b))
            if cell is not None:
                fit = (f"{np.mean(cell.fit_gaps):+.3g} (n = {len(cell.fit_gaps)})" if cell.fit_gaps else "—")
                lines.append(f"| {arm} | {b:g} | {cell.steps} | {_cell_text(cell)} | "
                             f"{_gap_text(ladder, cell, table.get((ladder.baseline, b)))} | {fit} |")
    lines += ["", "Where the gap closes, by two models of the trend that three rungs cannot tell apart: a line of the gap "
              "against log10(steps) (it crosses 0) and a power law (the gap shrinks by the same factor per decade and "
              "never crosses), each weighted by the rungs' intervals; and where the arm stands at the top rung:", ""]
    for arm in ladder.arms:
        if arm != ladder.baseline:
            trend = crossover(ladder, arm, table)
            lines.append(f"- {arm}: line: {trend['text']}")
            if "slope" in trend:
                lines += [f"  - {power_law(ladder, arm, table)['text']}", f"  - {top_rung(ladder, arm, table)['text']}"]
    return lines


def intervention_lines(ladder: Ladder, table: dict) -> list[str]:
    dyt = next(arm for arm in ladder.arms if arm.startswith("DyT"))
    ref = table.get((dyt, ladder.default))
    base = table.get((ladder.baseline, ladder.default))
    rows = [a for a in (*ladder.arms, *ladder.interventions) if (a, ladder.default) in table]
    lines = [f"| arm (default budget, {ladder.default:g}) | final `{ladder.metric}` | gap to {ladder.baseline} [95% CI] "
             f"(worse > 0) | gain over {dyt} (better > 0): Δ, Welch p, verdict |", "| --- | --- | --- | --- |"]
    for arm in rows:
        cell = table[(arm, ladder.default)]
        versus = "—"
        if ref is not None and arm != dyt and cell.values and ref.values:
            c = compare(ref.values, cell.values, ladder.metric, ladder.higher_is_better, collapsed=(ref.collapsed, cell.collapsed))
            gain = (c.diff if ladder.higher_is_better else -c.diff) + 0.0  # no "-0"
            versus = f"{gain:+.3g}, p = {c.welch[1]:.2g}: {verdict(c, 'neutral', arm, dyt)}"
        lines.append(f"| {arm} | {_cell_text(cell)} | {_gap_text(ladder, cell, base)} | {versus} |")
    return lines


def internals(ladder: Ladder, runs_root: Path) -> list[str]:
    """DyT's state in the last logged row of each DyT run, per arm and budget (the interventions at the default
    one): saturation, alpha, the residual stream."""
    folder = runs_root / ladder.model
    runs = load_runs(folder) if folder.is_dir() else []
    unit = "epochs" if ladder.budget_key.endswith("epochs") else "steps"
    lines = [f"| arm | budget ({unit}) | runs | saturated share, mean over layers (max) | alpha at the end, min–max | "
             "residual std, last block / first block |", "| --- | --- | --- | --- | --- | --- |"]
    for arm in (*ladder.arms, *ladder.interventions):
        for b in ladder.rungs(arm):
            label = run_label(ladder, ladder.overrides(arm), b)
            last = [r.rows[-1] for r in runs if r.arm == label and r.rows and any(k.startswith("sat/") for k in r.rows[-1])]
            if not last:
                continue
            sat = [[v for k, v in row.items() if k.startswith("sat/")] for row in last]
            alphas = [v for row in last for k, v in row.items() if k.startswith("alpha/")]
            resid = [[v for k, v in row.items() if k.startswith("resid_std/")] for row in last]
            ratio = [r[-1] / r[0] for r in resid if len(r) > 1 and r[0] > 0]
            lines.append(f"| {arm} | {b:g} | {len(last)} | {np.mean([np.mean(s) for s in sat]):.3f} "
                         f"({max(max(s) for s in sat):.3f}) | {min(alphas):.3g}–{max(alphas):.3g} | "
                         + (f"{np.mean(ratio):.3g}×" if ratio else "—") + " |")
    return lines if len(lines) > 2 else ["(no DyT run with the saturation columns yet)"]


def planned(ladder: Ladder) -> dict[float, int]:
    """Runs the plan trains per budget: every arm at its rungs, the interventions at the default one."""
    out = dict.fromkeys(ladder.budgets, 0)
    for arm in (*ladder.arms, *ladder.interventions):
        for b in ladder.rungs(arm):
            out[b] += len(ladder.seeds(arm, b))
    return out


def compute_lines(ladder: Ladder, table: dict) -> list[str]:
    """How far the study is, and what a run costs here: the mean training time of each budget's finished runs."""
    unit = "epochs" if ladder.budget_key.endswith("epochs") else "steps"
    lines = [f"| budget ({unit}) | runs finished / planned | training time per run (s, median over runs) |", "| --- | --- | --- |"]
    left, unknown = 0.0, 0
    for b, n in sorted(planned(ladder).items()):
        cells_b = [c for (_, budget), c in table.items() if budget == b]
        # the plan's runs only: older records with more seeds (or arms no longer planned) do not count as progress
        done = sum(min(len(c.values), len(ladder.seeds(label, b))) for (label, budget), c in table.items()
                   if budget == b and label in (*ladder.arms, *ladder.interventions) and b in ladder.rungs(label))
        secs = [c.seconds for c in cells_b if math.isfinite(c.seconds)]
        per = float(np.median(secs)) if secs else math.nan
        if math.isfinite(per):
            left += max(n - done, 0) * per
        elif n > done:
            unknown += 1
        lines.append(f"| {b:g} | {done} / {n} | " + (f"{per:.0f}" if math.isfinite(per) else "—") + " |")
    rest = f"{left / 3600:.1f} h of such jobs ({left / 7200:.1f} h of wall time two at a time)" if left else ""
    more = f"{'plus ' if rest else ''}the runs of {unknown} budget(s) without a finished run to time" if unknown else ""
    lines += ["", "Times are each run's own `train_seconds` (evaluation and checkpoints excluded), as recorded where "
              "it ran (`make regime`: two one-thread jobs side by side on 2 cores). "
              + (f"Still to run: {', '.join(t for t in (rest, more) if t)}." if rest or more else "Every planned run is done.")]
    return lines


def _plot_trends(ax, ladder: Ladder, arm: str, table: dict, steps: list[int], color: str) -> None:
    """The two trend readings of ``arm``'s gap, from its first rung to ``CROSSOVER_HORIZON`` × its top rung: the
    line in log10(steps) dashed, the power law dotted (only where the report fits them and the gap shrinks)."""
    line, law = crossover(ladder, arm, table), power_law(ladder, arm, table)
    if "line" not in line:
        return
    x = np.logspace(math.log10(min(steps)), math.log10(max(steps) * CROSSOVER_HORIZON), 60)
    a, b = line["line"]
    ax.plot(x, a + b * np.log10(x), ls="--", lw=1, color=color, alpha=0.7)
    if law.get("k", 0) > 0:  # a growing gap gets no power law: it would only say "grows faster"
        c, slope = law["fit"]
        ax.plot(x, 10 ** (c + slope * np.log10(x)), ls=":", lw=1.5, color=color, alpha=0.9)


def plot(ladder: Ladder, table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_gap, ax_raw) = plt.subplots(1, 2, figsize=(12, 4.5))
    top = 0.0  # the highest measured gap + its interval: the extrapolated lines may not stretch the axis beyond it
    for i, arm in enumerate(ladder.arms):
        pts = [(table[(arm, b)], table.get((ladder.baseline, b))) for b in sorted(ladder.budgets) if (arm, b) in table]
        if not pts:
            continue
        steps = [c.steps for c, _ in pts]
        ax_raw.errorbar(steps, [np.mean(c.values) if c.values else math.nan for c, _ in pts],
                        yerr=[np.std(c.values, ddof=1) if len(c.values) > 1 else 0 for c, _ in pts],
                        marker="o", capsize=3, label=arm, color=f"C{i}")
        if arm == ladder.baseline:
            continue
        gaps = [gap(ladder, c, b) if b is not None and c.values else (math.nan,) * 3 for c, b in pts]
        low = [g - lo if math.isfinite(lo) else 0 for g, lo, _ in gaps]
        high = [hi - g if math.isfinite(hi) else 0 for g, _, hi in gaps]
        ax_gap.errorbar(steps, [g for g, _, _ in gaps], yerr=[low, high], marker="o", capsize=3, label=arm, color=f"C{i}")
        _plot_trends(ax_gap, ladder, arm, table, steps, f"C{i}")
        top = max([top, *[g + h for (g, _, _), h in zip(gaps, high) if math.isfinite(g)]])
    ax_gap.axhline(0, color="black", lw=1)
    if top > 0:
        ax_gap.set_ylim(-0.25 * top, 1.08 * top)
    margin = EQUIVALENCE_MARGIN.get(ladder.metric)
    if margin is not None:
        ax_gap.axhspan(-margin, margin, color="grey", alpha=0.15, lw=0, label=f"equivalence margin ±{margin:g}")
    gap_title = f"gap to {ladder.baseline} (worse > 0), 95% CI\ntrend: line in log steps (dashed), power law (dotted)"
    for ax, title in ((ax_gap, gap_title), (ax_raw, f"final {ladder.metric} (mean ± std over seeds)")):
        ax.set_xscale("log")
        ax.set_xlabel("training steps (each budget its own full schedule)")
        ax.set_title(f"{ladder.model}: {title}")
        ax.grid(alpha=0.3, which="both")
    ax_gap.legend(fontsize=8)
    ax_raw.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_csv(ladder: Ladder, table: dict, path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "arm", "budget", "steps", "runs", "completed", "collapsed", "mean", "std", "gap", "gap_low",
                    "gap_high", "train_val_gap"])
        for (arm, budget), cell in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            base = table.get((ladder.baseline, budget))
            g, lo, hi = gap(ladder, cell, base) if base is not None and cell.values and arm != ladder.baseline \
                else (math.nan,) * 3
            mean, sd = mean_std(cell.values)
            w.writerow([ladder.model, arm, f"{budget:g}", cell.steps, cell.runs, len(cell.values), cell.collapsed,
                        f"{mean:.6g}", f"{sd:.6g}", f"{g:.6g}", f"{lo:.6g}", f"{hi:.6g}",
                        f"{np.mean(cell.fit_gaps):.6g}" if cell.fit_gaps else "nan"])


def report(models, runs_root: Path = Path("runs"), out: Path = Path("results/regime")) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# The regime study: when and why DyT catches up", "",
             f"Generated by `python -m dyt.reports.regime report {' '.join(models)}` (`make regime`) from the run dirs; "
             "do not edit by hand. The question, the mechanisms and our verdicts: "
             "[`experiments/regime/README.md`](../../experiments/regime/README.md).", ""]
    for model in models:
        ladder = LADDERS[model]
        table = cells(ladder, runs_root)
        lines += [f"## {model}", ""]
        if not table:
            lines += [f"not run (no runs under `{runs_root / model}`: `make regime-{model}`)", ""]
            continue
        plot(ladder, table, out / f"{model}.png")
        write_csv(ladder, table, out / f"{model}.csv")
        lines += [f"![{model}: gap to {ladder.baseline} against budget]({model}.png)", "", "### The budget ladder", "",
                  *ladder_lines(ladder, table), "", "### Interventions at the default budget", "",
                  *intervention_lines(ladder, table), "", "### DyT's layers at the end of each budget", "",
                  *internals(ladder, runs_root), "", "### Progress and compute", "", *compute_lines(ladder, table), "",
                  f"Rows: [`{model}.csv`]({model}.csv).", ""]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    return out / "README.md"
