"""The one training loop every experiment uses: ``fit(cfg, model, data, logger, out_dir)``.

Read top to bottom: device and precision, optimizer and schedule, resume from
``last.pt``, then the loop (step, log, eval, checkpoint) with a divergence
check, then the final eval and ``summary.json``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from dyt.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from dyt.dist import DistInfo, any_rank, mean_over_ranks
from dyt.layers import dyt_layers
from dyt.optim import build_optimizer, build_scheduler, peak_lr
from dyt.provenance import provenance

CHECKPOINT = "last.pt"
SUMMARY = "summary.json"
DIVERGENCE_FACTOR = 100.0  # a loss above this many times the first step's loss counts as diverged


class StopSignals:
    """SIGTERM / SIGUSR1 (what schedulers send before pre-empting) ask the loop to checkpoint and stop
    at the next step boundary. Installed only in the main thread; ``restore()`` puts the old handlers back.

    Inside a submitit job nothing is installed: submitit ignores SIGTERM and requeues the job on its own
    signal (SIGUSR2), and the requeued job resumes exactly from the run dir's last checkpoint."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self) -> None:
        self.received: str | None = None
        self._old = {}
        if threading.current_thread() is threading.main_thread() and not os.environ.get("SUBMITIT_EXECUTOR"):
            self._old = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}

    def _handle(self, signum, frame) -> None:
        self.received = signal.Signals(signum).name

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_for(device: torch.device, precision: str):
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return nullcontext, "fp32"
    if precision == "bf16":
        return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)), "bf16"
    raise ValueError(f"unknown trainer.precision {precision!r}: use auto, fp32 or bf16")


def total_steps(trainer_cfg, steps_per_epoch: int) -> int:
    if trainer_cfg.max_steps is not None:
        return int(trainer_cfg.max_steps)
    return max(1, math.ceil(trainer_cfg.epochs * steps_per_epoch))


