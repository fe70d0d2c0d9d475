"""Every arm of an experiment against one reference arm, beside the paper's numbers.

``dyt.reports.experiment`` compares each arm with the normalized baseline (LN); the
squashing ablation's questions are about tanh instead: does identity diverge,
is tanh better than hardtanh and sigmoid, does a learnable alpha help? This
module tabulates them from the same run dirs: per arm the final metric (mean ±
std over seeds, diverged runs counted apart), the difference to the reference
arm with Welch's t-test, the paper's difference, and whether ours has the
paper's sign (significance and sign only). The claims' verdicts, with their
thresholds, come from one place, ``dyt.reports.claims`` (results/REPORT.md).

    python -m dyt.reports.analysis.compare runs/ablation --reference dyt --paper ablation --out results/analysis/ablation_vs_tanh
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

from dyt.nn.variants import is_dyt_family
from dyt.reports.registry import EXPERIMENTS
from dyt.reports.runs import load_runs
from dyt.reports.stats import ALPHA, mean_std
from dyt.reports.verdict import compare as compare_arms


def _arms(runs_dirs: list[Path]) -> dict[str, list]:
    """``{arm (norm tag): runs}``; the paper's numbers are looked up by each arm's ``norm.name``."""
    arms: dict[str, list] = {}
    for d in runs_dirs:
        for r in load_runs(d):
            arms.setdefault(r.arm, []).append(r)
    return arms


def _reference_arm(arms: dict[str, list], reference: str) -> str:
    """``reference`` as an arm: a tag, or a norm name that exactly one arm has."""
    if reference in arms:
        return reference
    matches = [tag for tag, runs in arms.items() if runs[0].config["norm"]["name"] == reference]
    if len(matches) != 1:
        raise FileNotFoundError(f"reference {reference!r}: {'no arm' if not matches else 'several arms: ' + ', '.join(matches)} "
                                f"(arms: {', '.join(arms) or 'none'}); name one by its tag")
    return matches[0]


def direction(paper_delta, ours_delta: float, p: float, paper_diverged: bool, n_diverged: int, n: int) -> str:
    """How our difference to the reference sits against the paper's: its sign and significance (at the 5% level)
    only. The claims' verdicts are ``dyt.reports.verdict``'s, in results/REPORT.md."""
    if paper_diverged:
        return f"paper diverged; ours: {n_diverged}/{n} diverged"
    if paper_delta is None:
        return "no paper number"
    if not math.isfinite(p):
        return "too few completed seeds"
    if p >= ALPHA:
        return f"no significant difference (p = {p:.2g}); paper Δ {paper_delta:+.2f}"
    same = (ours_delta > 0) == (paper_delta > 0) if paper_delta != 0 else None
    sign = "paper: no difference" if same is None else "same sign as the paper" if same else "opposite sign to the paper"
    return f"{sign} (p = {p:.2g})"


def compare(runs_dirs: list[Path], reference: str, paper_key: str | None = None,
            metric: str | None = None, by_norm: dict | None = None) -> list[dict]:
    """One row per arm (the reference first) with our numbers, the paper's and the sign check.

    ``by_norm`` (norm name -> paper number, ``None`` = diverged) defaults to the paper entry's ``by_norm``."""
    exp = EXPERIMENTS.get(paper_key or "")
    metric = metric or (exp.metric if exp else "val/acc1")
    by_norm = (exp.by_norm if exp else {}) if by_norm is None else by_norm
    arms = _arms(runs_dirs)
    reference = _reference_arm(arms, reference)
    key = f"final/{metric}"
    ref_values = [r.summary[key] for r in arms[reference] if r.summary.get("status") == "completed" and key in r.summary]
    ref_paper = by_norm.get(arms[reference][0].config["norm"]["name"])
    ref_init = arms[reference][0].config["norm"].get("alpha_init")
    rows = []
    for tag in [reference] + sorted(a for a in arms if a != reference):
        runs = arms[tag]
        name = runs[0].config["norm"]["name"]
        done = [r.summary[key] for r in runs if r.summary.get("status") == "completed" and key in r.summary]
        n_div = sum(r.summary.get("status") == "diverged" for r in runs)
        mean, sd = mean_std(done)
        versus = compare_arms(ref_values, done, metric)
        t, p = versus.welch if tag != reference else (math.nan, math.nan)
        paper_value = by_norm.get(name, "n/a")
        if is_dyt_family(name) and runs[0].config["norm"].get("alpha_init") != ref_init:
            paper_value = "n/a (alpha init differs from the reference's)"  # the paper's number is for its own init
        paper_diverged = paper_value is None
        paper_delta = (paper_value - ref_paper) if isinstance(paper_value, (int, float)) and isinstance(ref_paper, (int, float)) else None
        ours_delta = versus.diff
        rows.append({
            "arm": tag, "norm": name, "runs": len(runs), "completed": len(done), "diverged": n_div,
            "mean": mean, "std": sd, "delta_vs_ref": ours_delta if tag != reference else 0.0,
            "welch_t": t, "p": p, "paper": "diverged" if paper_diverged else paper_value,
            "paper_delta_vs_ref": paper_delta if tag != reference else 0.0,
            "diverged_steps": [r.summary.get("step") for r in runs if r.summary.get("status") == "diverged"],
            "vs_paper": "reference" if tag == reference else direction(paper_delta, ours_delta, p, paper_diverged,
                                                                         n_div, len(runs)),
        })
    return rows


