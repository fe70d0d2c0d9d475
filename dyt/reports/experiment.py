"""``results/<experiment>/``: the runs of one experiment of ``dyt.reports.registry``, aggregated over seeds.

Writes ``summary.csv`` (one row per run), ``curves.png`` (mean ± std bands per arm) and ``README.md``: the
paper's claim, our arms, the registry's claims on these runs (the rows of ``results/REPORT.md``), every arm
against the normalized baseline, a ranking, the paper's table, provenance. Reads run dirs only (through
``RunDir``), never a W&B server.

    python -m dyt.reports.experiment vit                  # runs/vit -> results/vit
    python -m dyt.reports.experiment gpt --runs /data/runs --out /tmp/gpt
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from dyt.nn.variants import is_dyt_family
from dyt.reports.claims import collapsed_count, evaluate, table_lines
from dyt.reports.curves import plot_curves
from dyt.reports.provenance import provenance_lines, sample_lines
from dyt.reports.registry import CLAIMS, EXPERIMENTS, Experiment
from dyt.reports.runs import Run, baseline_arm, group_runs, load_runs
from dyt.reports.stats import mean_std, welch
from dyt.reports.verdict import compare, verdict

DEFAULT_OUT = {"ablation": "analysis/ablation"}  # results/<this>, where it differs from the key


def _fmt(v, digits):
    return "" if v is None else f"{float(v):.{digits}f}"


def write_csv(runs: list[Run], path: Path) -> None:
    cols = ["experiment", "arm", "norm", "alpha_init", "seed", "status", "step", "epochs", "val_acc1", "val_loss",
            "train_loss", "train_seconds", "samples_per_second", "tokens_seen", "tokens_per_second", "run_dir"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in runs:
            s = r.summary
            w.writerow([r.config["name"], r.arm, r.config["norm"]["name"],
                        r.config["norm"]["alpha_init"] if is_dyt_family(r.config["norm"]["name"]) else "",
                        r.seed, s.get("status"), s.get("step"), _fmt(s.get("epochs"), 3), _fmt(s.get("final/val/acc1"), 2),
                        _fmt(s.get("final/val/loss"), 4), _fmt(s.get("final/train_loss"), 4),
                        _fmt(s.get("train_seconds"), 1), _fmt(s.get("samples_per_second"), 1),
                        s.get("tokens_seen", ""), _fmt(s.get("tokens_per_second"), 0), str(r.path)])


def _arm_row(arm: str, runs: list[Run], text: bool) -> str:
    ok = [r for r in runs if r.completed]
    acc, acc_sd = mean_std(r.summary.get("final/val/acc1") for r in ok)
    loss, loss_sd = mean_std(r.summary.get("final/val/loss") for r in ok)
    secs, _ = mean_std(r.summary.get("train_seconds") for r in runs)
    steps = "/".join(str(s) for s in sorted({r.summary["step"] for r in runs if "step" in r.summary}))
    if text:
        rate, _ = mean_std(r.summary.get("tokens_per_second") for r in runs)
        amount = f"{max(r.summary.get('tokens_seen', 0) for r in runs) / 1e6:.2f}M"
    else:
        rate, _ = mean_std(r.summary.get("samples_per_second") for r in runs)
        amount = f"{max(r.summary.get('epochs', 0) for r in runs):.1f}"
    done = f"{len(ok)}, {collapsed_count(runs)} collapsed" if collapsed_count(runs) else f"{len(ok)}"
    return (f"| {arm} | {len(runs)} ({done}) | {loss:.4f} ± {loss_sd:.4f} | {acc:.2f} ± {acc_sd:.2f} | "
            f"{steps} | {amount} | {rate:.0f} | {secs:.0f} |")


def arm_lines(groups: dict[str, dict[str, list[Run]]], exp: Experiment) -> list[str]:
    """Every arm against its experiment's normalized baseline: the statistic and what it shows (no claim)."""
    key = f"final/{exp.metric}"
    lines = []
    for experiment, arms in groups.items():
        base_name = baseline_arm(arms)
        base = [r.summary[key] for r in arms.get(base_name, []) if r.completed and key in r.summary]
        prefix = "" if len(groups) == 1 else f"`{experiment}`: "
        if not base:
            lines.append(f"- {prefix}no completed normalized baseline run: no comparison (not run).")
            continue
        for arm, runs in arms.items():
            if arm != base_name:
                status = [r.summary.get("status") for r in runs]
                c = compare(base, [r.summary[key] for r in runs if r.completed and key in r.summary], exp.metric,
                            exp.higher_is_better, status.count("diverged"), status.count("failed"),
                            (collapsed_count(arms[base_name]), collapsed_count(runs)))
                lines.append(f"- {prefix}{arm} vs {base_name}: {c.statistic(long=True)}: {verdict(c, 'neutral', arm)}.")
    return lines


