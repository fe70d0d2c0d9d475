"""Training curves of several arms side by side: mean ± std over seeds (a band), diverged runs dotted."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dyt.reports.runs import Run


def band(runs: list[Run], key: str, window: int = 1):
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
    stacked = np.stack([np.interp(grid, s, smooth(v, window)) for s, v in series])
    return grid, stacked.mean(0), stacked.std(0, ddof=1) if len(stacked) > 1 else np.zeros(len(grid))


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """A trailing moving average over ``window`` points (the first value repeated before the start)."""
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def plot_curves(groups: dict[str, dict[str, list[Run]]], path: Path) -> None:
    """One row per experiment, one panel per metric (train loss, val loss, val accuracy), one band per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    text = any(r.summary.get("tokens_seen") for arms in groups.values() for rs in arms.values() for r in rs)
    panels = [("train/loss", "train loss (smoothed)", 5), ("val/loss", "val loss", 1),
              ("val/acc1", "val next-token accuracy (%)" if text else "val top-1 (%)", 1)]
    fig, axes = plt.subplots(len(groups), len(panels), figsize=(5.2 * len(panels), 4.0 * len(groups)), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, (experiment, arms) in zip(axes, groups.items()):
        for (key, label, window), ax in zip(panels, row):
            for i, (arm, runs) in enumerate(arms.items()):
                color = colors[i % len(colors)]
                ok = [r for r in runs if r.completed]
                mean_band = band(ok, key, window)
                if mean_band is not None:
                    steps, mean, std = mean_band
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
