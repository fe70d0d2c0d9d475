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

import numpy as np

from dyt.report import ALPHA, Run, load_runs, mean_std, welch

P = ALPHA  # significance level, as in every report
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
    expect: str  # "match": other not worse than base; "better": other significantly better; "worse": a negative result
    command: str
    section: str  # the experiments/ folder of the claim


@dataclass
class Row:
    claim: str
    paper: str
    ours: str
    statistic: str
    verdict: str
    command: str
    section: str = ""  # the experiments/<section>/ folder of the claim; REPORT.md has one heading per section


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
    elif spec.expect == "better":
        verdict = ("reproduced: significantly better" if significant and not worse else
                   "**not reproduced**: significantly worse" if significant else
                   "**not reproduced**: no significant difference")
    else:  # the paper's negative result: DyT loses
        verdict = f"reproduced: {spec.other} significantly worse" if significant and worse else (
            f"**not reproduced**: {spec.other} not worse" if not worse else "inconclusive: worse, not significantly")
    return Row(spec.claim, spec.paper, ours, stat, verdict, spec.command)


C = Comparison
COMPARISONS = [
    C("ViT: DyT matches LN", "ViT-B 82.3 → 82.5, ViT-L 83.1 → 83.6 (ImageNet top-1)", "vit", "ln", "dyt-a0.5",
      "val/acc1", True, "match", "make reproduce-vit", "vit"),
    C("ConvNeXt: DyT matches LN", "ConvNeXt-B 83.7 → 83.7, L 84.3 → 84.4", "convnext", "ln", "dyt-a0.5",
      "val/acc1", True, "match", "make reproduce-convnext", "convnext"),
    C("GPT-2 style LM: DyT matches LN", "GPT-2 124M val loss 2.94 → 2.97 (Derf paper)", "gpt", "ln", "dyt-aauto",
      "val/loss", False, "match", "make reproduce-gpt", "gpt"),
    C("LLaMA style LM: DyT matches RMSNorm", "LLaMA 7B loss 1.59 → 1.60; 70B 1.45 → 1.45", "llama", "rmsnorm",
      "dyt-aauto", "val/loss", False, "match", "make reproduce-gpt", "gpt"),
    C("ResNet: DyT replacing BatchNorm loses", "ResNet-50 76.2 → 68.9", "resnet", "bn", "dyt-a0.5", "val/acc1",
      True, "worse", "make reproduce-resnet", "resnet"),
    C("VGG: DyT replacing BatchNorm loses", "VGG19 72.7 → 71.0", "vgg", "bn", "dyt-a0.5", "val/acc1", True,
      "worse", "make reproduce-resnet", "resnet"),
    C("Squashing: hardtanh instead of tanh is slightly worse", "ViT-B 82.5 → 82.2", "ablation", "dyt-a0.5",
      "hardtanh-a0.5", "val/acc1", True, "worse", "make analysis", "ablation"),
    C("Squashing: sigmoid instead of tanh is worse", "ViT-B 82.5 → 81.6", "ablation", "dyt-a0.5", "sigmoid-a0.5",
      "val/acc1", True, "worse", "make analysis", "ablation"),
    C("A learnable alpha helps (tanh without alpha is worse)", "ViT-B 82.5 → 81.1", "ablation", "dyt-a0.5",
      "dyt-noalpha-a0.5", "val/acc1", True, "worse", "make analysis", "ablation"),
    C("Derf matches LN in a ViT (beyond the paper)", "ViT-B: LN 82.3, Derf 82.8 (Derf paper)", "ablation", "ln",
      "derf-a0.5", "val/acc1", True, "match", "make analysis", "ablation"),
    C("DyISRU matches LN in a ViT (beyond the paper)", "— (RMSNorm's element-wise counterpart; no training runs published)",
      "ablation", "ln", "dyisru-a0.5", "val/acc1", True, "match", "make analysis", "ablation"),
    C("Derf matches LN in a GPT-2 style LM (beyond the paper)", "GPT-2 124M val loss LN 2.94, Derf 2.94 (Derf paper)",
      "gpt", "ln", "derf-aauto", "val/loss", False, "match", "make analysis", "ablation"),
    C("Derf beats DyT in a GPT-2 style LM (beyond the paper)", "GPT-2 124M val loss DyT 2.97 → Derf 2.94 (Derf paper)",
      "gpt", "dyt-aauto", "derf-aauto", "val/loss", False, "better", "make analysis", "ablation"),
    C("DyISRU matches LN in a GPT-2 style LM (beyond the paper)", "— (no training runs published)", "gpt", "ln",
      "dyisru-aauto", "val/loss", False, "match", "make analysis", "ablation"),
    C("Derf beats DyT in a GPT-2 style LM, both with calibrated alpha (beyond the paper)",
      "GPT-2 124M val loss DyT 2.97 → Derf 2.94 (Derf paper)", "gpt", "dyt-cal1", "derf-cal1", "val/loss", False,
      "better", "python -m dyt.train -m experiment=gpt norm=derf,dyisru norm.alpha_init=calibrate seed=0,1,2", "ablation"),
    C("DyISRU matches DyT in a GPT-2 style LM, both with calibrated alpha (beyond the paper)", "— (no training runs published)",
      "gpt", "dyt-cal1", "dyisru-cal1", "val/loss", False, "match",
      "python -m dyt.train -m experiment=gpt norm=derf,dyisru norm.alpha_init=calibrate seed=0,1,2", "ablation"),
    C("Calibrated alpha init matches LN in a ViT (ours)", "—", "vit", "ln", "dyt-cal1", "val/acc1",
      True, "match", "make reproduce-vit", "calibrated_alpha"),
    C("Calibrated alpha beats the paper's 0.5 in a ViT (ours)", "—", "vit", "dyt-a0.5", "dyt-cal1", "val/acc1", True,
      "better", "make reproduce-vit", "calibrated_alpha"),
    C("Calibrated alpha init matches LN in a GPT-2 style LM (ours)", "—", "gpt", "ln", "dyt-cal1", "val/loss", False,
      "match", "make reproduce-gpt", "calibrated_alpha"),
    C("Calibrated alpha replaces BatchNorm in a ResNet (ours)", "—", "resnet", "bn", "dyt-cal1", "val/acc1", True,
      "match", "make reproduce-resnet", "resnet"),
    C("Calibrated alpha init matches LN in a ConvNeXt (ours)", "—", "convnext", "ln", "dyt-cal1", "val/acc1", True,
      "match", "make reproduce-convnext CONVNEXT_NORMS=ln,dyt,dyt_cal", "convnext"),
]
del C

