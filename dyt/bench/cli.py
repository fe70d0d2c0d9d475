"""``make bench`` / ``python -m dyt.bench``: DyT's speed against LayerNorm, RMSNorm and the copy floor.

Three levels, every number a ratio to a baseline measured in the same run (the
implementations take turns, rep by rep, so a busy machine slows them alike):

- **op**: one norm layer on ``tokens x C`` (C in 192 ... 4096) and on one channels-first
  ``(N, C, H, W)`` tensor, forward and forward+backward: DyT (reference formula eager
  and compiled, fused eager and compiled) vs ``nn.LayerNorm`` (eager, compiled),
  ``nn.RMSNorm`` and the copy floor. The floor is what any elementwise layer must move
  through memory: forward ``x.clone()`` (read x, write y); forward+backward adds
  ``g + x`` (read the upstream gradient and the saved input, write dx). Output tensors
  are allocated fresh in every case, as a layer allocates its output.
- **model**: a training step (forward, loss, backward, AdamW) of the ViT and GPT CPU
  defaults (``experiment=vit``, ``experiment=gpt``) with LN vs DyT, eager and compiled.
- **trainer**: steps/s of ``dyt.run.trainer.fit`` (its data pipeline, logging and
  bookkeeping included; eval and checkpoints excluded as fit excludes them) against a
  bare loop of forward/backward/step over the same model and one fixed batch.

Writes ``results.json``, ``README.md`` (tables, goals, machine, how to rerun) and
``op_time_vs_C.png`` to ``--out`` (default ``results/bench/<capability>``: ``AVX2``, ``AVX512`` as torch
reports this CPU, or ``cuda``; then ``results/bench/README.md`` lists every host's bench side by side). ``--smoke`` runs tiny
shapes in seconds (the test suite's check); ``--device cuda`` measures bf16 on a GPU.
A soft time budget (``--budget-s``, default 480) trims repetitions and trainer steps so
that ``make bench`` stays within 10 minutes on 2 idle CPU cores (compiles come on top; a
busy machine takes longer).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from dyt.bench.models import model_level, trainer_level, trainer_steps
from dyt.bench.ops import op_level
from dyt.bench.readme import goals, index, machine, plot, readme
from dyt.bench.timing import Clock, keep_freed_memory

BENCH_ROOT = Path("results/bench")
CHANNELS = (192, 384, 768, 1024, 4096)
TOKENS = 8192
NCHW = (32, 192, 28, 28)  # a ConvNeXt stage-2 sized activation
SMOKE_CHANNELS, SMOKE_TOKENS, SMOKE_NCHW = (16, 48), 64, (2, 8, 4, 4)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m dyt.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None,
                   help="output folder (default results/bench/<capability>, and the index results/bench/README.md)")
    p.add_argument("--device", default="cpu", help="cpu (fp32) or cuda (bf16)")
    p.add_argument("--smoke", action="store_true", help="tiny shapes, few repetitions: checks the bench runs")
    p.add_argument("--sections", default="op,model,trainer", help="comma list of op, model, trainer")
    p.add_argument("--no-compile", action="store_true", help="skip every torch.compile variant")
    p.add_argument("--reps", type=int, default=None, help="repetitions per measurement (default 31, smoke 3)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--system-malloc", action="store_true",
                   help="leave glibc malloc as it is (default: keep freed memory, see keep_freed_memory)")
    p.add_argument("--budget-s", type=float, default=480.0, help="soft time budget; repetitions are trimmed to fit")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.monotonic()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but torch sees no GPU")
    if args.threads:
        torch.set_num_threads(args.threads)
    kept = keep_freed_memory() if device.type == "cpu" and not args.system_malloc else False
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    reps = args.reps or (3 if args.smoke else 31)
    compile_on = not args.no_compile
    clock = Clock(device, args.budget_s)
    tag = str(torch.backends.cpu.get_cpu_capability()) if device.type == "cpu" else "cuda"
    out = Path(args.out) if args.out else BENCH_ROOT / tag
    out.mkdir(parents=True, exist_ok=True)

    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    if args.smoke:
        shapes = [((SMOKE_TOKENS, c), False) for c in SMOKE_CHANNELS] + [(SMOKE_NCHW, True)]
        smoke_overrides = ("data.batch_size=4", "model.kwargs.depth=1", "model.kwargs.embed_dim=24")
        gpt_overrides = ("data.batch_size=2", "data.block_size=16", "model.kwargs.n_layer=1", "model.kwargs.n_embd=32")
    else:
        shapes = [((TOKENS, c), False) for c in CHANNELS] + [(NCHW, True)]
        smoke_overrides = gpt_overrides = ()
    results = {"device": device.type, "dtype": str(dtype).replace("torch.", ""), "smoke": args.smoke,
               "command": " ".join(["python -m dyt.bench", *(argv if argv is not None else sys.argv[1:])]),
               "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(device),
               "malloc_keeps_freed_memory": kept}
    say(f"device {device} {dtype}, {torch.get_num_threads()} threads, sections {sorted(sections)}")
    # budget shares for repetitions: ops 35%, models 30% (compiles come on top), the trainer what is left
    if "op" in sections:
        results["op"] = op_level(shapes, device, dtype, clock, reps, compile_on,
                                 share_s=0.35 * args.budget_s / len(shapes), say=say)
    if "model" in sections:
        results["model"] = []
        for exp, overrides in (("vit", smoke_overrides), ("gpt", gpt_overrides)):
            results["model"] += model_level(exp, device, clock, reps, compile_on, 0.15 * args.budget_s, overrides, say)
    if "trainer" in sections:
        results["trainer"] = []
        for i, (exp, overrides) in enumerate((("vit", smoke_overrides), ("gpt", gpt_overrides))):
            steps, window = (6, 2) if args.smoke else trainer_steps(results, exp, clock.left() / (2 - i))
            results["trainer"] += trainer_level([exp], device, steps, window, overrides, say)
    results["machine"]["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    results["wall_s"] = time.monotonic() - started
    png = "op_time_vs_C.png" if plot(results, out / "op_time_vs_C.png") else None
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out / "README.md").write_text(readme(results, png))
    for goal, measured, met in goals(results):
        say(f"goal {'met    ' if met else 'NOT met'}: {goal}: {measured}")
    say(f"wrote {out}/README.md, results.json{', ' + png if png else ''}")
    if not args.out and not args.smoke:
        say(f"wrote {index(BENCH_ROOT)}")
    return results


if __name__ == "__main__":
    main()
