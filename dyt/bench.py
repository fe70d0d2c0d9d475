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
- **trainer**: steps/s of ``dyt.trainer.fit`` (its data pipeline, logging and
  bookkeeping included; eval and checkpoints excluded as fit excludes them) against a
  bare loop of forward/backward/step over the same model and one fixed batch.

Writes ``results.json``, ``README.md`` (tables, goals, machine, how to rerun) and
``op_time_vs_C.png`` to ``--out`` (default ``results/bench``). ``--smoke`` runs tiny
shapes in seconds (the test suite's check); ``--device cuda`` measures bf16 on a GPU.
A soft time budget (``--budget-s``, default 480) trims repetitions and trainer steps so
that ``make bench`` stays within 10 minutes on 2 idle CPU cores (compiles come on top; a
busy machine takes longer).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from dyt import fused_cpu
from dyt.config import compose
from dyt.fused import dyt_fused
from dyt.layers import DyT, DyT2d

CHANNELS = (192, 384, 768, 1024, 4096)
TOKENS = 8192
NCHW = (32, 192, 28, 28)  # a ConvNeXt stage-2 sized activation
SMOKE_CHANNELS, SMOKE_TOKENS, SMOKE_NCHW = (16, 48), 64, (2, 8, 4, 4)
GOAL_MIN_C = 384
OPS = ("copy", "LayerNorm", "LayerNorm compiled", "RMSNorm", "DyT reference", "DyT reference compiled",
       "DyT fused", "DyT fused compiled")
COMPILED_OPS = tuple(name for name in OPS if name.endswith("compiled"))


# ---------------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------------


class Clock:
    """Wall time with device sync; a soft deadline that trims repetitions."""

    def __init__(self, device: torch.device, budget_s: float) -> None:
        self.device = device
        self.start = time.monotonic()
        self.deadline = self.start + budget_s

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def left(self) -> float:
        return self.deadline - time.monotonic()


def keep_freed_memory() -> bool:
    """Ask glibc malloc to keep freed memory (no mmap, no trimming): after warm-up every output reuses
    pages already mapped, so times measure the ops rather than page faults, which on a busy machine
    vary by 10x from call to call (every implementation allocates its outputs alike)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_mmap_max, m_trim_threshold = -4, -1
        return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))
    except (OSError, AttributeError):
        return False


def measure(fns: dict[str, Callable[[], object]], clock: Clock, *, reps: int, min_rep_s: float = 0.02,
            share_s: float | None = None, min_reps: int = 3) -> dict[str, dict]:
    """Seconds per call of each fn: warm up, then ``reps`` rounds in which each fn runs ``k`` calls
    (``k`` makes a round last ``min_rep_s``), in an order rotated every round. Stops after
    ``min_reps`` rounds once ``share_s`` seconds (or the clock's deadline) have passed."""
    names = list(fns)
    inner = {}
    for name in names:
        fns[name]()  # first call: compiles, allocates
        clock.sync()
        t = time.perf_counter()
        fns[name]()
        clock.sync()
        inner[name] = max(1, math.ceil(min_rep_s / max(time.perf_counter() - t, 1e-6)))
    times: dict[str, list[float]] = {name: [] for name in names}
    end = time.monotonic() + share_s if share_s is not None else float("inf")
    for rep in range(reps):
        if rep >= min_reps and (time.monotonic() > end or clock.left() < 0):
            break
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            fn, k = fns[name], inner[name]
            clock.sync()
            t = time.perf_counter()
            for _ in range(k):
                fn()
            clock.sync()
            times[name].append((time.perf_counter() - t) / k)
    return {name: summarize(ts, inner[name]) for name, ts in times.items()}


def summarize(ts: list[float], k: int = 1) -> dict:
    ts = sorted(ts)
    q = statistics.quantiles(ts, n=4) if len(ts) >= 2 else [ts[0]] * 3
    return {"median_ms": 1e3 * statistics.median(ts), "q1_ms": 1e3 * q[0], "q3_ms": 1e3 * q[2],
            "min_ms": 1e3 * ts[0], "reps": len(ts), "calls_per_rep": k}


# ---------------------------------------------------------------------------------------------
# op level
# ---------------------------------------------------------------------------------------------


def _dyt_reference(x, alpha, weight, bias, channels_first: bool):
    if channels_first:
        shape = (-1,) + (1,) * (x.dim() - 2)
        weight, bias = weight.view(shape), bias.view(shape)
    return weight * torch.tanh(alpha * x) + bias


def _dyt_fused_fn(x, alpha, weight, bias, channels_first: bool):
    return dyt_fused(x, alpha, weight, bias, channels_first=channels_first)


def _layer_norm(x, weight, bias, channels_first: bool):
    if channels_first:
        return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), weight, bias, 1e-6).permute(0, 3, 1, 2)
    return F.layer_norm(x, (x.shape[-1],), weight, bias, 1e-6)


