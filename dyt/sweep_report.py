"""The alpha-init sweep report: final metrics vs alpha init, curves side by side, the GPT heatmap.

Reads the run dirs of ``+sweep=alpha_vit`` (and ``+sweep=alpha_gpt`` when given) and writes
``summary.csv``, ``alpha_vit.png``, ``curves_vit.png``, ``heatmap_gpt.png`` and ``README.md``:

    python -m dyt.sweep_report runs/sweep_alpha_vit [runs/sweep_alpha_gpt] --out results/sweep-alpha
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

from dyt.report import BASELINE_NORMS, Run, _band, load_runs, mean_std, welch

PAPER_STATEMENT = ("non-LLM models are insensitive to alpha init between 0.5 and 1.2 (supervised ViT-L diverges "
                   "above 0.6; bigger models or higher LRs need smaller alpha); LLMs need tuned, per-position, "
                   "width-dependent inits (attention / other: width 1024 -> 1.0 / 1.0, 2048 -> 1.0 / 0.5, "
                   "4096 -> 0.8 / 0.2, 8192 -> 0.2 / 0.05)")
CURVE_ALPHAS = ("0.05", "0.5", "4", "calibrate")


def alpha_key(run: Run) -> str:
    """The sweep column of a run: ``ln`` (baseline), a number as written (``0.5``), or ``calibrate[:t]``."""
    norm = run.config["norm"]
    if norm["name"] in BASELINE_NORMS:
        return norm["name"]
    value = str(norm["alpha_init"])
    try:
        return f"{float(value):g}"
    except ValueError:
        return value


def status(run: Run) -> str:
    return run.summary.get("status", "unknown")


def final(run: Run, key: str) -> float:
    value = run.summary.get(f"final/{key}")
    return float(value) if value is not None and run.completed else math.nan


def calibrated_alpha(runs: list[Run]) -> float:
    """Geometric mean of the alphas calibration chose (over layers and seeds): where the column sits on the x axis."""
    values = [a for r in runs for a in (r.summary.get("calibration") or {}).get("alphas", {}).values()
              if isinstance(a, (int, float)) and a > 0]
    return float(np.exp(np.mean(np.log(values)))) if values else math.nan


def columns(runs: list[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for run in sorted(runs, key=lambda r: r.seed):
        out.setdefault(alpha_key(run), []).append(run)
    return out


def _numeric(cols: dict[str, list[Run]]) -> list[tuple[float, str]]:
    keys = []
    for key in cols:
        try:
            keys.append((float(key), key))
        except ValueError:
            pass
    return sorted(keys)


def write_csv(runs: list[Run], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sweep", "width", "alpha_init", "alpha_attn", "alpha_mlp", "seed", "status", "final_val_loss",
                    "final_val_acc1", "steps", "run_dir"])
        for r in sorted(runs, key=lambda r: (r.config["name"], str(r.path))):
            norm = r.config["norm"]
            w.writerow([r.config["name"], r.config["model"].get("kwargs", {}).get("n_embd", ""), alpha_key(r),
                        norm.get("alpha_attn"), norm.get("alpha_mlp"), r.seed, status(r),
                        _csv(final(r, "val/loss")), _csv(final(r, "val/acc1")), r.summary.get("step", ""), r.path])


def _csv(v: float) -> str:
    return "" if math.isnan(v) else f"{v:.6g}"


def within_baseline(cols: dict[str, list[Run]], base: str, metric: str) -> list[str]:
    """Columns whose mean is within one std (over seeds) of the baseline's mean, with no failed/diverged run."""
    b_mean, b_std = mean_std([final(r, metric) for r in cols[base]])
    ok = []
    for key, runs in cols.items():
        if key == base or any(not r.completed for r in runs):
            continue
        mean, _ = mean_std([final(r, metric) for r in runs])
        if abs(mean - b_mean) <= b_std:
            ok.append(key)
    return ok


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
        xs = _numeric(cols)
        means = [mean_std([final(r, metric) for r in cols[k]]) for _, k in xs]
        ax.errorbar([x for x, _ in xs], [m for m, _ in means], yerr=[s for _, s in means], fmt="o-",
                    color="tab:orange", capsize=3, label="DyT, alpha init (mean ± std)")
        top = ax.get_ylim()[1]
        bad = [(x, k) for x, k in xs if any(not r.completed for r in cols[k])]
        if bad:
            ax.plot([x for x, _ in bad], [top] * len(bad), "x", color="red", ms=10, mew=2,
                    label="diverged / failed run(s)")
        for key in cols:
            if key.startswith("calibrate"):
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

    keys = ([base] if base else []) + [k for k in cols if k in CURVE_ALPHAS or k.startswith("calibrate")]
    keys = list(dict.fromkeys(keys))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("train/loss", "val/loss")):
        for key in keys:
            band = _band([r for r in cols[key] if r.completed], metric)
            if band is None:
                continue
            steps, mean, std = band
            label = key if key == base else (f"DyT {key}" if key.startswith("calibrate") else f"DyT alpha {key}")
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


