"""The one training loop every experiment uses: ``fit(spec, model, data, logger, run_dir)``.

Read top to bottom: ``prepare`` (device, precision, optimizer, schedule, EMA, the step), ``restore`` (from
the run dir's ``last.pt``), ``train`` (the loop: step, logging window, eval and checkpoint boundaries,
divergence and stop signals), then ``summarize`` into ``summary.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn
from tqdm import tqdm

from dyt.run.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from dyt.run.data.chance import collapsed
from dyt.run.data.stepwise import Stepwise
from dyt.run.dist import DistInfo, any_rank, mean_over_ranks
from dyt.run.optim import build_optimizer, build_scheduler, peak_lr
from dyt.run.provenance import provenance
from dyt.run.trainer.diagnostics import Diagnostics, dyt_alphas
from dyt.run.trainer.evaluate import evaluate
from dyt.run.trainer.signals import StopSignals
from dyt.run.trainer.step import TrainStep, autocast_for, resolve_device, total_steps
from dyt.run.trainer.window import LogWindow

if TYPE_CHECKING:
    from dyt.run.log import MetricsLogger
    from dyt.run.rundir import RunDir
    from dyt.run.spec import RunSpec

DIVERGENCE_FACTOR = 100.0  # a loss above this many times the first logged loss counts as diverged


@dataclass
class Training:
    """What the loop needs, built once by ``prepare``."""

    model: nn.Module
    step: TrainStep
    device: torch.device
    autocast: object
    precision: str
    max_steps: int
    batch_size: int  # global: every rank takes its slice
    lr: float


@dataclass
class Progress:
    """Where the run is; a checkpoint keeps all of it."""

    step: int = 0
    first_loss: float | None = None
    train_seconds: float = 0.0
    last_train_loss: float | None = None
    window: LogWindow = field(default_factory=LogWindow)


def prepare(spec: "RunSpec", model: nn.Module, data, dist: DistInfo) -> Training:
    tcfg = spec.trainer
    device = resolve_device(tcfg.device)
    autocast, precision = autocast_for(device, tcfg.precision)
    model.to(device)
    max_steps = total_steps(tcfg, data.train.steps_per_epoch)
    batch_size = spec.data.batch_size * dist.world_size
    lr = peak_lr(spec.optim, batch_size)
    optimizer = build_optimizer(model, spec.optim, lr)
    scheduler = build_scheduler(optimizer, spec.optim, max_steps)
    ema = None
    if tcfg.ema_decay > 0:
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(model, decay=tcfg.ema_decay, device=device)
    train_model = model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(model, device_ids=[device.index or 0] if device.type == "cuda" else None)
    train_model = torch.compile(train_model) if tcfg.compile else train_model
    step = TrainStep(model, optimizer, scheduler, tcfg, autocast, train_model=train_model, ema=ema, mixup=data.mixup)
    return Training(model, step, device, autocast, precision, max_steps, batch_size, lr)


def restore(t: Training, run_dir: "RunDir", data) -> Progress:
    """The progress of the run dir's checkpoint (model, optimizer, schedule, EMA, RNGs, data position), or a fresh start."""
    ckpt = load_checkpoint(run_dir.checkpoint)
    if ckpt is None:
        return Progress()
    t.model.load_state_dict(ckpt["model"])
    t.step.optimizer.load_state_dict(ckpt["optimizer"])
    t.step.scheduler.load_state_dict(ckpt["scheduler"])
    if t.step.ema is not None and ckpt.get("ema") is not None:
        t.step.ema.load_state_dict(ckpt["ema"])
    set_rng_state(ckpt["rng"])
    if ckpt.get("data") is not None:
        data.train.load_state_dict(ckpt["data"])  # streams: where in the corpus we were
    return Progress(ckpt["step"], ckpt.get("first_loss"), ckpt.get("train_seconds", 0.0),
                    window=LogWindow(ckpt.get("window", (0.0, 0, 0.0))))


