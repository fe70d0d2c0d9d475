"""The validation's numbers: hit rates (all, held out, tuning), the trivial predictor's, the probe's cost."""

from __future__ import annotations

import statistics
from collections import Counter


def rate(rows: list[dict]) -> dict:
    hits = sum(r["hit"] for r in rows)
    n = len(rows)
    return {"hits": hits, "n": n, "rate": hits / n if n else None,
            "text": f"{hits}/{n} = {100 * hits / n:.0f}%" if n else "no arms"}


def base_rate(rows: list[dict]) -> dict:
    """How often always answering the most common outcome would be right."""
    if not rows:
        return {"outcome": None, "hits": 0, "n": 0, "rate": None, "text": "no arms"}
    outcome, hits = Counter(r["outcome"] for r in rows).most_common(1)[0]
    return {"outcome": outcome, "hits": hits, "n": len(rows), "rate": hits / len(rows),
            "text": f"{hits}/{len(rows)} = {100 * hits / len(rows):.0f}%"}


def score(rows: list[dict]) -> dict:
    held = [r for r in rows if r["held_out"]]
    tuning = [r for r in rows if not r["held_out"]]
    costs = [r["cost_fraction"] for r in rows]
    samples = [r["sample_fraction"] for r in rows]
    confusion = Counter(f"{r['outcome']} -> {r['prediction']}" for r in rows)
    return {"all": rate(rows), "held_out": rate(held), "tuning": rate(tuning),
            "base_rate_all": base_rate(rows), "base_rate_held_out": base_rate(held),
            "confusion": dict(sorted(confusion.items())),
            "cost_fraction": {"median": statistics.median(costs) if costs else None,
                              "min": min(costs, default=None), "max": max(costs, default=None)},
            "sample_fraction": {"median": statistics.median(samples) if samples else None,
                                "min": min(samples, default=None), "max": max(samples, default=None)}}


def full_text(r: dict) -> str:
    unit = "%" if r["metric"] == "val/acc1" else " nats"
    collapsed = f", {r['collapsed_seeds']}/3 collapsed" if r["collapsed_seeds"] else ""
    return f"{r['full_baseline']:g} vs {r['full_dyt']:g}{unit}{collapsed}"


def markdown(summary: dict) -> str:
    s = summary["score"]
    lines = ["| arm | overrides | prediction | confidence | probe gap | outcome (full runs: baseline vs DyT) | hit | "
             "held out | probe s / full s | samples |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        gap = "-" if r["gap"] is None else f"{100 * r['gap']:.1f}%"
        lines.append(f"| {r['id']} | `{r['overrides']}` | {r['prediction']} | {r['confidence']:.2f} | {gap} | "
                     f"{r['outcome']} ({full_text(r)}) | {'hit' if r['hit'] else '**miss**'} | "
                     f"{'yes' if r['held_out'] else 'no (tuning)'} | {r['probe_seconds']:.0f} / "
                     f"{r['full_seconds']:.0f} = {r['cost_fraction']:.2f} | {r['sample_fraction']:.2f} |")
    c, f = s["cost_fraction"], s["sample_fraction"]
    t = summary["thresholds"]
    lines += ["", f"Probe: {summary['steps']} steps per arm; thresholds MATCH_GAP = {t['MATCH_GAP']}, "
              f"GAP_SCALE = {summary['thresholds']['GAP_SCALE']} (dyt/diagnose/predict.py).", "",
              f"- hit rate, all arms: **{s['all']['text']}**; held-out arms: **{s['held_out']['text']}**; "
              f"tuning arms: {s['tuning']['text']}",
              f"- base rate (always answering the most common outcome): all arms '{s['base_rate_all']['outcome']}' "
              f"{s['base_rate_all']['text']}; held-out arms '{s['base_rate_held_out']['outcome']}' "
              f"{s['base_rate_held_out']['text']}",
              "- outcome -> prediction: " + ", ".join(f"{k}: {v}" for k, v in s["confusion"].items()),
              f"- probe cost / one full run of each arm: median {c['median']:.2f} (range {c['min']:.2f} to "
              f"{c['max']:.2f}) in training seconds, measured on a machine shared with other jobs; in training "
              f"samples (load-free): median {f['median']:.2f} (range {f['min']:.2f} to {f['max']:.2f}); the probes "
              f"took {summary['diagnosis_seconds_total'] / 60:.0f} min of wall time in all (each arm's diagnosis, a "
              "shared baseline counted once)"]
    return "\n".join(lines) + "\n"
