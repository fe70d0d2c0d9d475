"""Read run dirs, aggregate over seeds, and write ``summary.csv``, ``curves.png`` and ``README.md``.

Reads only the plain files every run leaves (``config.yaml``, ``metrics.jsonl``,
``summary.json``), never a W&B server.

    python -m dyt.report runs/vit --out results/vit --paper vit
    python -m dyt.report runs/gpt runs/llama --out results/gpt --paper gpt
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from dyt.log import read_metrics
from dyt.paper import PAPER_RESULTS
from dyt.variants import is_dyt_family

ALPHA = 0.05  # significance level of the verdict


@dataclass
class Run:
    path: Path
    config: dict
    summary: dict
    rows: list = field(default_factory=list)

    @property
    def arm(self) -> str:
        return self.config["norm"]["tag"]

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    @property
    def completed(self) -> bool:
        return self.summary.get("status") == "completed"

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        pts = [(r["step"], float(r[key])) for r in self.rows if key in r]
        if not pts:
            return np.array([]), np.array([])
        steps, values = zip(*pts)
        return np.array(steps), np.array(values)


def load_runs(runs_dir: Path) -> list[Run]:
    runs = []
    for summary_path in sorted(Path(runs_dir).rglob("summary.json")):
        run_dir = summary_path.parent
        if not (run_dir / "config.yaml").exists():
            continue
        config = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"))
        runs.append(Run(run_dir, config, json.loads(summary_path.read_text()), read_metrics(run_dir / "metrics.jsonl")))
    for failed_path in sorted(Path(runs_dir).rglob("failed.json")):  # multirun jobs that raised (dyt.train)
        record = json.loads(failed_path.read_text())
        if (failed_path.parent / "summary.json").exists() or "config" not in record:
            continue
        runs.append(Run(failed_path.parent, record["config"], {"status": "failed", "error": record.get("error")},
                        read_metrics(failed_path.parent / "metrics.jsonl")))
    return runs


BASELINE_NORMS = ("ln", "rmsnorm", "bn")


def group_runs(runs: list[Run]) -> dict[str, dict[str, list[Run]]]:
    """``{experiment: {arm: runs}}``; in each experiment the normalized baseline arm comes first."""
    def order(r: Run):
        return r.config["name"], r.config["norm"]["name"] not in BASELINE_NORMS, r.arm, r.seed

    groups: dict[str, dict[str, list[Run]]] = {}
    for run in sorted(runs, key=order):
        groups.setdefault(run.config["name"], {}).setdefault(run.arm, []).append(run)
    return groups


def baseline_arm(arms: dict[str, list[Run]]) -> str | None:
    return next((arm for arm, rs in arms.items() if rs[0].config["norm"]["name"] in BASELINE_NORMS), None)


def mean_std(values) -> tuple[float, float]:
    values = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(values) == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def welch(a, b) -> tuple[float, float]:
    """Welch's t statistic and two-sided p-value of mean(b) - mean(a)."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    res = stats.ttest_ind(b, a, equal_var=False)
    return float(res.statistic), float(res.pvalue)


def verdict(base_name: str, base: list[float], name: str, other: list[float], n_diverged: int = 0,
            metric: str = "val/acc1", higher_is_better: bool = True, expect: str = "match", n_failed: int = 0) -> str:
    """One verdict line; ``expect``: ``match`` (the paper claims the arm matches the baseline: the line says
    whether that holds) or ``neutral`` (a negative result, an ablation: the line says what we see)."""
    diff = (np.mean(other) - np.mean(base)) if other and base else math.nan
    t, p = welch(base, other)
    stat = f"Δ {metric} = {diff:+.4g}, Welch's t = {t:.2f}, p = {p:.3g}, n = {len(base)} vs {len(other)}"
    if n_diverged or n_failed:
        bad = " and ".join(part for part in (f"diverged in {n_diverged} run(s)" if n_diverged else "",
                                             f"failed in {n_failed} run(s) (failed.json)" if n_failed else "") if part)
        return f"**{name} {bad}**; over the rest: {stat}."
    if not math.isfinite(p):
        return f"{name} vs {base_name}: {stat}: too few completed seeds for a test (need ≥ 2 each)."
    if expect == "neutral":
        if p >= ALPHA:
            return f"{name} vs {base_name}: {stat}. No significant difference at α = {ALPHA}."
        better = (diff > 0) == higher_is_better
        return f"{name} vs {base_name}: {stat}. **{name} is significantly {'better' if better else 'worse'} at α = {ALPHA}.**"
    if p >= ALPHA:
        return (f"{name} vs {base_name}: {stat}. No significant difference at α = {ALPHA}: "
                f"consistent with the paper's claim at this scale (with this many seeds only large gaps are detectable).")
    if (diff > 0) == higher_is_better:
        return f"{name} vs {base_name}: {stat}. {name} is significantly better at α = {ALPHA}: the claim holds here."
    return f"{name} vs {base_name}: {stat}. **{name} is significantly worse at α = {ALPHA}: the claim is not reproduced at this scale.**"


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


