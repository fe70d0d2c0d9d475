"""Model and trainer level: the trainer's own ``TrainStep`` timed on the CPU defaults (LN vs DyT, eager and
compiled), and ``fit`` (data pipeline, logging, bookkeeping) against a bare loop of that same step."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from dyt.bench.timing import Clock, measure
from dyt.run.builders import build_model
from dyt.run.log import MemoryLogger
from dyt.run.optim import build_optimizer, build_scheduler, peak_lr
from dyt.run.rundir import RunDir
from dyt.run.schema import compose
from dyt.run.spec import build_spec
from dyt.run.trainer import TrainStep, autocast_for, fit


def synthetic_batch(cfg, device, vocab: int = 65):
    batch = cfg.data.batch_size
    if cfg.model.family == "gpt":
        block = cfg.data.block_size
        return (torch.randint(0, vocab, (batch, block), device=device),
                torch.randint(0, vocab, (batch, block), device=device))
    size, channels = cfg.data.image_size, cfg.data.channels
    return (torch.randn(batch, channels, size, size, device=device),
            torch.randint(0, cfg.data.num_classes, (batch,), device=device))


def make_step(spec, model, device, steps: int, compiled: bool = False) -> TrainStep:
    """The trainer's step for ``model`` (optimizer, schedule over ``steps``, clipping as the run does)."""
    model.to(device).train()
    optimizer = build_optimizer(model, spec.optim, peak_lr(spec.optim, spec.data.batch_size))
    autocast, _ = autocast_for(device, spec.trainer.precision)
    return TrainStep(model, optimizer, build_scheduler(optimizer, spec.optim, steps), spec.trainer, autocast,
                     train_model=torch.compile(model) if compiled else model)


def train_step(experiment: str, device, *, norm: str, compiled: bool, fused: bool = True, extra=(), vocab: int = 65):
    """A closure running one training step of ``experiment`` with ``norm`` on a fixed synthetic batch."""
    spec = build_spec(compose(f"experiment={experiment}", f"norm={norm}", "logger=none",
                              f"norm.fused={str(fused).lower()}", *extra))
    torch.manual_seed(0)
    model = build_model(spec, vocab if spec.model.family == "gpt" else None).model
    step = make_step(spec, model, device, steps=10**6, compiled=compiled)
    x, y = synthetic_batch(spec.cfg, device, vocab)
    return lambda: step(x, y)


def model_level(exp: str, device, clock: Clock, reps: int, compile_models: bool, share_s: float, smoke_overrides,
                say) -> list[dict]:
    variants = {("ln", "eager"): dict(norm="ln", compiled=False), ("dyt", "eager"): dict(norm="dyt", compiled=False),
                ("dyt reference", "eager"): dict(norm="dyt", compiled=False, fused=False)}
    if compile_models:
        variants[("ln", "compiled")] = dict(norm="ln", compiled=True)
        variants[("dyt", "compiled")] = dict(norm="dyt", compiled=True)
    fns = {}
    for key, kwargs in variants.items():
        t = time.perf_counter()
        fns[key] = train_step(exp, device, extra=smoke_overrides, **kwargs)
        fns[key]()  # compile here, so the time is reported apart from the steps
        say(f"model {exp} {key[0]} {key[1]}: first step {time.perf_counter() - t:.1f} s")
    stats = measure(fns, clock, reps=reps, min_rep_s=0.0, share_s=share_s)
    say(f"model {exp}: " + "  ".join(f"{n} {m} {s['median_ms']:.0f}" for (n, m), s in stats.items()) + " ms/step")
    return [{"experiment": exp, "norm": norm, "mode": mode, "results": s} for (norm, mode), s in stats.items()]


def trainer_steps(results: dict, experiment: str, seconds: float, window: int = 5) -> tuple[int, int]:
    """Steps for fit and for the bare loop to fit ``seconds`` together (15 to 250, a multiple of ``window``),
    from the eager DyT step time of the model level (0.5 s if it did not run)."""
    step_s = next((r["results"]["median_ms"] / 1e3 for r in results.get("model", [])
                   if r["experiment"] == experiment and r["norm"] == "dyt" and r["mode"] == "eager"), 0.5)
    steps = int(seconds / (3 * step_s))  # fit, the bare loop around it, building data and the final eval
    return max(3 * window, min(250, steps // window * window)), window


def bare_loop(spec, data, device, steps: int, window: int, windows: int) -> list[float]:
    """Steps/s of ``windows`` windows of the trainer's step in a bare loop (a fresh model, one fixed batch)."""
    torch.manual_seed(spec.seed)
    step = make_step(spec, build_model(spec, data.num_classes).model, device, steps)
    x, y = (t.to(device) for t in next(data.train.batches(0)))
    rates = []
    for _ in range(windows):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        for i in range(window):
            loss, _ = step(x, y, i)
        float(loss)  # one sync per window, as fit logs once per window
        rates.append(window / (time.perf_counter() - t))
    return rates[1:] or rates  # the first window holds the warm-up


def trainer_level(experiments, device, steps: int, window: int, smoke_overrides, say) -> list[dict]:
    """fit's steps/s (logged windows after the first) vs a bare loop's, same model, one fixed batch."""
    from dyt.run.data import build_data
    from dyt.run.errors import DataError

    rows = []
    for exp in experiments:
        with tempfile.TemporaryDirectory() as tmp:
            spec = build_spec(compose(
                f"experiment={exp}", "norm=dyt", "logger=none", f"out_dir={tmp}", f"trainer.max_steps={steps}",
                "trainer.eval_every=0", "trainer.ckpt_every=0", f"trainer.log_every={window}", "trainer.progress=false",
                f"trainer.device={device.type}", "data.val_limit=1024", *smoke_overrides))
            torch.manual_seed(spec.seed)
            try:
                data = build_data(spec.cfg)
            except (DataError, OSError) as err:
                say(f"trainer {exp}: skipped, no data ({err}); run `make data data-text`")
                rows.append({"experiment": exp, "skipped": f"no data: {err}"})
                continue
            # the bare loop runs half before and half after fit, so that a drifting load hits both alike
            half = max(2, steps // window // 2 + 1)
            bare = bare_loop(spec, data, device, steps, window, half)
            logger = MemoryLogger()
            fit(spec, build_model(spec, data.num_classes).model, data, logger, RunDir(Path(tmp)))
            windows = [r["throughput"] / spec.data.batch_size for r in logger.rows if "throughput" in r]
            fit_windows = windows[1:] or windows  # the first window holds the warm-up
            bare += bare_loop(spec, data, device, steps, window, half)
        row = {"experiment": exp, "steps": steps, "window": window, "trainer_steps_per_s": statistics.median(fit_windows),
               "bare_steps_per_s": statistics.median(bare), "trainer_windows": fit_windows, "bare_windows": bare}
        row["ratio"] = row["trainer_steps_per_s"] / row["bare_steps_per_s"]
        rows.append(row)
        say(f"trainer {exp}: fit {row['trainer_steps_per_s']:.2f} steps/s, bare {row['bare_steps_per_s']:.2f} "
            f"steps/s, ratio {row['ratio']:.3f}")
    return rows
