"""LayerNorm input -> output mappings of a trained model (the paper's Figure 2: "S-curves").

For every LayerNorm (``nn.LayerNorm``, which timm's ViT norms and our GPT's
norms are; ``nn.RMSNorm`` too) a forward hook records, per element, the input
``x`` and the normalized output *before* the affine,
``(x - mean) / sqrt(var + eps)`` over the normalized dims (RMSNorm:
``x / sqrt(mean(x^2) + eps)``), on one validation batch. Each layer keeps a
fixed random subsample of ``max_points`` (x, y) pairs.

Per layer we fit ``y ~ b * tanh(a * x)`` by least squares (for a given ``a``
the best ``b`` is closed-form; ``a`` by a log-grid search refined with a
bounded 1-D minimization) and report R^2, next to the R^2 of the best straight
line through the origin. ``b`` is the amplitude the curve saturates at (the
role DyT's per-channel ``weight`` plays); ``a * b`` is its slope at 0.

Regions, from the fit: *linear* where ``|a x| < 1`` (tanh(u) is within 24%
of u there), *squashed* where ``|a x| > 2`` (tanh's slope there is below 0.07
of its slope at 0), *transition* in between. When a layer's points show no
saturation, the best ``a`` is small, ``b`` large, and every point is linear.

    python -m dyt.reports.analysis.scurve runs/vit/ln/seed0 --out results/analysis --name vit
"""

from __future__ import annotations

import argparse
import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dyt.run.trained import load_trained

LINEAR_BELOW = 1.0  # |a x| < 1: the linear middle
SQUASHED_ABOVE = 2.0  # |a x| > 2: the squashed tails
NORM_TYPES = (nn.LayerNorm, nn.RMSNorm)


