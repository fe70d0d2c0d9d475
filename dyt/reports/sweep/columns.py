"""A sweep's runs as columns: one per alpha init (``ln`` for the baseline, ``calibrate[:t]``), and the GPT grid."""

from __future__ import annotations

import math

import numpy as np

from dyt.reports.runs import BASELINE_NORMS, Run
from dyt.reports.stats import mean_std
from dyt.run.alpha import VALUE, parse_alpha_init
from dyt.run.errors import ConfigError

CURVE_ALPHAS = ("0.05", "0.5", "4")  # the fixed inits drawn as curves (calibrated ones always are)


def alpha_key(run: Run) -> str:
    """The sweep column of a run: ``ln`` (baseline), a number as written (``0.5``), or ``calibrate[:t]``."""
    norm = run.config["norm"]
    if norm["name"] in BASELINE_NORMS:
        return norm["name"]
    alpha = parse_alpha_init(norm["alpha_init"])
    return f"{alpha.value:g}" if alpha.kind == VALUE else alpha.text


def calibrated(key: str) -> bool:
    """Whether a column holds a data-calibrated init (``calibrate``, ``calibrate:2``)."""
    try:
        return parse_alpha_init(key).calibrated
    except ConfigError:
        return False


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


def numeric_columns(cols: dict[str, list[Run]]) -> list[tuple[float, str]]:
    keys = []
    for key in cols:
        try:
            keys.append((float(key), key))
        except ValueError:
            pass
    return sorted(keys)


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


def gpt_grid(runs: list[Run]) -> dict[int, dict]:
    """``{width: {"grid": {(attn, other): [val losses]}, "baseline": [...], "calibrated": [...]}}``."""
    out: dict[int, dict] = {}
    for r in runs:
        width = int(r.config["model"]["kwargs"]["n_embd"])
        cell = out.setdefault(width, {"grid": {}, "baseline": [], "calibrated": [], "failed": set()})
        norm = r.config["norm"]
        if norm["name"] in BASELINE_NORMS:
            cell["baseline"].append(final(r, "val/loss"))
        elif parse_alpha_init(norm["alpha_init"]).calibrated:
            cell["calibrated"].append(final(r, "val/loss"))
        else:
            pos = (float(norm["alpha_attn"]), float(norm["alpha_mlp"]))
            cell["grid"].setdefault(pos, []).append(final(r, "val/loss"))
            if not r.completed:
                cell["failed"].add(pos)
    return out
