"""``results/REPORT.md``: every claim of the paper this suite tests, one row each, generated from run dirs.

A row holds the paper's number, ours (mean ± std over seeds), the statistic, the verdict (reproduced /
not reproduced / inconclusive) and the command that made the runs. A claim whose runs are missing says
"not run"; nothing is typed by hand.

    python -m dyt.claims --runs runs --analysis results/analysis --out results/REPORT.md
"""

from __future__ import annotations

import argparse
import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from dyt.report import Run, load_runs, mean_std, welch

P = 0.05  # significance level
NOT_RUN = "not run"


@dataclass
class Comparison:
    """Arm ``other`` against arm ``base`` of the runs under ``runs/<folder>`` (arms: norm tags or prefixes)."""

    claim: str
    paper: str
    folder: str
    base: str
    other: str
    metric: str
    higher_is_better: bool
    expect: str  # "match": other equal or better than base; "worse": other significantly worse (a negative result)
    command: str
    section: str = ""


@dataclass
class Row:
    claim: str
    paper: str
    ours: str
    statistic: str
    verdict: str
    command: str


def _arm(runs: list[Run], tag: str) -> list[Run]:
    return [r for r in runs if r.arm == tag]


def _final(runs: list[Run], metric: str) -> list[float]:
    return [float(r.summary[f"final/{metric}"]) for r in runs if r.completed and f"final/{metric}" in r.summary]


def _fmt(values: list[float], n_bad: int = 0) -> str:
    mean, std = mean_std(values)
    extra = f", {n_bad} diverged/failed" if n_bad else ""
    return f"{mean:.4g} ± {std:.2g} (n = {len(values)}{extra})"


def compare(spec: Comparison, runs_root: Path) -> Row:
    runs = load_runs(runs_root / spec.folder) if (runs_root / spec.folder).is_dir() else []
    base, other = _arm(runs, spec.base), _arm(runs, spec.other)
    if not base or not other:
        return Row(spec.claim, spec.paper, NOT_RUN, "—", NOT_RUN, spec.command)
    a, b = _final(base, spec.metric), _final(other, spec.metric)
    bad = sum(not r.completed for r in other)
    ours = f"{spec.base}: {_fmt(a)}; {spec.other}: {_fmt(b, bad)}"
    t, p = welch(a, b)
    diff = float(np.mean(b) - np.mean(a)) if a and b else math.nan
    stat = f"Δ {spec.metric} = {diff:+.3g}, Welch t = {t:.2f}, p = {p:.2g}"
    if not math.isfinite(p):
        return Row(spec.claim, spec.paper, ours, stat, "inconclusive (fewer than 2 completed seeds per arm)", spec.command)
    worse = (diff < 0) == spec.higher_is_better and diff != 0
    significant = p < P
    if spec.expect == "match":
        if bad:
            verdict = "not reproduced (DyT runs diverged)"
        elif significant and worse:
            verdict = "**not reproduced**: significantly worse"
        elif significant:
            verdict = "reproduced: significantly better"
        else:
            pooled = float(np.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)) if len(a) > 1 and len(b) > 1 else math.nan
            verdict = ("reproduced: no significant difference" if abs(diff) <= 2 * pooled
                       else "inconclusive: a large gap that these seeds cannot resolve")
    else:  # the paper's negative result: DyT loses
        verdict = "reproduced: DyT significantly worse" if significant and worse else (
            "**not reproduced**: DyT not worse" if not worse else "inconclusive: worse, not significantly")
    return Row(spec.claim, spec.paper, ours, stat, verdict, spec.command)