def gpt_grid(runs: list[Run]) -> dict[int, dict]:
    """``{width: {"grid": {(attn, other): [val losses]}, "baseline": [...], "calibrated": [...]}}``."""
    out: dict[int, dict] = {}
    for r in runs:
        width = int(r.config["model"]["kwargs"]["n_embd"])
        cell = out.setdefault(width, {"grid": {}, "baseline": [], "calibrated": [], "failed": set()})
        norm = r.config["norm"]
        if norm["name"] in BASELINE_NORMS:
            cell["baseline"].append(final(r, "val/loss"))
        elif str(norm["alpha_init"]).startswith("calibrate"):
            cell["calibrated"].append(final(r, "val/loss"))
        else:
            pos = (float(norm["alpha_attn"]), float(norm["alpha_mlp"]))
            cell["grid"].setdefault(pos, []).append(final(r, "val/loss"))
            if not r.completed:
                cell["failed"].add(pos)
    return out


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


def _table(cols: dict[str, list[Run]], base: str | None) -> list[str]:
    lines = ["| alpha init | runs | completed | final val loss | final val top-1 % | Δ top-1 vs baseline (Welch p) |",
             "|---|---|---|---|---|---|"]
    base_acc = [final(r, "val/acc1") for r in cols[base] if r.completed] if base else []
    order = ([base] if base else []) + [k for _, k in _numeric(cols)] + sorted(k for k in cols if k.startswith("calibrate"))
    for key in order:
        runs = cols[key]
        loss = mean_std([final(r, "val/loss") for r in runs])
        acc = mean_std([final(r, "val/acc1") for r in runs])
        done = [r for r in runs if r.completed]
        bad = ", ".join(f"s{r.seed} {status(r)}" for r in runs if not r.completed)
        if key == base or not base_acc:
            delta = "—"
        else:
            t, p = welch(base_acc, [final(r, "val/acc1") for r in done])
            delta = f"{acc[0] - np.mean(base_acc):+.2f} (p = {p:.2g})"
        label = key if key != base else f"{key} (baseline)"
        if key.startswith("calibrate"):
            label += f" (chosen alphas: geometric mean {calibrated_alpha(runs):.3g})"
        lines.append(f"| {label} | {len(runs)} | {len(done)}{' (' + bad + ')' if bad else ''} | "
                     f"{loss[0]:.4f} ± {loss[1]:.4f} | {acc[0]:.2f} ± {acc[1]:.2f} | {delta} |")
    return lines