# REPORT.md: one heading per experiments/ folder, in this order (each experiment README links its section)
SECTIONS = {"vit": "DyT in Vision Transformers", "convnext": "DyT in ConvNeXt", "gpt": "DyT in language models",
            "resnet": "Where DyT fails: BatchNorm in classic ConvNets", "analysis": "LN as a tanh, alpha and 1/std",
            "ablation": "Squashing functions, alpha, Derf and DyISRU", "sweep_alpha": "alpha init",
            "calibrated_alpha": "Calibrated alpha init (ours, not the paper's)"}


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
    from dyt.sweep_report import _numeric, columns, final

    cols = columns(load_runs(folder))
    inside = [k for v, k in _numeric(cols) if 0.5 <= v <= 1.2]
    if len(inside) < 2:
        return Row(claim, paper, "fewer than two inits in 0.5–1.2", "—", "inconclusive", command)
    groups = {k: [final(r, "val/acc1") for r in cols[k] if r.completed] for k in inside}
    from scipy import stats

    stat, p = stats.f_oneway(*groups.values())
    means = {k: np.mean(v) for k, v in groups.items()}
    spread = max(means.values()) - min(means.values())
    ours = "; ".join(f"α {k}: {_fmt(v)}" for k, v in groups.items())
    verdict = "reproduced: no significant effect of the init" if p >= P else "**not reproduced**: the init matters here"
    return Row(claim, paper, ours, f"one-way ANOVA F = {stat:.2f}, p = {p:.2g}; spread of means {spread:.2f}",
               verdict, command)


LINEAR_SHARE = 0.9  # "~99% of points in the linear middle": reproduced when the mean share over layers is at least this


def _csv(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open())) if path.exists() else []


EXTREME_X = 50  # the paper's example of an input LN squashes (|x| > 50 in ViT-B)
LINEAR_CLAIM = ("LN's mapping: ~99% of points in the linear middle", "ViT-B, one batch: ~99% linear")
EXTREME_CLAIM = ("LN squashes a few extreme values", "ViT-B: inputs with |x| > 50 squashed")
DEPTH_CLAIM = ("LN: early layers linear, deeper layers tanh-like S-curves", "ViT-B, wav2vec 2.0, DiT (figure)")


