"""The alpha-init sweep's figures: final metrics vs alpha init, curves of a few inits, the GPT heatmap."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dyt.reports.curves import band
from dyt.reports.runs import Run
from dyt.reports.stats import mean_std
from dyt.reports.sweep.columns import CURVE_ALPHAS, calibrated, calibrated_alpha, final, numeric_columns


def plot_vs_alpha(cols: dict[str, list[Run]], base: str | None, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric, label in zip(axes, ("val/loss", "val/acc1"), ("final val loss", "final val top-1 (%)")):
        if base:
            m, s = mean_std([final(r, metric) for r in cols[base]])
            ax.axhspan(m - s, m + s, color="tab:blue", alpha=0.2, label=f"{base} mean ± std")
            ax.axhline(m, color="tab:blue", lw=1)
        xs = numeric_columns(cols)
        means = [mean_std([final(r, metric) for r in cols[k]]) for _, k in xs]
        ax.errorbar([x for x, _ in xs], [m for m, _ in means], yerr=[s for _, s in means], fmt="o-",
                    color="tab:orange", capsize=3, label="DyT, alpha init (mean ± std)")
        top = ax.get_ylim()[1]
        bad = [(x, k) for x, k in xs if any(not r.completed for r in cols[k])]
        if bad:
            ax.plot([x for x, _ in bad], [top] * len(bad), "x", color="red", ms=10, mew=2,
                    label="diverged / failed run(s)")
        for key in cols:
            if calibrated(key):
                x = calibrated_alpha(cols[key])
                m, s = mean_std([final(r, metric) for r in cols[key]])
                ax.errorbar([x], [m], yerr=[s], fmt="*", ms=14, color="tab:green", capsize=3,
                            label=f"DyT {key} (at the mean chosen alpha {x:.2g})")
        ax.set_xscale("log")
        ax.set_xlabel("alpha init")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_curves(cols: dict[str, list[Run]], base: str | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ([base] if base else []) + [k for k in cols if k in CURVE_ALPHAS or calibrated(k)]
    keys = list(dict.fromkeys(keys))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("train/loss", "val/loss")):
        for key in keys:
            mean_band = band([r for r in cols[key] if r.completed], metric)
            if mean_band is None:
                continue
            steps, mean, std = mean_band
            label = key if key == base else (f"DyT {key}" if calibrated(key) else f"DyT alpha {key}")
            line, = ax.plot(steps, mean, label=label)
            ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.15)
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("a few alpha inits side by side (mean ± std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_heatmap(grid: dict[int, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    widths = sorted(grid)
    fig, axes = plt.subplots(1, len(widths), figsize=(5 * len(widths), 4.2), squeeze=False)
    for ax, width in zip(axes[0], widths):
        cells = grid[width]["grid"]
        attns = sorted({a for a, _ in cells})
        others = sorted({o for _, o in cells})
        z = np.full((len(attns), len(others)), np.nan)
        for (a, o), vals in cells.items():
            z[attns.index(a), others.index(o)] = np.nanmean(vals) if np.isfinite(vals).any() else np.nan
        im = ax.imshow(z, cmap="viridis_r", origin="lower")
        for i, a in enumerate(attns):
            for j, o in enumerate(others):
                text = "div" if (a, o) in grid[width]["failed"] else f"{z[i, j]:.3f}"
                ax.text(j, i, text, ha="center", va="center", color="w", fontsize=9)
        ax.set_xticks(range(len(others)), [f"{o:g}" for o in others])
        ax.set_yticks(range(len(attns)), [f"{a:g}" for a in attns])
        ax.set_xlabel("alpha init, MLP + final norm")
        ax.set_ylabel("alpha init, attention norm")
        base = np.nanmean(grid[width]["baseline"]) if grid[width]["baseline"] else math.nan
        cal = np.nanmean(grid[width]["calibrated"]) if grid[width]["calibrated"] else math.nan
        ax.set_title(f"width {width}: final val loss\nLN {base:.3f}, DyT calibrated {cal:.3f}", fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