def write(rows: list[dict], out_stem: Path, metric: str, title: str, command: str, paper_note: str = "") -> None:
    """``<out_stem>.csv`` and ``<out_stem>.md``; the first row is the reference arm."""
    reference = rows[0]["arm"]
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    cols = ["arm", "norm", "runs", "completed", "diverged", "mean", "std", "delta_vs_ref", "welch_t", "p", "paper",
            "paper_delta_vs_ref", "vs_paper"]
    with open(out_stem.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})

    digits = 4 if "loss" in metric else 2

    def num(v, d=digits):
        return f"{v:+.{d}f}" if isinstance(v, (int, float)) and math.isfinite(v) else "—"

    lines = [f"# {title}", "", f"Generated by `{command}` from the run dirs; do not edit by hand.", "",
             f"Final `{metric}` per arm (mean ± std over completed seeds), difference to `{reference}` with "
             f"Welch's t-test, and the paper's difference where it has one{paper_note}. The last column compares "
             "signs only; the claims' verdicts are in `results/REPORT.md`.", "",
             f"| arm | runs (completed, diverged) | {metric} | Δ vs {reference} | Welch t, p | paper | paper Δ | vs the paper |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        ours = f"{r['mean']:.{digits}f} ± {r['std']:.{digits}f}" if math.isfinite(r["mean"]) else "—"
        test = f"{r['welch_t']:.2f}, {r['p']:.2g}" if math.isfinite(r["p"]) else "—"
        div = f", diverged at step {', '.join(map(str, r['diverged_steps']))}" if r["diverged"] else ""
        lines.append(f"| `{r['arm']}` | {r['runs']} ({r['completed']}, {r['diverged']}{div}) | {ours} | "
                     f"{num(r['delta_vs_ref']) if r['arm'] != reference else '—'} | {test} | {r['paper']} | "
                     f"{num(r['paper_delta_vs_ref'], 2) if r['arm'] != reference else '—'} | {r['vs_paper']} |")
    out_stem.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dirs", type=Path, nargs="+")
    parser.add_argument("--reference", default="dyt", help="norm name of the reference arm")
    parser.add_argument("--paper", default=None, help=f"paper numbers of this experiment: {', '.join(EXPERIMENTS)}")
    parser.add_argument("--metric", default=None)
    parser.add_argument("--out", type=Path, required=True, help="output stem: <out>.md and <out>.csv")
    args = parser.parse_args(argv)
    try:
        rows = compare(args.runs_dirs, args.reference, args.paper, args.metric)
    except FileNotFoundError as err:
        raise SystemExit(f"error: {err}") from None
    metric = args.metric or (EXPERIMENTS[args.paper].metric if args.paper in EXPERIMENTS else "val/acc1")
    command = "python -m dyt.reports.analysis.compare " + " ".join(map(str, args.runs_dirs)) + f" --reference {args.reference}" + \
        (f" --paper {args.paper}" if args.paper else "") + f" --out {args.out}"
    write(rows, args.out, metric, f"Arms vs `{rows[0]['arm']}`", command)
    print(f"wrote {args.out}.md, .csv")


if __name__ == "__main__":
    main()