def normalize_without_affine(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What ``module`` (a LayerNorm or RMSNorm) computes before its affine."""
    shape = tuple(module.normalized_shape)
    if isinstance(module, nn.LayerNorm):
        return F.layer_norm(x, shape, None, None, module.eps)
    eps = module.eps if module.eps is not None else torch.finfo(x.dtype).eps
    return F.rms_norm(x, shape, None, eps)


@dataclass
class LayerPoints:
    name: str
    x: np.ndarray  # sampled inputs
    y: np.ndarray  # the same elements, normalized, before the affine
    numel: int  # elements the layer saw in the batch
    input_std: float  # over all its elements
    input_absmax: float


class NormRecorder:
    """Forward hooks on every norm of ``model`` that keep a random subsample of (input, pre-affine output).

    Use as a context manager around forward passes; ``points`` maps module path -> ``LayerPoints``
    in forward order (shallow to deep)."""

    def __init__(self, model: nn.Module, max_points: int = 20000, seed: int = 0) -> None:
        self.modules = [(name, m) for name, m in model.named_modules() if isinstance(m, NORM_TYPES)]
        self.max_points, self.generator = max_points, torch.Generator().manual_seed(seed)
        self.points: dict[str, LayerPoints] = {}
        self._handles = []

    def __enter__(self) -> "NormRecorder":
        self._handles = [m.register_forward_hook(self._hook(name)) for name, m in self.modules]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, name: str):
        def record(module, inputs, output) -> None:
            x = inputs[0].detach().float()
            y = normalize_without_affine(module, x).flatten().cpu()
            x = x.flatten().cpu()
            keep = torch.randperm(x.numel(), generator=self.generator)[: self.max_points]
            self.points[name] = LayerPoints(name, x[keep].numpy(), y[keep].numpy(), x.numel(),
                                            float(x.std()), float(x.abs().max()))
        return record


@torch.no_grad()
def record_points(model: nn.Module, inputs: torch.Tensor, max_points: int = 20000, seed: int = 0) -> list[LayerPoints]:
    """One eval-mode forward of ``inputs``; the recorded points of every norm, shallow to deep."""
    was_training = model.training
    model.eval()
    with NormRecorder(model, max_points, seed) as rec:
        model(inputs)
    model.train(was_training)
    return [rec.points[name] for name, _ in rec.modules if name in rec.points]


# ---------------------------------------------------------------- the fit

@dataclass
class TanhFit:
    a: float
    b: float
    r2: float
    r2_line: float  # best straight line through the origin, for comparison
    frac_linear: float
    frac_transition: float
    frac_squashed: float


def _sse_for(a: float, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    t = np.tanh(a * x)
    tt = float(t @ t)
    b = float(t @ y) / tt if tt > 0 else 0.0
    r = y - b * t
    return float(r @ r), b


def fit_tanh(x: np.ndarray, y: np.ndarray, grid: int = 121) -> TanhFit:
    """Least-squares ``y ~ b * tanh(a * x)``; ``a`` searched over ``a * std(x)`` in [1e-3, 1e3]."""
    from scipy.optimize import minimize_scalar

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    scale = float(np.std(x)) or 1.0
    log_u = np.linspace(-3, 3, grid)  # u = a * std(x)
    sse = [_sse_for(10 ** lu / scale, x, y)[0] for lu in log_u]
    i = int(np.argmin(sse))
    lo, hi = log_u[max(i - 1, 0)], log_u[min(i + 1, grid - 1)]
    best = minimize_scalar(lambda lu: _sse_for(10 ** lu / scale, x, y)[0], bounds=(lo, hi), method="bounded",
                           options={"xatol": 1e-6})
    lu = best.x if best.fun <= sse[i] else log_u[i]
    a = 10 ** lu / scale
    res, b = _sse_for(a, x, y)
    tot = float(((y - y.mean()) ** 2).sum())
    slope = float(x @ y) / float(x @ x) if float(x @ x) > 0 else 0.0
    res_line = float(((y - slope * x) ** 2).sum())
    u = np.abs(a * x)
    return TanhFit(a=float(a), b=float(b), r2=1 - res / tot if tot > 0 else math.nan,
                   r2_line=1 - res_line / tot if tot > 0 else math.nan,
                   frac_linear=float(np.mean(u < LINEAR_BELOW)),
                   frac_transition=float(np.mean((u >= LINEAR_BELOW) & (u <= SQUASHED_ABOVE))),
                   frac_squashed=float(np.mean(u > SQUASHED_ABOVE)))


def validation_batch(data, limit: int) -> torch.Tensor:
    """The first ``limit`` validation inputs (images or token sequences), one batch."""
    xs, n = [], 0
    for x, _ in data.val.eval_batches():
        xs.append(x)
        n += len(x)
        if n >= limit:
            break
    return torch.cat(xs)[:limit]


def analyze_run(run_dir: Path, batch: int = 256, max_points: int = 20000, seed: int = 0):
    """``(cfg, [(LayerPoints, TanhFit)])`` for every norm of the run's trained model, shallow to deep."""
    cfg, model, data = load_trained(run_dir)
    inputs = validation_batch(data, batch)
    layers = record_points(model, inputs, max_points, seed)
    if not layers:
        raise ValueError(f"{run_dir}: the model has no LayerNorm/RMSNorm (norm={cfg.norm.name}); "
                         "S-curves need a run with norm=ln or rmsnorm")
    return cfg, [(lp, fit_tanh(lp.x, lp.y)) for lp in layers]


# ---------------------------------------------------------------- outputs

CSV_COLUMNS = ["layer", "index", "points", "input_std", "input_absmax", "fit_a", "fit_b", "r2_tanh", "r2_line",
               "frac_linear", "frac_transition", "frac_squashed", "absmax_a_x"]


def table_rows(results) -> list[dict]:
    rows = []
    for i, (lp, fit) in enumerate(results):
        rows.append({"layer": lp.name, "index": i, "points": len(lp.x), "input_std": lp.input_std,
                     "input_absmax": lp.input_absmax, "fit_a": fit.a, "fit_b": fit.b, "r2_tanh": fit.r2,
                     "r2_line": fit.r2_line, "frac_linear": fit.frac_linear, "frac_transition": fit.frac_transition,
                     "frac_squashed": fit.frac_squashed, "absmax_a_x": fit.a * lp.input_absmax})
    return rows


def write_table(rows: list[dict], csv_path: Path, md_path: Path, title: str) -> None:
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    lines = [f"# {title}", "",
             f"Fit `y ~ b * tanh(a * x)` per layer; linear middle: |a x| < {LINEAR_BELOW:g}, "
             f"squashed tails: |a x| > {SQUASHED_ABOVE:g}. Points: a random subsample of one validation batch.", "",
             "| # | layer | input std | max abs x | a | b | R² tanh | R² line | linear % | transition % | squashed % |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['index']} | `{r['layer']}` | {r['input_std']:.3g} | {r['input_absmax']:.3g} | {r['fit_a']:.3g} | "
                     f"{r['fit_b']:.3g} | {r['r2_tanh']:.4f} | {r['r2_line']:.4f} | {100 * r['frac_linear']:.2f} | "
                     f"{100 * r['frac_transition']:.2f} | {100 * r['frac_squashed']:.2f} |")
    md_path.write_text("\n".join(lines) + "\n")


def plot_grid(results, path: Path, title: str, show_points: int = 6000, cols: int = 5) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = math.ceil(len(results) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(results):]:
        ax.axis("off")
    for ax, (lp, fit) in zip(axes.flat, results):
        n = min(show_points, len(lp.x))
        ax.scatter(lp.x[:n], lp.y[:n], s=1, alpha=0.25, color="tab:blue", rasterized=True, linewidths=0)
        grid = np.linspace(lp.x.min(), lp.x.max(), 400)
        ax.plot(grid, fit.b * np.tanh(fit.a * grid), color="tab:red", linewidth=1.2)
        ax.set_title(f"{lp.name}\na={fit.a:.3g} b={fit.b:.3g} R²={fit.r2:.3f}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("LN input", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("LN output (before affine)", fontsize=8)
    fig.suptitle(f"{title}: red = least-squares b·tanh(a·x)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scurves(run_dir: Path, out: Path, name: str, batch: int = 256, max_points: int = 20000) -> list[dict]:
    """Figure, csv and markdown table of one LN run into ``out``: ``scurves_<name>.{png,csv,md}``."""
    out.mkdir(parents=True, exist_ok=True)
    cfg, results = analyze_run(Path(run_dir), batch, max_points)
    title = f"LN input-output, {cfg.name} ({cfg.model.arch}, {run_dir})"
    rows = table_rows(results)
    plot_grid(results, out / f"scurves_{name}.png", title)
    write_table(rows, out / f"scurves_{name}.csv", out / f"scurves_{name}.md", title)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/analysis"))
    parser.add_argument("--name", required=True, help="file stem: scurves_<name>.png/.csv/.md")
    parser.add_argument("--batch", type=int, default=256, help="validation inputs in the one batch")
    parser.add_argument("--max-points", type=int, default=20000, help="sampled elements kept per layer")
    args = parser.parse_args(argv)
    scurves(args.run_dir, args.out, args.name, args.batch, args.max_points)
    print(f"wrote {args.out}/scurves_{args.name}.png, .csv, .md")


if __name__ == "__main__":
    main()