_compiled: dict = {}


def _compiled_fn(fn):
    """One ``torch.compile`` per function, dynamic shapes: one compile serves every C."""
    if fn not in _compiled:
        _compiled[fn] = torch.compile(fn, dynamic=True)
    return _compiled[fn]


def op_impls(shape: tuple[int, ...], channels_first: bool, device, dtype, compile_ops: bool):
    """``{name: (params, fn(x) -> y)}`` for one input shape."""
    channels = shape[1] if channels_first else shape[-1]
    factory = {"device": device, "dtype": dtype}
    if channels_first:
        from timm.layers import LayerNorm2d, RmsNorm2d

        ln, rms, dyt_ref, dyt = LayerNorm2d(channels, **factory), RmsNorm2d(channels, **factory), \
            DyT2d(channels, fused=False, **factory), DyT2d(channels, **factory)
    else:
        ln, rms = nn.LayerNorm(channels, eps=1e-6, **factory), nn.RMSNorm(channels, eps=1e-6, **factory)
        dyt_ref, dyt = DyT(channels, fused=False, **factory), DyT(channels, **factory)
    impls = {
        "LayerNorm": (list(ln.parameters()), ln),
        "RMSNorm": (list(rms.parameters()), rms),
        "DyT reference": (list(dyt_ref.parameters()), dyt_ref),
        "DyT fused": (list(dyt.parameters()), dyt),
    }
    if compile_ops:
        ln_c, ref_c, fused_c = (_compiled_fn(f) for f in (_layer_norm, _dyt_reference, _dyt_fused_fn))
        impls["LayerNorm compiled"] = (list(ln.parameters()), lambda x: ln_c(x, ln.weight, ln.bias, channels_first))
        impls["DyT reference compiled"] = (list(dyt_ref.parameters()),
                                           lambda x: ref_c(x, dyt_ref.alpha, dyt_ref.weight, dyt_ref.bias, channels_first))
        impls["DyT fused compiled"] = (list(dyt.parameters()),
                                       lambda x: fused_c(x, dyt.alpha, dyt.weight, dyt.bias, channels_first))
    return {name: impls[name] for name in OPS if name in impls}


def op_level(shapes, device, dtype, clock: Clock, reps: int, compile_ops: bool, share_s: float, say) -> list[dict]:
    rows = []
    for shape, channels_first in shapes:
        torch.manual_seed(0)
        x = torch.randn(shape, device=device, dtype=dtype)
        g = torch.randn(shape, device=device, dtype=dtype)
        xg = x.detach().clone().requires_grad_()
        impls = op_impls(shape, channels_first, device, dtype, compile_ops)

        def forward(fn):
            def call():
                with torch.no_grad():
                    return fn(x)
            return call

        def forward_backward(fn, params):
            def call():
                return torch.autograd.grad(fn(xg), [xg, *params], g)
            return call

        fwd = {"copy": lambda: x.clone(), **{name: forward(fn) for name, (params, fn) in impls.items()}}
        fwdbwd = {"copy": lambda: (x.clone(), g + x),
                  **{name: forward_backward(fn, params) for name, (params, fn) in impls.items()}}
        label = f"{'N,C,H,W' if channels_first else 'tokens,C'}={'x'.join(map(str, shape))}"
        for mode, fns in (("fwd", fwd), ("fwd+bwd", fwdbwd)):
            stats = measure(fns, clock, reps=reps, share_s=share_s / 2)
            row = {"shape": list(shape), "channels_first": channels_first, "C": shape[1] if channels_first else shape[-1],
                   "numel": x.numel(), "bytes_per_element": x.element_size(), "mode": mode, "label": label,
                   "results": stats}
            rows.append(row)
            say(f"op {label} {mode}: " + "  ".join(f"{name} {s['median_ms']:.2f}" for name, s in stats.items()) + " ms")
    return rows