def checkpoint(t: Training, p: Progress, data, run_dir: "RunDir", dist: DistInfo) -> None:
    if not dist.is_main:
        return
    ema = t.step.ema
    save_checkpoint(run_dir.checkpoint, {
        "step": p.step, "model": t.model.state_dict(), "optimizer": t.step.optimizer.state_dict(),
        "scheduler": t.step.scheduler.state_dict(), "ema": ema.state_dict() if ema is not None else None,
        "rng": rng_state(), "first_loss": p.first_loss, "train_seconds": p.train_seconds, "window": p.window.state(),
        "data": data.train.state_dict() if hasattr(data.train, "state_dict") else None,
    })


def log_row(t: Training, p: Progress, grad_norm, diagnostics: Diagnostics | None, data, dist: DistInfo) -> dict:
    """Close the logging window into one row: train loss (averaged over ranks), lr, throughput, DyT internals
    (``dyt.run.trainer.diagnostics``: every key is one of its ``LOGGED`` or ``PER_LAYER``)."""
    loss, n, seconds = p.window.close()
    p.last_train_loss = mean_over_ranks(loss, dist, t.device)
    p.first_loss = p.last_train_loss if p.first_loss is None else p.first_loss
    p.train_seconds += seconds
    row = {"step": p.step, "epoch": p.step / data.train.steps_per_epoch, "train/loss": p.last_train_loss,
           "lr": t.step.optimizer.param_groups[0]["lr"], "throughput": n * t.batch_size / seconds}
    if grad_norm is not None:
        row["grad_norm"] = float(grad_norm)
    row.update(dyt_alphas(t.model))
    row.update(diagnostics.collect() if diagnostics is not None else {})
    return row


def diverged(loss: float, first: float) -> bool:
    return not math.isfinite(loss) or loss > DIVERGENCE_FACTOR * max(first, 1e-3)


def validate(t: Training, spec: "RunSpec", data) -> dict[str, float]:
    out = evaluate(t.model, data.val.eval_batches(spec.data.val_limit), t.device, t.autocast)
    if t.step.ema is not None:
        ema = evaluate(t.step.ema.module, data.val.eval_batches(spec.data.val_limit), t.device, t.autocast)
        out.update({k.replace("val/", "val_ema/"): v for k, v in ema.items()})
    return out


def fit_eval(t: Training, spec: "RunSpec", data) -> dict[str, float]:
    """Loss and accuracy on the first training samples (as many as validation uses), in eval mode: with
    ``val/`` the run's train-val gap. In-RAM data only (a stream's training view is augmented or endless)."""
    if not isinstance(data.train, Stepwise):
        return {}
    limit = spec.data.val_limit or len(data.val)
    out = evaluate(t.model, data.train.eval_batches(limit), t.device, t.autocast)
    return {k.replace("val/", "train_eval/"): v for k, v in out.items()}