def scurve_rows(analysis_dir: Path) -> list[Row]:
    """Three rows from ``scurves_<model>.csv`` (``dyt.analysis.scurve``): linear share, extremes, depth trend."""
    tables = {m: _csv(analysis_dir / f"scurves_{m}.csv") for m in ("vit", "gpt")}
    tables = {m: t for m, t in tables.items() if t}
    command = "make analysis"
    if not tables:
        return [Row(*claim, NOT_RUN, "—", NOT_RUN, command) for claim in (LINEAR_CLAIM, EXTREME_CLAIM, DEPTH_CLAIM)]
    shares, linear_parts, extreme_parts, absmaxes = [], [], [], []
    for model, table in tables.items():
        linear = [float(r["frac_linear"]) for r in table]
        squashed = [float(r["frac_squashed"]) for r in table]
        absmaxes.append(max(float(r["input_absmax"]) for r in table))
        shares.append(float(np.mean(linear)))
        linear_parts.append(f"{model}: {100 * np.mean(linear):.1f}% linear (layers {100 * min(linear):.0f}–"
                            f"{100 * max(linear):.0f}%)")
        extreme_parts.append(f"{model}: max |x| {absmaxes[-1]:.3g}, ≤ {100 * max(squashed):.2f}% of points squashed")
    verdict = ("reproduced" if min(shares) >= LINEAR_SHARE
               else "**not reproduced**: fewer points in the linear middle")
    rows = [Row(*LINEAR_CLAIM, "; ".join(linear_parts), f"mean share over layers, threshold {LINEAR_SHARE:.0%}",
                verdict, command)]
    verdict = ("reproduced" if max(absmaxes) > EXTREME_X else
               f"inconclusive: no input beyond |x| = {EXTREME_X} in our models, nothing extreme to squash")
    rows.append(Row(*EXTREME_CLAIM, "; ".join(extreme_parts), f"largest |LN input| vs {EXTREME_X}", verdict, command))
    # depth trend: S-ness = R² of b·tanh(a·x) minus R² of a line, against the layer's depth (Spearman)
    from scipy import stats

    parts, signs = [], []
    for model, table in tables.items():
        gain = [float(r["r2_tanh"]) - float(r["r2_line"]) for r in table]
        rho, p = stats.spearmanr([int(r["index"]) for r in table], gain)
        parts.append(f"{model}: ρ = {rho:+.2f} (p = {p:.2g}, {len(table)} layers)")
        signs.append(0 if not (p < P) else (1 if rho > 0 else -1))
    verdict = ("reproduced" if all(s > 0 for s in signs) else "**not reproduced**" if all(s < 0 for s in signs)
               else "inconclusive: the models disagree or the trend is not significant")
    rows.append(Row(*DEPTH_CLAIM, "; ".join(parts), "Spearman ρ of depth vs (R² tanh − R² line)", verdict, command))
    return rows


def alpha_std_row(analysis_dir: Path) -> Row:
    """From ``alpha_std.csv`` (``dyt.analysis.alpha_std``): does alpha follow 1/std of its input?"""
    claim, paper = "alpha tracks 1/std of its input", "figure: alpha ∝ 1/std over training and across layers"
    table = _csv(analysis_dir / "alpha_std.csv")
    if not table:
        return Row(claim, paper, NOT_RUN, "—", NOT_RUN, "make analysis")
    runs = [r for r in table if not r["run"].startswith("pooled")]
    r_run = [float(r["r_all"]) for r in runs]
    significant = [float(r["p_all"]) < P for r in runs]  # each run on its own: its points are not independent of it
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
    return Row(claim, paper, ours, f"Pearson r (alpha vs 1/std) per run, each p < {P}: {sum(significant)}/{len(runs)}",
               verdict, "make analysis")


def analysis_rows(analysis_dir: Path) -> list[Row]:
    return scurve_rows(analysis_dir) + [alpha_std_row(analysis_dir)]


def _with_section(row: Row, section: str) -> Row:
    row.section = section
    return row


def build_rows(runs_root: Path, analysis_dir: Path) -> list[Row]:
    """Every claim's row, grouped by ``SECTIONS`` (claims keep their order within a section)."""
    rows = [_with_section(compare(spec, runs_root), spec.section) for spec in COMPARISONS]
    rows += [_with_section(r, "analysis") for r in analysis_rows(analysis_dir)]
    rows.append(_with_section(identity_diverges(runs_root), "ablation"))
    rows.append(_with_section(alpha_init_range(runs_root), "sweep_alpha"))
    order = list(SECTIONS)
    return sorted(rows, key=lambda r: order.index(r.section))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a literal | (as in |x|) would end the markdown cell


def write_report(rows: list[Row], out: Path, command: str) -> None:
    lines = ["# Report: every claim this suite tests", "",
             f"Generated by `{command}` from the run dirs under `runs/` and the tables of `results/analysis/`; "
             "never typed by hand. \"not run\" means no run dir exists for that claim yet: run its command.",
             f"Statistic: Welch's t-test over seeds (two-sided), significance level {P}. Our runs are CPU-scale "
             "(Fashion-MNIST, Shakespeare characters, minutes of training), the paper's are ImageNet / LLM-scale: a "
             "verdict is about the claim at our scale. Details, curves and caveats: `results/<claim>/README.md` and "
             "`experiments/<claim>/README.md`.", "",
             "Sections follow `experiments/`: each experiment README links its section here.", ""]
    for section, title in SECTIONS.items():
        here = [r for r in rows if r.section == section]
        if not here:
            continue
        lines += [f"## {section}", "", f"{title}: [`experiments/{section}/`](../experiments/{section}/README.md)", "",
                  "| claim | paper | ours (mean ± std, seeds) | statistic | verdict | command |",
                  "|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join(_cell(c) for c in (r.claim, r.paper, r.ours, r.statistic, r.verdict))
                  + f" | `{r.command}` |" for r in here]
        lines.append("")
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
