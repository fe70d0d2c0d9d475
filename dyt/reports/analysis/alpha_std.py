"""DyT's alpha against 1/std of its input (the paper: alpha tracks 1/std during training and across layers).

Reads the ``alpha/<layer>`` and ``input_std/<layer>`` columns that the trainer
logs for every DyT-family layer (``input_std`` over all elements of the
layer's input, on the training batch of each logging step) from one or more
run dirs' ``metrics.jsonl``, and reports Pearson's r between alpha and 1/std:

- ``final``: across layers, at each run's last logged step (the paper's
  "deeper layers: larger std, smaller alpha");
- ``all``: over every (step, layer) point of the run;
- ``over training`` (per layer): alpha against 1/std over that layer's
  logged steps; we report the median over layers.

    python -m dyt.reports.analysis.alpha_std runs/ablation/dyt-a0.5 --out results/analysis
"""

from __future__ import annotations

import argparse
import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dyt.run.rundir import METRICS, RunDir


@dataclass
class AlphaStd:
    """Aligned arrays, one entry per (logged step, DyT layer) with both alpha and input std."""

    run: str
    steps: np.ndarray
    layers: list[str]  # layer name of each point
    layer_index: np.ndarray  # position of the layer in forward order
    alpha: np.ndarray
    std: np.ndarray

    @property
    def inv_std(self) -> np.ndarray:
        return 1.0 / self.std


def read_alpha_std(run_dir: Path, run: str | None = None) -> AlphaStd:
    """The (step, layer, alpha, std) points of a run dir's metrics; layers keep their logged order."""
    rows = RunDir(run_dir).metrics()
    order: dict[str, int] = {}
    steps, names, alpha, std = [], [], [], []
    for row in rows:
        for key, value in row.items():
            if not key.startswith("input_std/"):
                continue
            layer = key[len("input_std/"):]
            a = row.get(f"alpha/{layer}")
            if a is None or value is None or not (math.isfinite(a) and math.isfinite(value) and value > 0):
                continue
            order.setdefault(layer, len(order))
            steps.append(row["step"])
            names.append(layer)
            alpha.append(float(a))
            std.append(float(value))
    return AlphaStd(run or str(run_dir), np.array(steps), names,
                    np.array([order[n] for n in names], dtype=int), np.array(alpha), np.array(std))


def pearson(x, y) -> tuple[float, float]:
    """Pearson's r and its two-sided p-value; NaN for fewer than 3 points or a constant input."""
    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan
    res = stats.pearsonr(x, y)
    return float(res.statistic), float(res.pvalue)


def correlations(p: AlphaStd) -> dict:
    """r (and p) of alpha vs 1/std across layers at the final step, over all points, and per layer over time."""
    if not len(p.steps):
        return {"run": p.run, "points": 0}
    last = p.steps == p.steps.max()
    r_final, p_final = pearson(p.alpha[last], p.inv_std[last])
    r_all, p_all = pearson(p.alpha, p.inv_std)
    per_layer = [pearson(p.alpha[p.layer_index == i], p.inv_std[p.layer_index == i])[0]
                 for i in range(p.layer_index.max() + 1)]
    per_layer = [r for r in per_layer if math.isfinite(r)]
    return {"run": p.run, "points": len(p.steps), "layers": int(p.layer_index.max() + 1),
            "final_step": int(p.steps.max()), "r_final_layers": r_final, "p_final_layers": p_final,
            "r_all": r_all, "p_all": p_all,
            "r_over_training_median": float(np.median(per_layer)) if per_layer else math.nan,
            "r_over_training_min": float(np.min(per_layer)) if per_layer else math.nan,
            "r_over_training_max": float(np.max(per_layer)) if per_layer else math.nan,
            "alpha_final_min": float(p.alpha[last].min()), "alpha_final_max": float(p.alpha[last].max()),
            "inv_std_final_min": float(p.inv_std[last].min()), "inv_std_final_max": float(p.inv_std[last].max())}


def pooled(points: list[AlphaStd]) -> AlphaStd:
    """Several runs' points as one set (for a pooled r)."""
    return AlphaStd("pooled", np.concatenate([p.steps for p in points]), [n for p in points for n in p.layers],
                    np.concatenate([p.layer_index for p in points]), np.concatenate([p.alpha for p in points]),
                    np.concatenate([p.std for p in points]))


