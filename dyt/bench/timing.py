"""Timing that survives a busy machine: implementations take turns rep by rep; medians and quartiles."""

from __future__ import annotations

import math
import statistics
import time
from typing import Callable

import torch


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