def ranking_lines(experiment: str, arms: dict[str, list[Run]], key: str, higher: bool) -> list[str]:
    """Arms ordered by their mean final ``key`` over completed seeds, each tested against the baseline and
    against the arm ranked just above it (Welch's t-test)."""
    values = {arm: [r.summary[key] for r in runs if r.completed and key in r.summary] for arm, runs in arms.items()}
    ranked = sorted((arm for arm in values if values[arm]), key=lambda arm: np.mean(values[arm]), reverse=higher)
    base = baseline_arm(arms)
    lines = ["", f"## Ranking: `{experiment}` (final `{key[6:]}`, mean ± std over completed seeds; Welch's t-test)", "",
             f"| rank | arm | {key[6:]} | Δ vs {base} | p vs {base} | p vs the arm above |", "| --- | --- | --- | --- | --- | --- |"]
    for i, arm in enumerate(ranked):
        mean, sd = mean_std(values[arm])
        vs_base = welch(values[base], values[arm])[1] if base in values and arm != base else math.nan
        vs_above = welch(values[ranked[i - 1]], values[arm])[1] if i else math.nan
        delta = mean - np.mean(values[base]) if values.get(base) else math.nan
        cells = [f"{delta:+.2f}", f"{vs_base:.3g}", f"{vs_above:.3g}"]
        lines.append(f"| {i + 1} | {arm} | {mean:.2f} ± {sd:.2f} | " + " | ".join(c.replace("+nan", "–").replace("nan", "–")
                                                                             for c in cells) + " |")
    missing = [arm for arm in arms if arm not in ranked]
    if missing:
        lines.append(f"\nNot ranked (no completed run): {', '.join(missing)}.")
    return lines


def write_readme(groups: dict[str, dict[str, list[Run]]], exp: Experiment, runs_root: Path, path: Path,
                 command: str) -> None:
    all_runs = [r for arms in groups.values() for rs in arms.values() for r in rs]
    text = any("tokens_seen" in r.summary for r in all_runs)
    direction = "higher" if exp.higher_is_better else "lower"
    speed = "tokens seen | tokens/s" if text else "epochs | samples/s"
    lines = [f"# Results: {', '.join(f'`{g}`' for g in groups)}", "",
             f"Generated by `{command}` from the run dirs; do not edit by hand.", "",
             f"**Claim (paper):** {exp.claim}", "", "## Ours (final metrics, mean ± std over seeds)", "",
             f"| arm | runs (completed) | val loss | val {'next-token acc' if text else 'top-1'} % | steps | {speed} | train time s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for experiment, arms in groups.items():
        for arm, runs in arms.items():
            lines.append(_arm_row(arm if len(groups) == 1 else f"{experiment}: {arm}", runs, text))
    claims = [c for c in CLAIMS if c.experiment in exp.folders and c.evaluate is None]
    if claims:
        cache: dict = {}
        rows = [evaluate(c, runs_root, Path("/nonexistent"), cache) for c in claims]
        lines += ["", "## Claims on these runs (`dyt/reports/registry.py`; the same rows as `results/REPORT.md`)", "",
                  *table_lines(rows)]
    lines += ["", f"## Every arm vs the normalized baseline (final `{exp.metric}`, {direction} is better; Welch's t-test)",
              "", *arm_lines(groups, exp)]
    for experiment, arms in groups.items():
        if len(arms) > 2:
            lines += ranking_lines(experiment, arms, f"final/{exp.metric}", exp.higher_is_better)
    a, b = exp.columns
    lines += ["", f"## Paper ({exp.paper_metric})", "", f"| setting | {a} | {b} |", "| --- | --- | --- |"]
    lines += [f"| {row.setting} | {row.base} | {row.dyt} |" for row in exp.rows]
    lines += provenance_lines(groups) + sample_lines(groups)
    path.write_text("\n".join(lines) + "\n")


@lru_cache(maxsize=None)
def _default_budget(experiment: str) -> tuple:
    from dyt.run.schema import compose

    trainer = compose(f"experiment={experiment}").trainer
    return trainer.max_steps, trainer.epochs


def at_default_budget(run: Run) -> bool:
    """Whether a run trained for its experiment's own budget (the regime study's other rungs live beside them)."""
    trainer = run.config.get("trainer") or {}
    try:
        max_steps, epochs = _default_budget(run.config["name"])
    except Exception:  # noqa: BLE001 - an experiment name no config composes (runs from elsewhere): keep the run
        return True
    if trainer.get("max_steps", max_steps) != max_steps:
        return False
    return max_steps is not None or trainer.get("epochs", epochs) == epochs


def report(key: str, runs_root: Path = Path("runs"), out: Path | None = None) -> Path:
    """Write ``results/<key>/`` (or ``out``) from the runs of experiment ``key``'s folders under ``runs_root``."""
    if key not in EXPERIMENTS:
        raise FileNotFoundError(f"unknown experiment {key!r}: choose one of {', '.join(EXPERIMENTS)}")
    exp = EXPERIMENTS[key]
    out = out or Path("results") / DEFAULT_OUT.get(key, key)
    dirs = [runs_root / folder for folder in exp.folders]
    found = [r for d in dirs if d.is_dir() for r in load_runs(d)]
    runs = [r for r in found if at_default_budget(r)]  # other budgets: the regime study's report
    if not runs:
        where = ", ".join(map(str, dirs))
        raise FileNotFoundError(f"no finished runs (summary.json) under {where}; train first, e.g. `make reproduce-{key}`")
    out.mkdir(parents=True, exist_ok=True)
    groups = group_runs(runs)
    write_csv([r for arms in groups.values() for rs in arms.values() for r in rs], out / "summary.csv")
    plot_curves(groups, out / "curves.png")
    command = f"python -m dyt.reports.experiment {key}" + (f" --runs {runs_root}" if runs_root != Path("runs") else "") + \
        (f" --out {out}" if out != Path("results") / DEFAULT_OUT.get(key, key) else "")
    write_readme(groups, exp, runs_root, out / "README.md", command)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", help=f"one of {', '.join(EXPERIMENTS)}")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="the tree of run dirs (default runs)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default results/<experiment>)")
    args = parser.parse_args(argv)
    try:
        out = report(args.experiment, args.runs, args.out)
    except FileNotFoundError as err:
        sys.exit(f"error: {err}")
    print(f"report written to {out}/ (README.md, summary.csv, curves.png)")


if __name__ == "__main__":
    main()