def plot(points: list[AlphaStd], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    both = pooled(points)
    ax = axes[0]
    sc = ax.scatter(both.inv_std, both.alpha, c=both.steps, cmap="viridis", s=8, alpha=0.8)
    fig.colorbar(sc, ax=ax, label="step")
    r, _ = pearson(both.alpha, both.inv_std)
    ax.set(xlabel="1 / std(input)", ylabel="alpha", title=f"every layer, every logged step (r = {r:.3f}, n = {len(both.steps)})")
    ax = axes[1]
    markers = "osD^v<>"
    for k, p in enumerate(points):
        last = p.steps == p.steps.max()
        sc = ax.scatter(p.inv_std[last], p.alpha[last], c=p.layer_index[last], cmap="plasma", marker=markers[k % len(markers)],
                        s=30, label=Path(p.run).name)
    fig.colorbar(sc, ax=ax, label="layer (forward order: shallow to deep)")
    finals = [correlations(p)["r_final_layers"] for p in points]
    ax.set(xlabel="1 / std(input)", ylabel="alpha",
           title="final step, across layers (r per run: " + ", ".join(f"{r:.2f}" for r in finals) + ")")
    ax.legend(fontsize=7)
    ax = axes[2]
    p = points[0]
    n_layers = p.layer_index.max() + 1
    chosen = sorted({0, n_layers // 2, n_layers - 1})
    twin = ax.twinx()
    for j, i in enumerate(chosen):
        sel = p.layer_index == i
        color = f"C{j}"
        ax.plot(p.steps[sel], p.alpha[sel], color=color, label=f"alpha {p.layers[int(np.argmax(sel))]}")
        twin.plot(p.steps[sel], p.inv_std[sel], color=color, linestyle="--")
    ax.set(xlabel="step", ylabel="alpha (solid)", title=f"over training, {Path(p.run).name}: alpha (solid), 1/std (dashed)")
    twin.set_ylabel("1 / std(input) (dashed)")
    ax.legend(fontsize=7, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


CSV_COLUMNS = ["run", "points", "layers", "final_step", "r_final_layers", "p_final_layers", "r_all", "p_all",
               "r_over_training_median", "r_over_training_min", "r_over_training_max",
               "alpha_final_min", "alpha_final_max", "inv_std_final_min", "inv_std_final_max"]


def find_runs(paths: list[Path]) -> list[Path]:
    """Run dirs (holding a metrics.jsonl with input_std columns) at or under ``paths``."""
    found = []
    for path in paths:
        metrics = [path / METRICS] if (path / METRICS).exists() else sorted(path.rglob(METRICS))
        found += [m.parent for m in metrics
                  if any(k.startswith("input_std/") for row in RunDir(m.parent).metrics() for k in row)]
    return found


def alpha_vs_std(run_dirs: list[Path], out: Path, name: str = "alpha_std") -> list[dict]:
    """``<name>.png``, ``.csv`` and ``.md`` in ``out`` for the runs; returns one row per run plus a pooled row."""
    points = [read_alpha_std(Path(d), run=str(d)) for d in run_dirs]
    points = [p for p in points if len(p.steps)]
    if not points:
        raise FileNotFoundError(f"no input_std/ columns in the metrics of {', '.join(map(str, run_dirs))}: "
                                "train a DyT run with this version of the trainer")
    out.mkdir(parents=True, exist_ok=True)
    rows = [correlations(p) for p in points]
    if len(points) > 1:  # r and p over all points of all runs; per-layer r over training: the runs' own, summarized
        per_run = [r["r_over_training_median"] for r in rows]
        rows.append({**correlations(pooled(points)), "run": "pooled (all runs)", "r_final_layers": math.nan,
                     "p_final_layers": math.nan, "r_over_training_median": float(np.median(per_run)),
                     "r_over_training_min": min(r["r_over_training_min"] for r in rows),
                     "r_over_training_max": max(r["r_over_training_max"] for r in rows)})
    title = f"DyT alpha vs 1/std of its input ({', '.join(sorted({str(Path(p.run).parent) for p in points}))})"
    plot(points, out / f"{name}.png", title)
    with open(out / f"{name}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    lines = [f"# {title}", "", "Pearson's r between alpha and 1/std(input) of each DyT layer.", "",
             "| run | points | r across layers, final step (p) | r over all points (p) | r over training, per layer: median [min, max] | alpha at the end | 1/std at the end |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| `{r['run']}` | {r['points']} | {r['r_final_layers']:.3f} ({r['p_final_layers']:.2g}) | "
                     f"{r['r_all']:.3f} ({r['p_all']:.2g}) | {r['r_over_training_median']:.3f} "
                     f"[{r['r_over_training_min']:.3f}, {r['r_over_training_max']:.3f}] | "
                     f"{r['alpha_final_min']:.3f}–{r['alpha_final_max']:.3f} | {r['inv_std_final_min']:.3f}–{r['inv_std_final_max']:.3f} |")
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run dirs, or folders holding them")
    parser.add_argument("--out", type=Path, default=Path("results/analysis"))
    parser.add_argument("--name", default="alpha_std")
    args = parser.parse_args(argv)
    try:
        alpha_vs_std(find_runs(args.runs), args.out, args.name)
    except FileNotFoundError as err:
        raise SystemExit(f"error: {err}") from None
    print(f"wrote {args.out}/{args.name}.png, .csv, .md")


if __name__ == "__main__":
    main()