# ---------------------------------------------------------------------------------------------
# model and trainer level
# ---------------------------------------------------------------------------------------------


def synthetic_batch(cfg, device, vocab: int = 65):
    batch = cfg.data.batch_size
    if cfg.model.family == "gpt":
        block = cfg.data.block_size
        return (torch.randint(0, vocab, (batch, block), device=device),
                torch.randint(0, vocab, (batch, block), device=device))
    size, channels = cfg.data.image_size, cfg.data.channels
    return (torch.randn(batch, channels, size, size, device=device),
            torch.randint(0, cfg.data.num_classes, (batch,), device=device))


def train_step(experiment: str, device, *, norm: str, compiled: bool, fused: bool = True, extra=(), vocab: int = 65):
    from dyt.models import build_model
    from dyt.optim import build_optimizer, peak_lr
    from dyt.trainer import autocast_for, loss_fn

    cfg = compose(f"experiment={experiment}", f"norm={norm}", "logger=none", f"norm.fused={str(fused).lower()}", *extra)
    torch.manual_seed(0)
    model = build_model(cfg, vocab if cfg.model.family == "gpt" else None).to(device).train()
    optimizer = build_optimizer(model, cfg.optim, peak_lr(cfg.optim, cfg.data.batch_size))
    autocast, _ = autocast_for(device, cfg.trainer.precision)
    run = torch.compile(model) if compiled else model
    x, y = synthetic_batch(cfg, device, vocab)

    def step():
        with autocast():
            logits = run(x)
        loss = loss_fn(logits, y, cfg.trainer.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


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


class _ListLogger:
    """The slice of RunLogger that fit uses, keeping rows in memory."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def resume(self, step: int) -> None:
        pass

    def log(self, row: dict) -> None:
        self.rows.append(dict(row))

    def summary(self, values: dict) -> None:
        pass


def trainer_steps(results: dict, experiment: str, seconds: float, window: int = 5) -> tuple[int, int]:
    """Steps for fit and for the bare loop to fit ``seconds`` together (15 to 250, a multiple of ``window``),
    from the eager DyT step time of the model level (0.5 s if it did not run)."""
    step_s = next((r["results"]["median_ms"] / 1e3 for r in results.get("model", [])
                   if r["experiment"] == experiment and r["norm"] == "dyt" and r["mode"] == "eager"), 0.5)
    steps = int(seconds / (3 * step_s))  # fit, the bare loop around it, building data and the final eval
    return max(3 * window, min(250, steps // window * window)), window


def trainer_level(experiments, device, steps: int, window: int, smoke_overrides, say) -> list[dict]:
    """fit's steps/s (logged windows after the first) vs a bare loop's, same model, one fixed batch."""
    from dyt.data import DataError, build_data
    from dyt.models import build_model
    from dyt.optim import build_optimizer, build_scheduler, peak_lr
    from dyt.trainer import autocast_for, clip_gradients, fit, loss_fn

    rows = []
    for exp in experiments:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = compose(f"experiment={exp}", "norm=dyt", "logger=none", f"out_dir={tmp}", f"trainer.max_steps={steps}",
                          "trainer.eval_every=0", "trainer.ckpt_every=0", f"trainer.log_every={window}",
                          "trainer.progress=false", f"trainer.device={device.type}", "data.val_limit=1024",
                          *smoke_overrides)
            torch.manual_seed(cfg.seed)
            try:
                data = build_data(cfg)
            except (DataError, OSError) as err:
                say(f"trainer {exp}: skipped, no data ({err}); run `make data data-text`")
                rows.append({"experiment": exp, "skipped": f"no data: {err}"})
                continue

            def bare_loop(windows: int) -> list[float]:
                """Steps/s of ``windows`` windows of a bare loop (a fresh model and optimizer, one batch)."""
                torch.manual_seed(cfg.seed)
                model = build_model(cfg, data.num_classes).to(device).train()
                optimizer = build_optimizer(model, cfg.optim, peak_lr(cfg.optim, cfg.data.batch_size))
                scheduler = build_scheduler(optimizer, cfg.optim, steps)
                autocast, _ = autocast_for(device, cfg.trainer.precision)
                x, y = next(data.train.batches(0))
                x, y = x.to(device), y.to(device)
                rates = []
                for _ in range(windows):
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                    t = time.perf_counter()
                    for _ in range(window):
                        with autocast():
                            logits = model(x)
                        loss = loss_fn(logits, y, cfg.trainer.label_smoothing)
                        optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        clip_gradients(model, cfg.trainer)
                        optimizer.step()
                        scheduler.step()
                    float(loss.detach())  # one sync per window, as fit logs once per window
                    rates.append(window / (time.perf_counter() - t))
                return rates[1:] or rates  # the first window holds the warm-up

            # the bare loop runs half before and half after fit, so that a drifting load hits both alike
            half = max(2, steps // window // 2 + 1)
            bare = bare_loop(half)
            model = build_model(cfg, data.num_classes)
            logger = _ListLogger()
            fit(cfg, model, data, logger, Path(tmp))
            windows = [r["throughput"] / cfg.data.batch_size for r in logger.rows if "throughput" in r]
            fit_windows = windows[1:] or windows  # the first window holds the warm-up
            bare += bare_loop(half)
        row = {"experiment": exp, "steps": steps, "window": window, "trainer_steps_per_s": statistics.median(fit_windows),
               "bare_steps_per_s": statistics.median(bare), "trainer_windows": fit_windows, "bare_windows": bare}
        row["ratio"] = row["trainer_steps_per_s"] / row["bare_steps_per_s"]
        rows.append(row)
        say(f"trainer {exp}: fit {row['trainer_steps_per_s']:.2f} steps/s, bare {row['bare_steps_per_s']:.2f} "
            f"steps/s, ratio {row['ratio']:.3f}")
    return rows


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def machine(device: torch.device) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "fused_cpu_kernels": fused_cpu.info() if device.type == "cpu" else None,
            "load_average_start": os.getloadavg() if hasattr(os, "getloadavg") else None}
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages * page / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    try:
        from dyt.provenance import code_state

        info["git_sha"], info["git_dirty"] = code_state()
    except Exception:  # provenance is a nicety here
        pass
    return info


def _num(v: float) -> str:
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def _fmt_ms(s: dict) -> str:
    return f"{_num(s['median_ms'])} ± {_num((s['q3_ms'] - s['q1_ms']) / 2)}"


def _ratio(rows_results: dict, name: str, base: str, stat: str = "median_ms") -> float | None:
    if name not in rows_results or base not in rows_results:
        return None
    return rows_results[name][stat] / rows_results[base][stat]


def goals(results: dict) -> list[tuple[str, str, bool]]:
    """(goal, measured, met) rows, for what was measured."""
    out = []
    ops = [r for r in results.get("op", []) if not r["channels_first"] and r["C"] >= GOAL_MIN_C]
    for mode in ("fwd", "fwd+bwd"):
        sel = [r for r in ops if r["mode"] == mode]
        if not sel:
            continue
        for base, limit in (("LayerNorm", 1.0), ("copy", 1.5)):
            ratios = [_ratio(r["results"], "DyT fused", base) for r in sel]
            best = [_ratio(r["results"], "DyT fused", base, "min_ms") for r in sel]
            measured = ", ".join(f"C={r['C']}: {v:.2f}x ({b:.2f}x)" for r, v, b in zip(sel, ratios, best))
            what = "LayerNorm" if base == "LayerNorm" else "the copy floor"
            out.append((f"DyT fused {mode} <= {limit:.1f}x {what} at every C >= {GOAL_MIN_C}", measured,
                        max(ratios) <= limit))
    for mode in ("eager", "compiled"):
        for exp in sorted({r["experiment"] for r in results.get("model", [])}):
            by = {r["norm"]: r["results"] for r in results["model"] if r["experiment"] == exp and r["mode"] == mode}
            if "ln" in by and "dyt" in by:
                ratio = by["dyt"]["median_ms"] / by["ln"]["median_ms"]
                out.append((f"{exp} training step with DyT <= 1.0x LN ({mode})", f"{ratio:.2f}x", ratio <= 1.0))
    for r in results.get("trainer", []):
        if "ratio" in r:
            out.append((f"trainer >= 0.95x the bare loop ({r['experiment']})", f"{r['ratio']:.3f}x", r["ratio"] >= 0.95))
    return out


def plot(results: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = [r for r in results.get("op", []) if not r["channels_first"]]
    modes = [m for m in ("fwd", "fwd+bwd") if any(r["mode"] == m for r in rows)]
    if not modes:
        return False
    fig, axes = plt.subplots(1, len(modes), figsize=(6.5 * len(modes), 4.8), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        sel = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["C"])
        for name in OPS:
            pts = [(r["C"], r["results"][name]["median_ms"]) for r in sel if name in r["results"]]
            if not pts:
                continue
            style = dict(linestyle="--", color="black", linewidth=1.5) if name == "copy" else dict(marker="o", markersize=4)
            ax.plot(*zip(*pts), label=name + (" (floor)" if name == "copy" else ""), **style)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks([r["C"] for r in sel], [str(r["C"]) for r in sel])
        ax.set_xlabel(f"channels C ({sel[0]['shape'][0]} tokens)")
        ax.set_ylabel("time per call (ms, median)")
        ax.set_title(mode)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"DyT vs LayerNorm/RMSNorm vs copy, {results['device']} {results['dtype']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def readme(results: dict, png: str | None) -> str:
    m = results["machine"]
    lines = ["# DyT speed: ops, models, trainer", "",
             f"Generated by `{results['command']}` on {results['date']} in {results['wall_s']:.0f} s "
             f"({'smoke run, tiny shapes: not a measurement' if results['smoke'] else 'full run'}).", "",
             "Every number is a median over repetitions taken in turn with the baselines of the same "
             "table (± half the interquartile range); ratios compare medians of the same run.", "",
             *(_busy_warning(m)), "## Machine", "",
             f"- CPU: {m['cpu']}, {m['cpu_count']} cores, torch threads {m['torch_threads']}, "
             f"ISA {m['cpu_capability']}, memory {m.get('memory_gib', '?')} GiB",
             f"- device {results['device']}, dtype {results['dtype']}" + (f", GPU {m['gpu']}" if m.get("gpu") else ""),
             f"- torch {m['torch']}, python {m['python']}, {m['platform']}",
             f"- git {m.get('git_sha') or '?'}{' (dirty)' if m.get('git_dirty') else ''}",
             f"- load average (1, 5, 15 min) at start / end: {_load(m.get('load_average_start'))} / "
             f"{_load(m.get('load_average_end'))}" + (" (above the core count: other processes shared the CPU)"
                                                      if _busy_warning(m) else ""),
             f"- glibc malloc {'kept freed memory (no page faults after warm-up; `--system-malloc` to measure them)' if results.get('malloc_keeps_freed_memory') else 'as configured by the system'}"]
    if m.get("fused_cpu_kernels"):
        k = m["fused_cpu_kernels"]
        lines.append(f"- fused CPU kernels: {k.get('flags') or 'unavailable: ' + str(k.get('error'))}"
                     + (", OpenMP" if k.get("openmp") else ""))
    lines += ["", "## Goals", "", "Ratios of medians; op level in parentheses: the ratio of the fastest repetitions "
              "(less sensitive to other processes).", "", "| goal | measured | met |", "| --- | --- | --- |"]
    for goal, measured, met in goals(results):
        lines.append(f"| {goal} | {measured} | {'yes' if met else 'no'} |")
    if results.get("op"):
        lines += ["", "## Op level", "",
                  "Floor (`copy`): forward `x.clone()`; forward+backward `x.clone()` and `g + x` (what any "
                  "elementwise layer moves: read x, write y; read g and x, write dx). `compiled`: "
                  "`torch.compile(dynamic=True)` of the functional form. `DyT fused`: the default `DyT` "
                  "(dyt/fused.py).", ""]
        if png:
            lines += [f"![time vs C]({png})", ""]
        for mode in ("fwd", "fwd+bwd"):
            sel = [r for r in results["op"] if r["mode"] == mode]
            if not sel:
                continue
            names = [n for n in OPS if n in sel[0]["results"]]
            lines += [f"### {mode}: time (ms)", "", "| shape | " + " | ".join(names) + " |",
                      "| --- |" + " ---: |" * len(names)]
            for r in sel:
                lines.append(f"| {r['label']} | " + " | ".join(_fmt_ms(r["results"][n]) for n in names) + " |")
            lines += ["", f"### {mode}: ratio to LayerNorm (to the copy floor)", "",
                      "| shape | " + " | ".join(n for n in names if n != "LayerNorm") + " |",
                      "| --- |" + " ---: |" * (len(names) - 1)]
            for r in sel:
                cells = [f"{_ratio(r['results'], n, 'LayerNorm'):.2f} ({_ratio(r['results'], n, 'copy'):.2f})"
                         for n in names if n != "LayerNorm"]
                lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
            lines.append("")
    if results.get("model"):
        lines += ["## Model level: one training step (forward, loss, backward, AdamW)", "",
                  "Synthetic batches of the experiment's shape; `dyt reference` is `norm.fused=false`.", "",
                  "| experiment | mode | LN (ms) | DyT (ms) | DyT reference (ms) | DyT / LN | DyT reference / LN |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for exp in sorted({r["experiment"] for r in results["model"]}):
            for mode in ("eager", "compiled"):
                by = {r["norm"]: r["results"] for r in results["model"] if r["experiment"] == exp and r["mode"] == mode}
                if not by:
                    continue
                ln, dy, ref = by.get("ln"), by.get("dyt"), by.get("dyt reference")
                cell = lambda s: _fmt_ms(s) if s else "-"  # noqa: E731
                ratio = lambda s: f"{s['median_ms'] / ln['median_ms']:.2f}" if s and ln else "-"  # noqa: E731
                lines.append(f"| {exp} | {mode} | {cell(ln)} | {cell(dy)} | {cell(ref)} | {ratio(dy)} | {ratio(ref)} |")
        lines.append("")
    if results.get("trainer"):
        lines += ["## Trainer level: `dyt.trainer.fit` vs a bare loop", "",
                  "fit with its data pipeline, logging and bookkeeping (eval and checkpoints excluded, as fit "
                  "excludes them from its throughput), windows after the first; the bare loop repeats one "
                  "batch. DyT, eager.", "",
                  "| experiment | fit (steps/s) | bare loop (steps/s) | fit / bare |", "| --- | ---: | ---: | ---: |"]
        for r in results["trainer"]:
            if "ratio" in r:
                lines.append(f"| {r['experiment']} | {r['trainer_steps_per_s']:.2f} | {r['bare_steps_per_s']:.2f} | "
                             f"{r['ratio']:.3f} |")
            else:
                lines.append(f"| {r['experiment']} | {r['skipped']} | | |")
        lines.append("")
    lines += ["## Why, where a goal is not met", "",
              "Measured explanations (tanh's arithmetic in cache, the memory-bound backward) and what was tried: "
              "[`experiments/speed/README.md`](../../experiments/speed/README.md).", "",
              "## Rerun", "", "```", f"make bench                          # this file: {results['wall_s'] / 60:.1f} min in this run",
              "python -m dyt.bench --smoke --out /tmp/bench   # seconds, tiny shapes",
              "python -m dyt.bench --device cuda --out results/bench-cuda   # bf16 on a GPU",
              "```", "", "Raw numbers: `results.json`.", ""]
    return "\n".join(lines)


def _busy_warning(m: dict) -> list[str]:
    loads = [v for v in (m.get("load_average_start"), m.get("load_average_end")) if v]
    if not loads or max(v[0] for v in loads) <= (m.get("cpu_count") or 1):
        return []
    return [f"**The machine was busy** (1-minute load average up to {max(v[0] for v in loads):.1f} on "
            f"{m['cpu_count']} cores): other processes took CPU time in turns with this bench, which hits "
            "compute-bound and multi-threaded work hardest; treat the ratios as rough and rerun on an idle "
            "machine.", ""]


def _load(value) -> str:
    return "?" if not value else " ".join(f"{v:.1f}" for v in value)


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m dyt.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="results/bench", help="output folder (default results/bench)")
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
    out = Path(args.out)
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
    return results


if __name__ == "__main__":
    main()