def _fmt(v, digits):
    return "" if v is None else f"{float(v):.{digits}f}"


def _band(runs: list[Run], key: str, smooth: int = 1):
    """Mean and std over runs of ``key``, on the steps of the sparsest run (others interpolated)."""
    series = [r.series(key) for r in runs]
    series = [(s, v) for s, v in series if len(s)]
    if not series:
        return None
    grid = min((s for s, _ in series), key=len)
    lo, hi = max(s[0] for s, _ in series), min(s[-1] for s, _ in series)
    grid = grid[(grid >= lo) & (grid <= hi)]
    if not len(grid):
        return None
    stacked = np.stack([np.interp(grid, s, _smooth(v, smooth)) for s, v in series])
    return grid, stacked.mean(0), stacked.std(0, ddof=1) if len(stacked) > 1 else np.zeros(len(grid))


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def plot_curves(groups: dict[str, dict[str, list[Run]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    text = any(r.summary.get("tokens_seen") for arms in groups.values() for rs in arms.values() for r in rs)
    panels = [("train/loss", "train loss (smoothed)", 5), ("val/loss", "val loss", 1),
              ("val/acc1", "val next-token accuracy (%)" if text else "val top-1 (%)", 1)]
    fig, axes = plt.subplots(len(groups), len(panels), figsize=(5.2 * len(panels), 4.0 * len(groups)), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, (experiment, arms) in zip(axes, groups.items()):
        for (key, label, smooth), ax in zip(panels, row):
            for i, (arm, runs) in enumerate(arms.items()):
                color = colors[i % len(colors)]
                ok = [r for r in runs if r.completed]
                band = _band(ok, key, smooth)
                if band is not None:
                    steps, mean, std = band
                    ax.plot(steps, mean, color=color, label=f"{arm} (n={len(ok)})")
                    ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
                for r in runs:
                    if not r.completed:
                        s, v = r.series(key)
                        ax.plot(s, v, color=color, linestyle=":", label=f"{arm} s{r.seed} {r.summary.get('status')}")
            ax.set_xlabel("step")
            ax.set_title(f"{experiment}: {label}")
            ax.grid(alpha=0.3)
            if key.endswith("loss"):
                ax.set_yscale("log")
        row[0].legend()
    fig.suptitle("mean ± std over seeds (band); dotted: runs that diverged (or failed)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _final_alphas(groups: dict[str, dict[str, list[Run]]]) -> list[str]:
    """``"<arm>: lo–hi"`` of every DyT layer's alpha in the last logged row of each run."""
    out = []
    for experiment, arms in groups.items():
        for arm, runs in arms.items():
            values = [v for r in runs for row in r.rows[-1:] for k, v in row.items() if k.startswith("alpha/")]
            if values:
                label = arm if len(groups) == 1 else f"{experiment}: {arm}"
                out.append(f"{label} {min(values):.2f}–{max(values):.2f}")
    return out


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
    return (f"| {arm} | {len(runs)} ({len(ok)}) | {loss:.4f} ± {loss_sd:.4f} | {acc:.2f} ± {acc_sd:.2f} | "
            f"{steps} | {amount} | {rate:.0f} | {secs:.0f} |")


def _ranking(experiment: str, arms: dict[str, list[Run]], key: str, higher: bool) -> list[str]:
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


def write_readme(groups: dict[str, dict[str, list[Run]]], paper_key: str | None, path: Path, command: str) -> None:
    paper = PAPER_RESULTS.get(paper_key or "", {})
    metric, higher = paper.get("metric", "val/acc1"), paper.get("higher_is_better", True)
    all_runs = [r for arms in groups.values() for rs in arms.values() for r in rs]
    text = any("tokens_seen" in r.summary for r in all_runs)
    lines = [f"# Results: {', '.join(f'`{g}`' for g in groups)}", "",
             f"Generated by `{command}` from the run dirs; do not edit by hand.", ""]
    if paper:
        lines += [f"**Claim (paper):** {paper['claim']}", ""]
    speed = "tokens seen | tokens/s" if text else "epochs | samples/s"
    lines += ["## Ours (final metrics, mean ± std over seeds)", "",
              f"| arm | runs (completed) | val loss | val {'next-token acc' if text else 'top-1'} % | steps | {speed} | train time s |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for experiment, arms in groups.items():
        for arm, runs in arms.items():
            lines.append(_arm_row(arm if len(groups) == 1 else f"{experiment}: {arm}", runs, text))
    lines += ["", f"## Verdict (final `{metric}`, {'higher' if higher else 'lower'} is better; Welch's t-test)", ""]
    key = f"final/{metric}"
    for experiment, arms in groups.items():
        base_name = baseline_arm(arms)
        base = [r.summary[key] for r in arms.get(base_name, []) if r.completed]
        prefix = "" if len(groups) == 1 else f"`{experiment}`: "
        if not base:
            lines.append(f"- {prefix}no completed normalized baseline run: no comparison (not run).")
            continue
        for arm, runs in arms.items():
            if arm != base_name:
                other = [r.summary[key] for r in runs if r.completed]
                status = [r.summary.get("status") for r in runs]
                lines.append(f"- {prefix}" + verdict(base_name, base, arm, other, status.count("diverged"), metric,
                                                     higher, paper.get("expect", "match"), status.count("failed")))
    for experiment, arms in groups.items():
        if len(arms) > 2:
            lines += _ranking(experiment, arms, key, higher)
    if paper:
        a, b = paper["columns"]
        lines += ["", f"## Paper ({paper['paper_metric']})", "", f"| setting | {a} | {b} |", "| --- | --- | --- |"]
        lines += [f"| {m} | {x} | {y} |" for m, x, y in paper["rows"]]
    s = all_runs[0].summary
    commits: dict[str, int] = {}
    for r in all_runs:
        key = f"{r.summary.get('git_sha')} (dirty: {r.summary.get('git_dirty')})"
        commits[key] = commits.get(key, 0) + 1
    lines += ["", "## Provenance", "",
              f"- device: {s.get('device')}; precision: {s.get('precision')}",
              "- code: " + "; ".join(f"{k} for {n} run(s)" for k, n in commits.items()),
              "- versions: " + ", ".join(f"{k} {v}" for k, v in s.get("versions", {}).items()),
              "- curves: `curves.png`; one row per run: `summary.csv`"]
    pinned = sorted({f"{r.config['name']}: {r.arm} ({r.config['trainer']['threads']})" for r in all_runs
                     if (r.config.get("trainer") or {}).get("threads")})
    if pinned:  # e.g. runs made beside other jobs: their samples/s and train time are not comparable
        lines.append("- runs with `trainer.threads` set (the rest use torch's default): " + ", ".join(pinned)
                     + "; compare their speed columns with care")
    notes = sorted({r.summary["alpha_init_note"] for r in all_runs if r.summary.get("alpha_init_note", "no DyT") != "no DyT"})
    if notes:
        lines.append("- DyT alpha init: " + "; ".join(notes))
    learned = _final_alphas(groups)
    if learned:
        lines.append("- learned alpha at the end (min–max over layers and seeds): " + "; ".join(learned))
    samples = [r for r in all_runs if (r.path / "sample.txt").exists()]
    if samples:
        lines += ["", "## Samples (seed 0 of each arm, first 300 characters of `sample.txt`)", ""]
        for r in samples:
            if r.seed == min(x.seed for x in samples if x.arm == r.arm and x.config["name"] == r.config["name"]):
                lines += [f"**{r.config['name']}: {r.arm}**", "", "```", (r.path / "sample.txt").read_text()[:300].strip(), "```", ""]
    path.write_text("\n".join(lines) + "\n")


def report(runs_dirs, out: Path, paper: str | None = None) -> Path:
    runs_dirs = [Path(d) for d in ([runs_dirs] if isinstance(runs_dirs, (str, Path)) else runs_dirs)]
    runs = [r for d in runs_dirs for r in load_runs(d)]
    if not runs:
        where = ", ".join(map(str, runs_dirs))
        raise FileNotFoundError(f"no finished runs (summary.json) under {where}; train first, e.g. `make reproduce-vit`")
    out.mkdir(parents=True, exist_ok=True)
    groups = group_runs(runs)
    write_csv([r for arms in groups.values() for rs in arms.values() for r in rs], out / "summary.csv")
    plot_curves(groups, out / "curves.png")
    command = f"python -m dyt.report {' '.join(map(str, runs_dirs))} --out {out}" + (f" --paper {paper}" if paper else "")
    write_readme(groups, paper, out / "README.md", command)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dirs", type=Path, nargs="+", help="experiment folders of runs, e.g. runs/vit")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--paper", default=None, help=f"paper numbers to print beside ours: {', '.join(PAPER_RESULTS)}")
    args = parser.parse_args(argv)
    try:
        out = report(args.runs_dirs, args.out, args.paper)
    except FileNotFoundError as err:
        sys.exit(f"error: {err}")
    print(f"report written to {out}/ (README.md, summary.csv, curves.png)")


if __name__ == "__main__":
    main()
