"""Would training longer close the gap? What the regime study's budget ladder found, for the kind of model.

The probe answers at a short budget; the ladder (``make regime``, experiments/regime/README.md) trained the same
arms at budgets 10x apart. Its tables (``results/regime/<model>.csv``, written by ``make report-regime`` from the
committed records) are read when a diagnosis is made, so the line follows the study as it trains: each DyT arm's
gap to the baseline at the shortest and the longest rung trained, with the 95% CI where 2+ seeds each.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

REGIME = Path(__file__).resolve().parents[2] / "results" / "regime"
MODELS = {"vision": ("vit",), "lm": ("gpt", "llama")}
NAME = {"vit": "ViT on Fashion-MNIST", "gpt": "GPT-2 style LM", "llama": "LLaMA style LM"}
UNIT = {"vit": ("epoch", "points"), "gpt": ("steps", "nats"), "llama": ("steps", "nats")}


def _number(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _gap(row: dict) -> str:
    low, high = _number(row["gap_low"]), _number(row["gap_high"])
    ci = f" [{low:+.2f}, {high:+.2f}]" if math.isfinite(low) and math.isfinite(high) else ""
    n = int(row["completed"])
    notes = [f"n={n}"] * (n < 2) + ["collapsed"] * _collapsed(row)
    return f"{_number(row['gap']):+.2f}{ci}" + (f" ({', '.join(notes)})" if notes else "")


def _collapsed(row: dict) -> bool:
    return 2 * int(row["collapsed"]) > int(row["completed"])


def model_note(model: str, path: Path) -> str | None:
    """One line for ``model``'s ladder: every DyT arm trained at 2+ rungs, or None when none was."""
    rows = [r for r in csv.DictReader(path.open()) if int(r["completed"] or 0) > 0]
    baseline = next((r["arm"] for r in rows if not math.isfinite(_number(r["gap"]))), "the baseline")
    arms: dict[str, list[dict]] = {}
    for r in rows:
        if math.isfinite(_number(r["gap"])):
            arms.setdefault(r["arm"], []).append(r)
    unit, metric = UNIT.get(model, ("steps", ""))
    parts = []
    for arm, rungs in arms.items():
        if len(rungs) < 2:
            continue
        first, last = sorted(rungs, key=lambda r: _number(r["budget"]))[::len(rungs) - 1]
        span = f"{first['budget']} -> {last['budget']} {unit}{'s' * (unit == 'epoch')}"
        if _collapsed(first) and _collapsed(last):
            parts.append(f"{arm} collapsed at {span}")
            continue
        trend = "shrinks" if _number(last["gap"]) < _number(first["gap"]) else "grows"
        parts.append(f"{arm} {_gap(first)} -> {_gap(last)} at {span} ({trend})")
    if not parts:
        return None
    return (f"training longer, {NAME.get(model, model)} (our budget ladder; gap to {baseline} in {metric}, "
            f"worse > 0, 95% CI): " + "; ".join(parts) + f" (results/regime/{path.name})")


def budget_notes(kind: str, root: Path = REGIME) -> list[str]:
    """The ladder's line for each model of this kind (vision: the ViT; lm: the GPT-2 and LLaMA style), from the
    tables that exist (none outside a checkout of the suite, or before ``make report-regime``)."""
    notes = []
    for model in MODELS.get(kind, ()):
        path = root / f"{model}.csv"
        note = model_note(model, path) if path.exists() else None
        if note:
            notes.append(note)
    return notes
