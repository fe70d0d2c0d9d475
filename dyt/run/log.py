"""Loggers of a run: ``RunLogger`` (Weights & Biases plus a plain ``metrics.jsonl`` mirror in the run dir)
and ``MemoryLogger`` (rows kept in memory, for timing the trainer); both are ``MetricsLogger``s.

W&B mode: ``WANDB_MODE`` wins; else ``logger.mode``; ``auto`` means online when
an API key is configured (``WANDB_API_KEY`` or a netrc entry), offline
otherwise, so a run never blocks on the network. Offline runs land in
``<run dir>/wandb/offline-run-*`` and upload later with ``wandb sync``.
Only rank 0 logs. One row per step: W&B's history and the jsonl hold the same rows.
"""

from __future__ import annotations

import hashlib
import json
import math
import netrc
import os
import re
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from dyt.run.net import reachable
from dyt.run.rundir import RunDir, read_jsonl


class MetricsLogger(Protocol):
    """What the trainer logs through: rows keyed by the optimizer step, a final summary."""

    def resume(self, step: int) -> None: ...  # rows after ``step`` (a resumed run's future) are dropped
    def log(self, row: dict) -> None: ...  # ``row["step"]``: the optimizer step it belongs to
    def summary(self, values: dict) -> None: ...
    def finish(self, exit_code: int = 0) -> None: ...


class MemoryLogger:
    """A ``MetricsLogger`` that keeps the rows in memory (``.rows``) and writes nothing."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.final: dict = {}

    def resume(self, step: int) -> None:
        self.rows = [r for r in self.rows if r.get("step", 0) <= step]

    def log(self, row: dict) -> None:
        self.rows.append(dict(row))

    def summary(self, values: dict) -> None:
        self.final = dict(values)

    def finish(self, exit_code: int = 0) -> None:
        pass


def base_url() -> str:
    """The W&B server runs talk to: ``WANDB_BASE_URL``, else the installed wandb's default (not a hard-coded host:
    wandb 0.31's default is CoreWeave Forge's API, which serves W&B)."""
    if os.environ.get("WANDB_BASE_URL"):
        return os.environ["WANDB_BASE_URL"]
    try:
        from wandb.sdk.lib.urls import DEFAULT_BASE_URL
    except ImportError:  # older wandb
        return "https://api.wandb.ai"
    return DEFAULT_BASE_URL


def _key_hosts() -> list[str]:
    """The hosts a `wandb login` of this server may have stored its key under in ~/.netrc."""
    host = urlparse(base_url()).hostname or ""
    hosts = [host]
    try:
        from wandb.sdk.lib.urls import FORGE_HOSTS
    except ImportError:
        return hosts
    bare = host.removeprefix("api.")
    return hosts + [FORGE_HOSTS[bare]] if bare in FORGE_HOSTS else hosts


def api_key_configured() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        stored = netrc.netrc()
    except (OSError, netrc.NetrcParseError):
        return False
    return any(stored.authenticators(host) is not None for host in _key_hosts())


def resolve_mode(configured: str) -> str:
    """``WANDB_MODE`` wins, then ``logger.mode``; ``auto`` means online when possible. Online is only
    attempted with an API key and a reachable server: otherwise offline, with a warning, at once."""
    env = os.environ.get("WANDB_MODE")
    mode = ("offline" if env == "dryrun" else env) if env else configured
    if mode not in ("auto", "online"):
        return mode
    explicit = mode == "online"
    if not api_key_configured():
        if explicit:
            print("wandb: online mode asked for but no API key (`wandb login`): logging offline; `make sync` uploads later")
        return "offline"
    if not reachable(base_url()):
        print("wandb: API key found but the server is unreachable: logging offline; `make sync` uploads later")
        return "offline"
    return "online"


def run_id(out_dir: Path, name: str) -> str:
    """A W&B run id that is the same for every (re)start of this run dir, and unique across dirs."""
    digest = hashlib.sha1(str(Path(out_dir).resolve()).encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{name}-{digest}")[:120]


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/Inf; keep them readable
    return value


class RunLogger:
    """W&B (``logger.backend=wandb``) and the run dir's ``metrics.jsonl``; rank 0 only (``enabled``)."""

    def __init__(self, run_dir: RunDir, *, logger_cfg, config: dict, group: str, job_type: str, name: str,
                 enabled: bool = True) -> None:
        self.out_dir = run_dir.path
        self.enabled = enabled
        self.run = None
        if not enabled:
            return
        self.metrics_path = run_dir.metrics_path
        self._file = None
        if logger_cfg.backend == "wandb":
            self.run = self._init_wandb(logger_cfg, config, group, job_type, name)
        elif logger_cfg.backend != "none":
            raise ValueError(f"unknown logger.backend {logger_cfg.backend!r}: use wandb or none")

    def _init_wandb(self, logger_cfg, config, group, job_type, name):
        import wandb

        mode = resolve_mode(logger_cfg.mode)
        settings = wandb.Settings(
            x_transaction_log_flush_interval=0.5,  # a killed run keeps its history (default: 15 s)
            console="off",
            init_timeout=60,
            silent=True,
        )
        return wandb.init(
            project=logger_cfg.project, entity=logger_cfg.entity, group=group, job_type=job_type, name=name,
            id=run_id(self.out_dir, name), tags=list(logger_cfg.tags), config=config, dir=str(self.out_dir),
            mode=mode, resume="allow", settings=settings, reinit="finish_previous",
        )

    def resume(self, step: int) -> None:
        """Start the jsonl mirror at ``step``: keep exactly the rows up to the checkpoint we resume
        from (no duplicated steps after a resume, no partial line from a kill)."""
        if not self.enabled:
            return
        kept = [r for r in read_jsonl(self.metrics_path) if r.get("step", 0) <= step]
        self.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self._file = open(self.metrics_path, "a", buffering=1)

    def log(self, row: dict) -> None:
        """Log one row; ``row["step"]`` is the optimizer step it belongs to."""
        if not self.enabled:
            return
        self._file.write(json.dumps({k: _jsonable(v) for k, v in row.items()}) + "\n")
        if self.run is not None:
            metrics = {k: v for k, v in row.items() if k != "step"}
            self.run.log(metrics, step=int(row["step"]))

    def summary(self, values: dict) -> None:
        if self.run is not None:
            self.run.summary.update({k: v for k, v in values.items() if isinstance(v, (int, float, str, bool))})

    def finish(self, exit_code: int = 0) -> None:
        if not self.enabled:
            return
        if self._file is not None and not self._file.closed:
            self._file.close()
        if self.run is not None:
            self.run.finish(exit_code=exit_code)
            self.run = None
