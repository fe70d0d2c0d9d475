"""Running the validation of ``dyt.diagnose.validate``: probe each arm (or reread its report), predict, score.

    python -m dyt.diagnose validate                  # every arm, 150 steps (~the CPU time of a few full runs)
    python -m dyt.diagnose validate --resume         # keep the arms whose report.json exists, probe the rest
    python -m dyt.diagnose validate --rescore        # no training: re-predict from the stored reports
    python -m dyt.diagnose validate --arms gpt-cal   # probe one arm; the table keeps the other stored arms

Per arm: ``<out>/validation/<id>/`` (report.md, report.json, diagnose.png); then ``<out>/validation.json`` and
``<out>/validation.md`` (the table, hit rates, base rates, cost). A baseline probed once is reused for every
arm of the same experiment (same model, data, optimizer, seed and steps); its training time counts in each
arm's cost all the same.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from dyt.diagnose.arms import AlphaChoice
from dyt.diagnose.experiment import IMAGE_BATCH
from dyt.diagnose.predict import GAP_SCALE, MATCH_GAP
from dyt.diagnose.scoring import markdown, score
from dyt.diagnose.validate import ARMS, MATCH_MARGIN, Full


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dyt.diagnose validate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=150, help="probe steps per arm (default 150)")
    p.add_argument("--arms", nargs="*", default=None, help=f"ids to run (default all): {', '.join(a.id for a in ARMS)}")
    p.add_argument("--out", type=Path, default=Path("results/diagnose"))
    p.add_argument("--resume", action="store_true", help="reuse arms whose report.json exists")
    p.add_argument("--rescore", action="store_true", help="train nothing: re-predict every stored arm")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def baseline_key(arms) -> str:
    """What a baseline's probe depends on (its model and optimizer); the data and seed are the experiment's."""
    base = arms[0]
    return f"{base.name}|{base.model!r}|{base.settings}"


def probe(full: Full, steps: int, out: Path, progress: bool, cache: dict) -> dict:
    from dyt.diagnose.api import run_arms
    from dyt.diagnose.experiment import experiment_setup
    from dyt.diagnose.inputs import default_loss

    began = time.perf_counter()
    name, arms, batches, static, init = experiment_setup(full.experiment, [*full.shared, *full.arm], AlphaChoice(),
                                                         steps)
    key = f"{full.experiment}|{'|'.join(full.shared)}|{baseline_key(arms)}|{steps}"
    d = run_arms(full.id, arms, batches, default_loss, static, init, progress=progress, baseline=cache.get(key))
    cache.setdefault(key, d.arms[0])
    d.seconds = time.perf_counter() - began
    d.save(out / "validation" / full.id)
    return json.loads((out / "validation" / full.id / "report.json").read_text())


def rescore(stored: Path) -> dict:
    """Re-predict a stored arm with the current rule and rewrite its report (no training)."""
    from dyt.diagnose.api import Diagnosis

    d = Diagnosis.from_dict(json.loads(stored.read_text()))
    d.save(stored.parent)
    return json.loads(stored.read_text())


def row(full: Full, report: dict) -> dict:
    """The prediction of a stored report against the full runs' outcome."""
    from dyt.diagnose.api import Diagnosis

    d = Diagnosis.from_dict(report)
    base, arm, p = d.arms[0], d.arms[1], d.predictions[0]
    probe_seconds = base.seconds + arm.seconds
    batch = report["settings"].get("batch_size") or (IMAGE_BATCH if full.metric == "val/acc1" else 32)
    return {"id": full.id, "experiment": full.experiment, "overrides": " ".join([*full.shared, *full.arm]),
            "held_out": full.held_out, "prediction": p.verdict, "confidence": p.confidence, "gap": p.gap,
            "outcome": full.outcome, "hit": p.verdict == full.outcome, "metric": full.metric,
            "full_baseline": full.baseline, "full_dyt": full.dyt, "collapsed_seeds": full.collapsed,
            "source": full.source, "probe_seconds": round(probe_seconds, 1),
            "full_seconds": round(2 * full.full_seconds, 1), "diagnosis_seconds": round(report["seconds"], 1),
            "cost_fraction": probe_seconds / (2 * full.full_seconds),
            "sample_fraction": len(base.losses) * batch / full.samples,
            "reasons": p.reasons, "features": p.features}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    chosen = [a for a in ARMS if args.arms is None or a.id in args.arms]
    unknown = set(args.arms or []) - {a.id for a in ARMS}
    if unknown:
        print(f"dyt diagnose validate: error: unknown arm(s) {sorted(unknown)}: choose from "
              f"{', '.join(a.id for a in ARMS)}", file=sys.stderr)
        return 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    rows, cache, began = [], {}, time.perf_counter()
    for full in chosen:
        stored = args.out / "validation" / full.id / "report.json"
        if args.rescore or (args.resume and stored.exists()):
            if not stored.exists():
                print(f"dyt diagnose validate: no stored report for {full.id}: run without --rescore", file=sys.stderr)
                continue
            report = rescore(stored)
        else:
            report = probe(full, args.steps, args.out, args.progress, cache)
        rows.append(row(full, report))
        r = rows[-1]
        print(f"{full.id:<20} predicted {r['prediction']:<8} ({r['confidence']:.2f})  outcome {r['outcome']:<8} "
              f"{'hit' if r['hit'] else 'MISS'}{'' if full.held_out else '  (tuning)'}", flush=True)
    if not rows:
        print(f"dyt diagnose validate: error: no arm was probed and none has a report under {args.out / 'validation'}:"
              " run without --rescore (nothing written)", file=sys.stderr)
        return 2
    kept = [row(full, json.loads(stored.read_text())) for full in ARMS if full not in chosen
            and (stored := args.out / "validation" / full.id / "report.json").exists()]
    if kept:  # --arms probes a few; the table keeps every other arm's stored report, in the table's order
        print(f"kept the stored reports of {len(kept)} other arm(s) in the table", flush=True)
        order = [a.id for a in ARMS]
        rows = sorted(rows + kept, key=lambda r: order.index(r["id"]))
    summary = {"steps": args.steps, "thresholds": {"MATCH_GAP": MATCH_GAP, "GAP_SCALE": GAP_SCALE},
               "outcome_margin": MATCH_MARGIN, "score": score(rows), "wall_seconds": time.perf_counter() - began,
               "diagnosis_seconds_total": sum(r["diagnosis_seconds"] for r in rows),
               "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "validation.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1, default=str) + "\n")
    tmp.replace(args.out / "validation.json")
    (args.out / "validation.md").write_text(markdown(summary))
    s = summary["score"]
    print(f"hit rate: all {s['all']['text']}; held out {s['held_out']['text']}; tuning {s['tuning']['text']}; "
          f"'always {s['base_rate_all']['outcome']}': {s['base_rate_all']['text']}")
    return 0