COMPARISONS = [
    Comparison("ViT: DyT matches LN", "ViT-B 82.3 → 82.5, ViT-L 83.1 → 83.6 (ImageNet top-1)", "vit", "ln", "dyt-a0.5",
               "val/acc1", True, "match", "make reproduce-vit", "Transformers"),
    Comparison("ConvNeXt: DyT matches LN", "ConvNeXt-B 83.7 → 83.7, L 84.3 → 84.4", "convnext", "ln", "dyt-a0.5",
               "val/acc1", True, "match", "make reproduce-convnext"),
    Comparison("GPT-2 style LM: DyT matches LN", "GPT-2 124M val loss 2.94 → 2.97 (Derf paper)", "gpt", "ln", "dyt-aauto",
               "val/loss", False, "match", "make reproduce-gpt"),
    Comparison("LLaMA style LM: DyT matches RMSNorm", "LLaMA 7B loss 1.59 → 1.60; 70B 1.45 → 1.45", "llama", "rmsnorm",
               "dyt-aauto", "val/loss", False, "match", "make reproduce-gpt"),
    Comparison("ResNet: DyT replacing BatchNorm loses", "ResNet-50 76.2 → 68.9", "resnet", "bn", "dyt-a0.5", "val/acc1",
               True, "worse", "make reproduce-resnet", "Where DyT fails"),
    Comparison("VGG: DyT replacing BatchNorm loses", "VGG19 72.7 → 71.0", "vgg", "bn", "dyt-a0.5", "val/acc1", True,
               "worse", "make reproduce-resnet"),
    Comparison("Squashing: hardtanh instead of tanh is slightly worse", "ViT-B 82.5 → 82.2", "ablation", "dyt-a0.5",
               "hardtanh-a0.5", "val/acc1", True, "worse", "make analysis", "Ablations"),
    Comparison("Squashing: sigmoid instead of tanh is worse", "ViT-B 82.5 → 81.6", "ablation", "dyt-a0.5", "sigmoid-a0.5",
               "val/acc1", True, "worse", "make analysis"),
    Comparison("A learnable alpha helps (tanh without alpha is worse)", "ViT-B 82.5 → 81.1", "ablation", "dyt-a0.5",
               "dyt-noalpha-a0.5", "val/acc1", True, "worse", "make analysis"),
    Comparison("Derf matches LN (beyond the paper)", "GPT-2 124M val loss LN 2.94, Derf 2.94; ViT-B 82.8", "ablation", "ln",
               "derf-a0.5", "val/acc1", True, "match", "make analysis", "Beyond the paper"),
    Comparison("DyISRU matches LN (beyond the paper)", "derived as RMSNorm's element-wise counterpart (no ImageNet number)",
               "ablation", "ln", "dyisru-a0.5", "val/acc1", True, "match", "make analysis"),
    Comparison("Calibrated alpha init closes the gap to LN (ours)", "— (issue 9)", "vit", "ln", "dyt-cal1", "val/acc1",
               True, "match", "make reproduce-vit"),
    Comparison("Calibrated alpha vs the paper's 0.5 (ours)", "—", "vit", "dyt-a0.5", "dyt-cal1", "val/acc1", True, "match",
               "make reproduce-vit"),
    Comparison("Calibrated alpha in a GPT-2 style LM (ours)", "—", "gpt", "ln", "dyt-cal1", "val/loss", False, "match",
               "make reproduce-gpt"),
]


def identity_diverges(runs_root: Path) -> Row:
    claim, paper, command = "Without squashing (identity) training diverges", "ViT-B 61.0 then diverged", "make analysis"
    runs = load_runs(runs_root / "ablation") if (runs_root / "ablation").is_dir() else []
    ident = [r for r in runs if r.config["norm"]["name"] == "identity"]
    if not ident:
        return Row(claim, paper, NOT_RUN, "—", NOT_RUN, command)
    n_div = sum(r.summary.get("status") == "diverged" for r in ident)
    acc = _final(ident, "val/acc1")
    ours = f"{n_div}/{len(ident)} runs diverged" + (f"; completed: top-1 {_fmt(acc)}" if acc else "")
    verdict = ("reproduced" if n_div == len(ident) else
               "**not reproduced**: no run diverged" if n_div == 0 else "inconclusive: some runs diverged")
    return Row(claim, paper, ours, f"{n_div} of {len(ident)} seeds", verdict, command)


def alpha_init_range(runs_root: Path) -> Row:
    claim = "Non-LLM models are insensitive to alpha init in 0.5–1.2"
    paper, command = "ImageNet: ≤ 0.1–0.2 top-1 between inits 0.5 and 1.2", "make sweep-alpha"
    folder = runs_root / "sweep_alpha_vit"
    if not folder.is_dir():
        return Row(claim, paper, NOT_RUN, "—", NOT_RUN, command)
    from dyt.sweep_report import columns, final

    cols = columns(load_runs(folder))
    inside = [k for k in cols if _is_number(k) and 0.5 <= float(k) <= 1.2]
    if len(inside) < 2:
        return Row(claim, paper, "fewer than two inits in 0.5–1.2", "—", "inconclusive", command)
    groups = {k: [final(r, "val/acc1") for r in cols[k] if r.completed] for k in sorted(inside, key=float)}
    from scipy import stats

    stat, p = stats.f_oneway(*groups.values())
    means = {k: np.mean(v) for k, v in groups.items()}
    spread = max(means.values()) - min(means.values())
    ours = "; ".join(f"α {k}: {_fmt(v)}" for k, v in groups.items())
    verdict = "reproduced: no significant effect of the init" if p >= P else "**not reproduced**: the init matters here"
    return Row(claim, paper, ours, f"one-way ANOVA F = {stat:.2f}, p = {p:.2g}; spread of means {spread:.2f}",
               verdict, command)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