def train(spec: "RunSpec", t: Training, p: Progress, data, logger: "MetricsLogger", run_dir: "RunDir",
          dist: DistInfo) -> tuple[str, dict]:
    """The loop, from ``p.step`` to the budget; returns the status and the last evaluation."""
    tcfg = spec.trainer
    every = lambda n, step: bool(n) and step % n == 0  # noqa: E731
    batches, stop = data.train.batches(start_step=p.step), StopSignals()
    diagnostics = Diagnostics(t.model) if tcfg.diagnostics and not tcfg.compile else None
    bar = tqdm(total=t.max_steps, initial=p.step, desc=f"{spec.experiment} {spec.arm} s{spec.seed}", unit="step",
               disable=not (tcfg.progress and dist.is_main), dynamic_ncols=True, mininterval=1.0)
    say = bar.write if dist.is_main else (lambda message: None)
    status, last_eval = "completed", {}
    try:
        while p.step < t.max_steps:
            x, y = next(batches)
            log_now = every(tcfg.log_every, p.step + 1) or p.step + 1 == t.max_steps  # this step ends a window
            if diagnostics is not None and log_now:
                diagnostics.watch()  # DyT layers' input std and saturation, the blocks' stream std, in this forward
            loss, grad_norm = t.step(x.to(t.device, non_blocking=True), y.to(t.device, non_blocking=True), p.step)
            p.step += 1
            p.window.add(loss)
            bar.update(1)
            last, row = p.step == t.max_steps, {}
            if log_now:
                row = log_row(t, p, grad_norm, diagnostics, data, dist)
                bar.set_postfix(loss=f"{p.last_train_loss:.4f}", samples_s=f"{row['throughput']:.0f}")
                if diverged(p.last_train_loss, p.first_loss):  # keep the last good checkpoint; exit 0: sweeps go on
                    logger.log(row)
                    say(f"step {p.step}: train/loss {p.last_train_loss} diverged; stopping this run")
                    return "diverged", last_eval
            step_end = p.window.step_end
            if every(tcfg.eval_every, p.step) or last:
                last_eval = validate(t, spec, data)
                if last:
                    last_eval.update(fit_eval(t, spec, data))
                row.update({"step": p.step, **last_eval})
                say(f"step {p.step}/{t.max_steps}  " + "  ".join(f"{k} {v:.4f}" for k, v in last_eval.items()))
            if row:
                logger.log(row)
            stopping = any_rank(stop.received is not None, dist, t.device)  # every rank stops at the same step
            if every(tcfg.ckpt_every, p.step) or last or stopping:
                checkpoint(t, p, data, run_dir, dist)
            if stopping and not last:  # checkpointed at this step boundary; the same command resumes
                say(f"step {p.step}: {stop.received or 'a stop signal'} received, checkpointed; rerun to resume")
                return "interrupted", last_eval
            p.window.pause_since(step_end)  # eval and checkpoints do not count as training time
    finally:
        bar.close()
        stop.restore()
    if not last_eval:  # resumed from a checkpoint at the very end
        last_eval = {**validate(t, spec, data), **fit_eval(t, spec, data)}
    return status, last_eval


def summarize(t: Training, p: Progress, data, status: str, last_eval: dict, notes: dict) -> dict:
    tokens = p.step * t.batch_size * data.tokens_per_sample if data.tokens_per_sample else None
    summary = {
        "status": status, "step": p.step, "max_steps": t.max_steps, "epochs": p.step / data.train.steps_per_epoch,
        "final/train_loss": p.last_train_loss, **{f"final/{k}": v for k, v in last_eval.items()},
        "train_seconds": p.train_seconds,
        "samples_per_second": p.step * t.batch_size / p.train_seconds if p.train_seconds > 0 else None,
        "tokens_seen": tokens,
        "tokens_per_second": tokens / p.train_seconds if tokens and p.train_seconds > 0 else None,
        **notes, "collapsed": collapsed({f"final/{k}": v for k, v in last_eval.items()}, notes.get("chance")),
        "peak_lr": t.lr, "precision": t.precision,
        "num_params": sum(q.numel() for q in t.model.parameters()), **provenance(t.device),
    }
    return {k: v for k, v in summary.items() if v is not None}


def fit(spec: "RunSpec", model: nn.Module, data, logger: "MetricsLogger", run_dir: "RunDir",
        dist: DistInfo = DistInfo(), notes: dict | None = None) -> dict:
    """Train ``model`` for the run of ``spec`` in ``run_dir`` (resuming from its checkpoint); returns the summary,
    which rank 0 writes to ``summary.json``. ``notes``: extra summary entries (alpha init note, calibration)."""
    t = prepare(spec, model, data, dist)
    p = restore(t, run_dir, data)
    logger.resume(p.step)
    model.train()
    status, last_eval = train(spec, t, p, data, logger, run_dir, dist)
    summary = summarize(t, p, data, status, last_eval, notes or {})
    if dist.is_main:
        run_dir.write_summary(summary)
        logger.summary(summary)
    return summary
