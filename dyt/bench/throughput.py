"""Where a CPU training run's time goes, and the fastest way to run a study on this host.

``python -m dyt.bench.throughput`` (``make bench-throughput``) measures, on the machine it runs on:

- **whole runs, side by side**: the same two runs (LN and DyT, seed 0, ``--steps`` steps of ``--experiment``)
  as one 2-thread job after the other, and as two 1-thread jobs at once (the ``PARALLEL`` of the Makefile),
  then that with the per-layer diagnostics hooks off, with evaluation every 250 steps instead of the
  experiment's own interval, and compiled. Per case: wall time for both runs (so per run, amortized), each
  run's training seconds, and its final metric, checked equal to 4 significant digits against the default
  case (these switches must not change what is trained).
- **the step against the hardware**: the achieved GFLOP/s of one training step (6 x the matmul parameters x
  tokens, plus attention: 4 x T x T x head dim per head and sequence forward, x3 with the backward) next to
  one thread's ``torch.mm`` on exactly the step's matmul shapes, timed in the same process: their ratio is
  the headroom a faster step could still find.

Writes ``throughput.json`` and ``throughput.md`` to ``--out`` (default ``results/bench/<capability>/``).
Nothing here is a pass/fail test; the speed claims of ``experiments/speed/README.md`` quote these tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from dyt.bench.flops import step_flops
from dyt.bench.timing import Clock, measure

ARMS = ("norm=ln", "norm=dyt")
DEFAULT = "2 jobs x 1 thread"
CASES = {  # label -> (jobs at once, overrides); every case trains the same two runs
    "1 job x 2 threads, one after the other": (1, ("trainer.threads=2",)),
    DEFAULT: (2, ("trainer.threads=1",)),
    "2 jobs x 1 thread, no diagnostics hooks": (2, ("trainer.threads=1", "trainer.diagnostics=false")),
    "2 jobs x 1 thread, eval every 250 steps": (2, ("trainer.threads=1", "trainer.eval_every=250")),
    "2 jobs x 1 thread, eval every 250, no hooks": (2, ("trainer.threads=1", "trainer.eval_every=250",
                                                        "trainer.diagnostics=false")),
    "2 jobs x 1 thread, compiled": (2, ("trainer.threads=1", "trainer.compile=true")),
}


def _command(experiment: str, arm: str, steps: int, root: Path, extra: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "dyt.train", f"experiment={experiment}", arm, f"trainer.max_steps={steps}",
            f"runs_root={root}", "trainer.progress=false", *extra]


def _summary(root: Path) -> dict:
    found = sorted(root.glob("*/*/seed*/summary.json"))
    if not found:
        raise RuntimeError(f"no summary.json under {root}: the run failed (see {root}/*.log)")
    return json.loads(found[0].read_text())


def run_case(experiment: str, steps: int, jobs: int, extra: tuple[str, ...], root: Path, metric: str) -> dict:
    """Train both arms (``jobs`` at a time) under ``root``; wall seconds and each run's summary numbers."""
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline")}
    start, runs = time.perf_counter(), {}
    pending = list(ARMS)
    while pending:
        batch, pending = pending[:jobs], pending[jobs:]
        procs = []
        for arm in batch:
            out = root / arm.split("=")[1]
            out.mkdir(parents=True, exist_ok=True)
            log = open(out / "run.log", "w")
            procs.append((arm, out, log, subprocess.Popen(_command(experiment, arm, steps, out, extra), env=env,
                                                          stdout=log, stderr=subprocess.STDOUT)))
        for arm, out, log, proc in procs:
            if proc.wait(timeout=6 * 3600) != 0:
                raise RuntimeError(f"{' '.join(proc.args)} failed: see {out / 'run.log'}")
            log.close()
            s = _summary(out)
            runs[arm] = {"train_seconds": s["train_seconds"], metric: s[f"final/{metric}"]}
    wall = time.perf_counter() - start
    return {"wall_s": wall, "wall_per_run_s": wall / len(ARMS), "runs": runs}


def same_to_4_digits(a: float, b: float) -> bool:
    return f"{a:.4g}" == f"{b:.4g}"


def hardware_level(experiment: str, reps: int, budget_s: float) -> dict:
    """One thread: a training step's time and GFLOP/s against ``torch.mm`` on the step's own matmul shapes."""
    from dyt.bench.models import train_step

    torch.set_num_threads(1)
    device, out = torch.device("cpu"), {}
    for norm in ("ln", "dyt"):
        step = train_step(experiment, device, norm=norm, compiled=False)
        flops, shapes = step_flops(experiment, norm)
        mats = [(torch.randn(m, k), torch.randn(k, n)) for m, k, n in shapes]
        fns = {"step": step, "mm": lambda: [a @ b for a, b in mats]}
        t = measure(fns, Clock(device, budget_s), reps=reps, min_rep_s=0.2, share_s=budget_s / 2)
        step_s, mm_s = t["step"]["median_ms"] / 1e3, t["mm"]["median_ms"] / 1e3
        mm_flops = sum(2 * m * k * n for m, k, n in shapes)
        out[norm] = {"step_ms": 1e3 * step_s, "step_gflops": flops / step_s / 1e9, "mm_ms": 1e3 * mm_s,
                     "mm_gflops": mm_flops / mm_s / 1e9, "flops_per_step": flops, "matmul_flops": mm_flops,
                     "headroom": (flops / step_s) and (mm_flops / mm_s) / (flops / step_s)}
    return out