ANALYSIS_ROWS: list[Callable[[Path], Row]] = []  # rows computed from results/analysis tables (dyt.analysis)


def analysis_rows(analysis_dir: Path) -> list[Row]:
    rows = []
    scurve = analysis_dir / "scurve_vit.csv"
    claim, paper = "LN maps inputs to tanh-like S-curves; ~99% of points lie in the linear middle", "ViT-B, one batch: ~99%"
    if scurve.exists():
        table = list(csv.DictReader(scurve.open()))
        key = next((k for k in table[0] if "linear" in k), None) if table else None
        if key:
            fractions = [float(r[key]) for r in table]
            r2_key = next((k for k in table[0] if k.lower().startswith("r2")), None)
            r2 = [float(r[r2_key]) for r in table] if r2_key else []
            ours = f"linear-region fraction per layer {min(fractions):.3f}–{max(fractions):.3f} (mean {np.mean(fractions):.3f})"
            stat = f"tanh fit R² {min(r2):.2f}–{max(r2):.2f}" if r2 else "—"
            verdict = "reproduced" if np.mean(fractions) >= 0.9 else "**not reproduced**: fewer points in the linear middle"
            rows.append(Row(claim, paper, ours, stat, verdict, "make analysis"))
    if not rows:
        rows.append(Row(claim, paper, NOT_RUN, "—", NOT_RUN, "make analysis"))
    corr = analysis_dir / "alpha_std.csv"
    claim, paper = "alpha tracks 1/std of its input", "qualitative (figure): alpha ∝ 1/std over training and layers"
    if corr.exists():
        table = {r["what"]: r for r in csv.DictReader(corr.open())} if "what" in corr.read_text().splitlines()[0] else {}
        if table:
            parts = [f"{k}: r = {float(v['pearson_r']):.2f}" for k, v in table.items()]
            values = [float(v["pearson_r"]) for v in table.values()]
            verdict = "reproduced" if min(values) > 0.5 else "inconclusive" if max(values) > 0.5 else "**not reproduced**"
            rows.append(Row(claim, paper, "; ".join(parts), "Pearson r (alpha vs 1/std)", verdict, "make analysis"))
    if len(rows) < 2:
        rows.append(Row(claim, paper, NOT_RUN, "—", NOT_RUN, "make analysis"))
    return rows


def build_rows(runs_root: Path, analysis_dir: Path) -> list[Row]:
    rows = [compare(spec, runs_root) for spec in COMPARISONS[:6]]
    rows += analysis_rows(analysis_dir)
    rows += [identity_diverges(runs_root)] + [compare(spec, runs_root) for spec in COMPARISONS[6:9]]
    rows += [alpha_init_range(runs_root)]
    rows += [compare(spec, runs_root) for spec in COMPARISONS[9:]]
    return rows


def write_report(rows: list[Row], out: Path, command: str) -> None:
    lines = ["# Report: every claim this suite tests", "",
             f"Generated by `{command}` from the run dirs under `runs/` and the tables of `results/analysis/`; "
             "never typed by hand. \"not run\" means no run dir exists for that claim yet: run its command.",
             f"Statistic: Welch's t-test over seeds (two-sided), significance level {P}. Our runs are CPU-scale "
             "(Fashion-MNIST, Shakespeare characters, minutes of training), the paper's are ImageNet / LLM-scale: a "
             "verdict is about the claim at our scale. Details, curves and caveats: `results/<claim>/README.md` and "
             "`experiments/<claim>/README.md`.", "",
             "| claim | paper | ours (mean ± std, seeds) | statistic | verdict | command |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.claim} | {r.paper} | {r.ours} | {r.statistic} | {r.verdict} | `{r.command}` |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--analysis", type=Path, default=Path("results/analysis"))
    parser.add_argument("--out", type=Path, default=Path("results/REPORT.md"))
    args = parser.parse_args(argv)
    rows = build_rows(args.runs, args.analysis)
    write_report(rows, args.out, f"python -m dyt.claims --runs {args.runs} --analysis {args.analysis} --out {args.out}")
    done = sum(r.verdict != NOT_RUN for r in rows)
    print(f"{args.out}: {len(rows)} claims, {done} with runs, {len(rows) - done} not run")


if __name__ == "__main__":
    main()