def write_readme(vit_runs: list[Run], gpt_runs: list[Run], out: Path, command: str) -> None:
    lines = ["# Alpha-init sweep", "",
             f"Generated by `{command}` from the run dirs (never typed by hand). Regenerate: `make sweep-alpha`"
             + (" and `make sweep-alpha-gpt`." if gpt_runs else "."), ""]
    if vit_runs:
        cols = columns(vit_runs)
        base = next((k for k in cols if k in BASELINE_NORMS), None)
        cfg = vit_runs[0].config
        steps = max(r.summary.get("step", 0) for r in vit_runs)
        lines += ["## ViT (CPU default, Fashion-MNIST)", "",
                  f"`{cfg['model']['arch']}` with width {cfg['model']['kwargs'].get('embed_dim')}, depth "
                  f"{cfg['model']['kwargs'].get('depth')}, {steps} steps of batch {cfg['data']['batch_size']}; "
                  f"seeds {sorted({r.seed for r in vit_runs})}. Mean ± std over seeds.", "",
                  *_table(cols, base), "", "![final metrics vs alpha init](alpha_vit.png)", "",
                  "![curves](curves_vit.png)", ""]
        if base:
            for metric, name in (("val/acc1", "top-1"), ("val/loss", "val loss")):
                ok = within_baseline(cols, base, metric)
                numeric = sorted(float(k) for k in ok if not k.startswith("calibrate"))
                span = f"alpha init in {{{', '.join(f'{x:g}' for x in numeric)}}}" if numeric else "no alpha init of the grid"
                cal = [k for k in ok if k.startswith("calibrate")]
                lines.append(f"- **Within one std of the {base} baseline ({name})**: {span}"
                             + (f"; and {', '.join(cal)}" if cal else "") + ".")
            bad = {k: [f"s{r.seed} {status(r)}" for r in rs if not r.completed] for k, rs in cols.items()}
            bad = {k: v for k, v in bad.items() if v}
            lines.append("- Diverged or failed: " + ("; ".join(f"alpha {k}: {', '.join(v)}" for k, v in bad.items())
                                                     if bad else "none") + ".")
        lines += [f"- The paper: {PAPER_STATEMENT}.", ""]
    if gpt_runs:
        grid = gpt_grid(gpt_runs)
        lines += ["## GPT (CPU default, Shakespeare characters): attention alpha × MLP/final alpha", "",
                  "![heatmap](heatmap_gpt.png)", ""]
        for width in sorted(grid):
            cells = {k: np.nanmean(v) for k, v in grid[width]["grid"].items() if np.isfinite(v).any()}
            if cells:
                (a, o), best = min(cells.items(), key=lambda kv: kv[1])
                base = np.nanmean(grid[width]["baseline"]) if grid[width]["baseline"] else math.nan
                cal = np.nanmean(grid[width]["calibrated"]) if grid[width]["calibrated"] else math.nan
                lines.append(f"- width {width}: best DyT cell attention {a:g} / other {o:g}, val loss {best:.3f}; "
                             f"LN {base:.3f}; DyT calibrated {cal:.3f}.")
        lines.append("")
    out.joinpath("README.md").write_text("\n".join(lines))


def sweep_report(runs_dirs, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    runs = [r for d in runs_dirs for r in load_runs(Path(d))]
    if not runs:
        raise SystemExit(f"error: no runs under {', '.join(map(str, runs_dirs))}: run `make sweep-alpha` first")
    gpt_runs = [r for r in runs if r.config["model"]["family"] == "gpt"]
    vit_runs = [r for r in runs if r.config["model"]["family"] != "gpt"]
    write_csv(runs, out / "summary.csv")
    if vit_runs:
        cols = columns(vit_runs)
        base = next((k for k in cols if k in BASELINE_NORMS), None)
        plot_vs_alpha(cols, base, out / "alpha_vit.png", "ViT alpha-init sweep: final metrics vs alpha init")
        plot_curves(cols, base, out / "curves_vit.png")
    if gpt_runs:
        plot_heatmap(gpt_grid(gpt_runs), out / "heatmap_gpt.png")
    command = "python -m dyt.sweep_report " + " ".join(map(str, runs_dirs)) + f" --out {out}"
    write_readme(vit_runs, gpt_runs, out, command)
    return out / "README.md"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dirs", type=Path, nargs="+", help="sweep folders, e.g. runs/sweep_alpha_vit")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    missing = [str(d) for d in args.runs_dirs if not d.is_dir()]
    if missing:
        print(f"error: no such runs folder: {', '.join(missing)} (run `make sweep-alpha` first)", file=sys.stderr)
        sys.exit(2)
    print(sweep_report(args.runs_dirs, args.out))


if __name__ == "__main__":
    main()