def markdown(results: dict) -> str:
    m, metric = results["machine"], results["metric"]
    base = results["cases"][DEFAULT]
    lines = [f"# Throughput of a {results['steps']}-step `experiment={results['experiment']}` run", "",
             f"Generated by `python -m dyt.bench.throughput` on {results['date']}: {m['cpu']}, {m['cpu_count']} cores, "
             f"torch CPU capability {m['cpu_capability']}. Two runs per case (`{ARMS[0]}`, `{ARMS[1]}`, seed 0), "
             "trained as the case says; wall time covers both, from the first start to the last exit (start-up, "
             f"data, evaluation and checkpoints included). The final `{metric}` of each run is checked against the "
             f"`{DEFAULT}` case to 4 significant digits.", "",
             "| case | wall, both runs (s) | per run, amortized (s) | vs default | training s per run | "
             f"final {metric} (LN, DyT) | equal to 4 digits |", "| --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for label, case in results["cases"].items():
        runs = case["runs"]
        equal = all(same_to_4_digits(runs[a][metric], base["runs"][a][metric]) for a in ARMS)
        lines.append(f"| {label} | {case['wall_s']:.0f} | {case['wall_per_run_s']:.0f} | "
                     f"{case['wall_s'] / base['wall_s']:.2f}x | "
                     + " / ".join(f"{runs[a]['train_seconds']:.0f}" for a in ARMS) + " | "
                     + ", ".join(f"{runs[a][metric]:.5g}" for a in ARMS) + f" | {'yes' if equal else '**no**'} |")
    hw = results.get("hardware")
    if hw:
        lines += ["", "## One training step against one thread's matmul (same process, same shapes)", "",
                  "| norm | step (ms) | GFLOP/s of the step | `torch.mm` on its matmul shapes (ms) | GFLOP/s of mm | "
                  "headroom (mm rate / step rate) |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for norm, h in hw.items():
            lines.append(f"| {norm} | {h['step_ms']:.1f} | {h['step_gflops']:.1f} | {h['mm_ms']:.1f} | "
                         f"{h['mm_gflops']:.1f} | {h['headroom']:.2f}x |")
        lines += ["", "FLOPs per step: 6 x (parameters that multiply a matrix) x tokens + attention "
                  "(12 x layers x T x C per token, full T x T as the CPU kernel computes it)."]
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m dyt.bench.throughput", description=__doc__.split("\n\n")[0])
    p.add_argument("--experiment", default="gpt")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--cases", default=";".join(CASES), help="case labels separated by ';' (default: all)")
    p.add_argument("--reps", type=int, default=15, help="repetitions of the step / mm timing")
    p.add_argument("--no-hardware", action="store_true", help="skip the step-vs-matmul level")
    p.add_argument("--out", default=None, help="output folder (default results/bench/<capability>)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from dyt.bench.readme import machine

    labels = [c.strip() for c in args.cases.split(";") if c.strip()]
    unknown = [c for c in labels if c not in CASES]
    if unknown or DEFAULT not in labels:
        print(f"error: cases must include {DEFAULT!r} and be among: {'; '.join(CASES)} (got {unknown})", file=sys.stderr)
        return 2
    metric = "val/loss" if args.experiment in ("gpt", "llama") else "val/acc1"
    results = {"experiment": args.experiment, "steps": args.steps, "metric": metric,
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(torch.device("cpu")),
               "cases": {}}
    out = Path(args.out or Path("results/bench") / results["machine"]["cpu_capability"])
    with tempfile.TemporaryDirectory(prefix="dyt-throughput-") as tmp:
        for i, label in enumerate(labels):
            print(f"[{i + 1}/{len(labels)}] {label} ...", flush=True)
            jobs, extra = CASES[label]
            results["cases"][label] = run_case(args.experiment, args.steps, jobs, extra, Path(tmp) / str(i), metric)
            print(f"    {results['cases'][label]['wall_s']:.0f} s for both runs", flush=True)
    if not args.no_hardware:
        results["hardware"] = hardware_level(args.experiment, args.reps, budget_s=60)
    out.mkdir(parents=True, exist_ok=True)
    (out / "throughput.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "throughput.md").write_text(markdown(results))
    print(markdown(results))
    print(f"wrote {out / 'throughput.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
