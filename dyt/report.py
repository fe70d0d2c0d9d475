"""Read run dirs, aggregate over seeds, and write ``summary.csv``, ``curves.png`` and ``README.md``.

Reads only the plain files every run leaves (``config.yaml``, ``metrics.jsonl``,
``summary.json``), never a W&B server.

    python -m dyt.report runs/vit --out results/vit --paper vit
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
    return runs


def group_by_arm(runs: list[Run], baseline: str) -> dict[str, list[Run]]:
    arms: dict[str, list[Run]] = {}
    for run in sorted(runs, key=lambda r: (r.arm != baseline, r.arm, r.seed)):
        arms.setdefault(run.arm, []).append(run)
    return arms


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


def verdict(base_name: str, base: list[float], name: str, other: list[float], n_diverged: int = 0) -> str:
    diff = (np.mean(other) - np.mean(base)) if other and base else math.nan
    t, p = welch(base, other)
    stat = f"Δ val acc1 = {diff:+.2f} points, Welch's t = {t:.2f}, p = {p:.3g}, n = {len(base)} vs {len(other)}"
    if n_diverged:
        return f"**{name} diverged in {n_diverged} run(s)**; over the rest: {stat}."
    if not math.isfinite(p):
        return f"{name} vs {base_name}: {stat}: too few completed seeds for a test (need ≥ 2 each)."
    if p >= ALPHA:
        return (f"{name} vs {base_name}: {stat}. No significant difference at α = {ALPHA}: "
                f"consistent with the paper's claim at this scale (with this many seeds only large gaps are detectable).")
    if diff > 0:
        return f"{name} vs {base_name}: {stat}. {name} is significantly better at α = {ALPHA}: the claim holds here."
    return f"{name} vs {base_name}: {stat}. **{name} is significantly worse at α = {ALPHA}: the claim is not reproduced at this scale.**"


def write_csv(runs: list[Run], path: Path) -> None:
    cols = ["experiment", "arm", "norm", "alpha_init", "seed", "status", "step", "epochs", "val_acc1", "val_loss",
            "train_loss", "train_seconds", "samples_per_second", "run_dir"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in runs:
            s = r.summary
            w.writerow([r.config["name"], r.arm, r.config["norm"]["name"],
                        r.config["norm"]["alpha_init"] if r.config["norm"]["name"] != "ln" else "",
                        r.seed, s.get("status"), s.get("step"), _fmt(s.get("epochs"), 3), _fmt(s.get("final/val/acc1"), 2),
                        _fmt(s.get("final/val/loss"), 4), _fmt(s.get("final/train_loss"), 4),
                        _fmt(s.get("train_seconds"), 1), _fmt(s.get("samples_per_second"), 1), str(r.path)])


def _fmt(v, digits):
    return "" if v is None else f"{float(v):.{digits}f}"


def _band(runs: list[Run], key: str, smooth: int = 1):
    """Mean and std over runs of ``key`` on the steps all of them logged."""
    series = [r.series(key) for r in runs]
    series = [(s, v) for s, v in series if len(s)]
    if not series:
        return None
    common = sorted(set.intersection(*(set(s.tolist()) for s, _ in series)))
    if not common:
        return None
    stacked = np.stack([np.interp(common, s, _smooth(v, smooth)) for s, v in series])
    return np.array(common), stacked.mean(0), stacked.std(0, ddof=1) if len(stacked) > 1 else np.zeros(len(common))


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def plot_curves(arms: dict[str, list[Run]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("train/loss", "train loss (smoothed)", 5), ("val/loss", "val loss", 1), ("val/acc1", "val top-1 (%)", 1)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.0))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for (key, label, smooth), ax in zip(panels, axes):
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
                    ax.plot(s, v, color=color, linestyle=":", label=f"{arm} s{r.seed} diverged")
        ax.set_xlabel("step")
        ax.set_title(label)
        ax.grid(alpha=0.3)
        if key.endswith("loss"):
            ax.set_yscale("log")
    axes[0].legend()
    fig.suptitle(f"{title}: mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_readme(arms: dict[str, list[Run]], baseline: str, paper_key: str | None, path: Path, command: str) -> None:
    lines = []
    paper = PAPER_RESULTS.get(paper_key or "")
    name = next(iter(arms.values()))[0].config["name"]
    lines += [f"# Results: `{name}`", "", f"Generated by `{command}` from the run dirs; do not edit by hand.", ""]
    if paper:
        lines += [f"**Claim (paper):** {paper['claim']}", ""]
    lines += ["## Ours", "", "| arm | runs (completed) | val top-1 % (mean ± std) | val loss | steps | epochs | train time s | samples/s |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for arm, runs in arms.items():
        ok = [r for r in runs if r.completed]
        acc, acc_sd = mean_std(r.summary.get("final/val/acc1") for r in ok)
        loss, loss_sd = mean_std(r.summary.get("final/val/loss") for r in ok)
        secs, _ = mean_std(r.summary.get("train_seconds") for r in runs)
        sps, _ = mean_std(r.summary.get("samples_per_second") for r in runs)
        steps = sorted({r.summary.get("step") for r in runs})
        epochs = max(r.summary.get("epochs", 0) for r in runs)
        lines.append(f"| {arm} | {len(runs)} ({len(ok)}) | {acc:.2f} ± {acc_sd:.2f} | {loss:.4f} ± {loss_sd:.4f} | "
                     f"{'/'.join(map(str, steps))} | {epochs:.1f} | {secs:.0f} | {sps:.0f} |")
    lines += ["", "## Verdict", ""]
    base_runs = [r for r in arms.get(baseline, []) if r.completed]
    base = [r.summary["final/val/acc1"] for r in base_runs]
    if not base_runs:
        lines.append(f"No completed `{baseline}` run: no comparison (not run).")
    for arm, runs in arms.items():
        if arm == baseline or not base_runs:
            continue
        other = [r.summary["final/val/acc1"] for r in runs if r.completed]
        lines.append("- " + verdict(baseline, base, arm, other, n_diverged=sum(not r.completed for r in runs)))
    if paper:
        lines += ["", f"## Paper ({paper['metric']})", "", "| model | LN (paper) | DyT (paper) |", "| --- | --- | --- |"]
        lines += [f"| {m} | {a} | {b} |" for m, a, b in paper["rows"]]
    first = next(iter(arms.values()))[0]
    s = first.summary
    lines += ["", "## Provenance", "",
              f"- device: {s.get('device')}; precision: {s.get('precision')}; git: {s.get('git_sha')} (dirty: {s.get('git_dirty')})",
              f"- versions: " + ", ".join(f"{k} {v}" for k, v in s.get("versions", {}).items()),
              "- curves: `curves.png`; one row per run: `summary.csv`"]
    path.write_text("\n".join(lines) + "\n")


def report(runs_dir: Path, out: Path, paper: str | None = None, baseline: str = "ln") -> Path:
    runs = load_runs(runs_dir)
    if not runs:
        raise FileNotFoundError(f"no finished runs (summary.json) under {runs_dir}; train first, e.g. `make reproduce-vit`")
    out.mkdir(parents=True, exist_ok=True)
    arms = group_by_arm(runs, baseline)
    write_csv([r for rs in arms.values() for r in rs], out / "summary.csv")
    plot_curves(arms, out / "curves.png", title=runs[0].config["name"])
    command = f"python -m dyt.report {runs_dir} --out {out}" + (f" --paper {paper}" if paper else "")
    write_readme(arms, baseline, paper, out / "README.md", command)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--paper", default=None, help=f"paper numbers to print beside ours: {', '.join(PAPER_RESULTS)}")
    parser.add_argument("--baseline", default="ln", help="the arm the others are tested against")
    args = parser.parse_args(argv)
    try:
        out = report(args.runs_dir, args.out, args.paper, args.baseline)
    except FileNotFoundError as err:
        sys.exit(f"error: {err}")
    print(f"report written to {out}/ (README.md, summary.csv, curves.png)")


if __name__ == "__main__":
    main()