def loss_fn(logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy over the last dim; integer targets (classes, tokens) or soft targets (mixup)."""
    logits = logits.reshape(-1, logits.shape[-1]).float()
    if target.is_floating_point():
        return F.cross_entropy(logits, target.reshape(-1, logits.shape[-1]))
    return F.cross_entropy(logits, target.reshape(-1), label_smoothing=label_smoothing)


def dyt_alphas(model: nn.Module) -> dict[str, float]:
    """``{"alpha/<module path>": value}`` for every DyT layer (a per-channel alpha: its mean over channels)."""
    return {f"alpha/{name}": m.alpha.mean().item() for name, m in dyt_layers(model)}


def clip_gradients(model: nn.Module, tcfg) -> torch.Tensor | None:
    """``trainer.clip_mode``: ``norm`` clips the global grad norm to ``clip_grad`` and returns the norm before
    clipping; ``agc`` (adaptive gradient clipping, Brock et al. 2021) clips each unit's gradient to
    ``clip_grad`` times its weight norm, except the classifier's (as NFNets and timm do). Nothing without
    ``clip_grad``."""
    if tcfg.clip_mode not in ("norm", "agc"):
        raise ValueError(f"unknown trainer.clip_mode {tcfg.clip_mode!r}: use norm or agc")
    if not tcfg.clip_grad:
        return None
    if tcfg.clip_mode == "agc":
        from timm.utils import adaptive_clip_grad

        head = {id(p) for p in model.get_classifier().parameters()} if hasattr(model, "get_classifier") else set()
        adaptive_clip_grad([p for p in model.parameters() if id(p) not in head], clip_factor=tcfg.clip_grad)
        return None
    return nn.utils.clip_grad_norm_(model.parameters(), tcfg.clip_grad)


class InputStds:
    """``{"input_std/<module path>": std}`` of every DyT layer's input (over all its elements), for the
    paper's alpha-vs-1/std analysis. Forward hooks exist only between ``arm()`` and ``collect()``: the
    trainer arms them for the training forward of logging steps, so other steps pay nothing. Not used
    with ``trainer.compile`` (hooks added and removed would make torch.compile recompile)."""

    def __init__(self, model: nn.Module) -> None:
        self.layers = dyt_layers(model)
        self.handles, self.values = [], {}

    def arm(self) -> None:
        if not self.handles:
            self.handles = [m.register_forward_hook(self._hook(name)) for name, m in self.layers]

    def _hook(self, name: str):
        def record(module, inputs, output) -> None:
            self.values[name] = inputs[0].detach().float().std()  # stays on the device until collect()
        return record

    def collect(self) -> dict[str, float]:
        for handle in self.handles:
            handle.remove()
        out = {f"input_std/{name}": float(v) for name, v in self.values.items()}
        self.handles, self.values = [], {}
        return out


@torch.no_grad()
def evaluate(model: nn.Module, batches, device: torch.device, autocast) -> dict[str, float]:
    was_training = model.training
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast():
            logits = model(x)
        logits = logits.reshape(-1, logits.shape[-1]).float()
        y = y.reshape(-1)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(-1) == y).sum().item()
        count += y.numel()
    model.train(was_training)
    return {"val/loss": loss_sum / count, "val/acc1": 100.0 * correct / count}


def fit(cfg, model: nn.Module, data, logger, out_dir: Path, dist_info: DistInfo = DistInfo()) -> dict:
    out_dir = Path(out_dir)
    tcfg = cfg.trainer
    device = resolve_device(tcfg.device)
    autocast, precision = autocast_for(device, tcfg.precision)
    model.to(device)

    steps_per_epoch = data.train.steps_per_epoch
    max_steps = total_steps(tcfg, steps_per_epoch)
    batch_size = cfg.data.batch_size * dist_info.world_size  # global: every rank takes its slice
    lr = peak_lr(cfg.optim, batch_size)
    optimizer = build_optimizer(model, cfg.optim, lr)
    scheduler = build_scheduler(optimizer, cfg.optim, max_steps)
    ema = None
    if tcfg.ema_decay > 0:
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(model, decay=tcfg.ema_decay, device=device)

    # resume: the run dir's checkpoint decides where we start
    step, first_loss, prior_seconds, window = 0, None, 0.0, (0.0, 0, 0.0)
    ckpt = load_checkpoint(out_dir / CHECKPOINT)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if ema is not None and ckpt.get("ema") is not None:
            ema.load_state_dict(ckpt["ema"])
        set_rng_state(ckpt["rng"])
        step, first_loss, prior_seconds = ckpt["step"], ckpt.get("first_loss"), ckpt.get("train_seconds", 0.0)
        window = ckpt.get("window", window)  # since the last logged row: loss sum, steps, training seconds
        if ckpt.get("data") is not None:
            data.train.load_state_dict(ckpt["data"])  # streams: where in the corpus we were
    logger.resume(step)

    def checkpoint() -> None:
        if not dist_info.is_main:
            return
        save_checkpoint(out_dir / CHECKPOINT, {
            "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "ema": ema.state_dict() if ema is not None else None,
            "rng": rng_state(), "first_loss": first_loss, "train_seconds": train_seconds,
            "window": (float(window_loss), window_n, t0 - window_t - paused),
            "data": data.train.state_dict() if hasattr(data.train, "state_dict") else None,
        })

    train_model = model
    if dist_info.enabled:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(model, device_ids=[device.index or 0] if device.type == "cuda" else None)
    train_model = torch.compile(train_model) if tcfg.compile else train_model
    model.train()
    batches = data.train.batches(start_step=step)
    status, last_eval, last_train_loss = "completed", {}, None
    train_seconds = prior_seconds
    window_loss, window_n, window_t, paused = window[0], window[1], time.perf_counter() - window[2], 0.0
    stop = StopSignals()
    input_stds = InputStds(model) if not tcfg.compile else None
    bar = tqdm(total=max_steps, initial=step, desc=f"{cfg.name} {cfg.norm.tag} s{cfg.seed}", unit="step",
               disable=not (tcfg.progress and dist_info.is_main), dynamic_ncols=True, mininterval=1.0)

    def say(message: str) -> None:
        if dist_info.is_main:
            bar.write(message)

    while step < max_steps:
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if data.mixup is not None:
            x, y = data.mixup(x, y)
        log_now = (step + 1) % tcfg.log_every == 0 or step + 1 == max_steps  # this step ends a logging window
        if input_stds is not None and log_now:
            input_stds.arm()  # record each DyT layer's input std in this forward
        with autocast():
            logits = train_model(x)
        loss = loss_fn(logits, y, tcfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_gradients(model, tcfg)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update(model, step=step)
        step += 1
        bar.update(1)
        window_loss = window_loss + loss.detach().float()  # summed on the device: no sync per step
        window_n += 1

        last = step == max_steps
        row = {}
        if log_now:
            last_train_loss = mean_over_ranks(float(window_loss) / window_n, dist_info, device)
            first_loss = last_train_loss if first_loss is None else first_loss
            elapsed = time.perf_counter() - window_t - paused
            train_seconds += elapsed
            row = {"step": step, "epoch": step / steps_per_epoch, "train/loss": last_train_loss,
                   "lr": optimizer.param_groups[0]["lr"], "throughput": window_n * batch_size / elapsed}
            if grad_norm is not None:
                row["grad_norm"] = float(grad_norm)
            row.update(dyt_alphas(model))
            row.update(input_stds.collect() if input_stds is not None else {})
            bar.set_postfix(loss=f"{last_train_loss:.4f}", samples_s=f"{row['throughput']:.0f}")
            window_loss, window_n, window_t, paused = 0.0, 0, time.perf_counter(), 0.0
            if not math.isfinite(last_train_loss) or last_train_loss > DIVERGENCE_FACTOR * max(first_loss, 1e-3):
                status = "diverged"  # keep the last good checkpoint; exit 0 so sweeps go on
                logger.log(row)
                say(f"step {step}: train/loss {last_train_loss} diverged; stopping this run")
                break
        t0 = time.perf_counter()
        if (tcfg.eval_every and step % tcfg.eval_every == 0) or last:
            last_eval = evaluate(model, data.val.eval_batches(cfg.data.val_limit), device, autocast)
            if ema is not None:
                ema_eval = evaluate(ema.module, data.val.eval_batches(cfg.data.val_limit), device, autocast)
                last_eval.update({k.replace("val/", "val_ema/"): v for k, v in ema_eval.items()})
            row.update({"step": step, **last_eval})
            say(f"step {step}/{max_steps}  " + "  ".join(f"{k} {v:.4f}" for k, v in last_eval.items()))
        if row:
            logger.log(row)
        stopping = any_rank(stop.received is not None, dist_info, device)  # every rank stops at the same step
        if (tcfg.ckpt_every and step % tcfg.ckpt_every == 0) or last or stopping:
            checkpoint()
        if stopping and not last:
            status = "interrupted"  # checkpointed at this step boundary; the same command resumes
            say(f"step {step}: {stop.received or 'a stop signal'} received, checkpointed; rerun to resume")
            break
        paused += time.perf_counter() - t0  # eval and checkpoints do not count as training time
    bar.close()
    stop.restore()
    if status == "completed" and not last_eval:  # resumed from a checkpoint at the very end
        last_eval = evaluate(model, data.val.eval_batches(cfg.data.val_limit), device, autocast)

    summary = {
        "status": status,
        "step": step,
        "max_steps": max_steps,
        "epochs": step / steps_per_epoch,
        "final/train_loss": last_train_loss,
        **{f"final/{k}": v for k, v in last_eval.items()},
        "train_seconds": train_seconds,
        "samples_per_second": step * batch_size / train_seconds if train_seconds > 0 else None,
        "tokens_seen": step * batch_size * data.tokens_per_sample if data.tokens_per_sample else None,
        "tokens_per_second": (step * batch_size * data.tokens_per_sample / train_seconds
                              if data.tokens_per_sample and train_seconds > 0 else None),
        "alpha_init_note": getattr(model, "alpha_note", None),
        "calibration": getattr(model, "calibration", None),
        "peak_lr": lr,
        "precision": precision,
        "num_params": sum(p.numel() for p in model.parameters()),
        **provenance(device),
    }
    summary = {k: v for k, v in summary.items() if v is not None}
    if dist_info.is_main:
        write_summary(out_dir, summary)
        logger.summary(summary)
    return summary


def write_summary(out_dir: Path, summary: dict) -> None:
    tmp = Path(out_dir) / (SUMMARY + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    os.replace(tmp, Path(out_dir) / SUMMARY)
