"""Writing a diagnosis: ``report.md``, ``report.json``, ``diagnose.png`` (and a W&B run), all or nothing.

Everything is written into a temporary folder beside ``out`` and moved into place at the end, so an error
(or a kill) never leaves a half-written report; an older report at ``out`` is replaced whole. With
``wandb=True`` the W&B run (``dyt.run.log.RunLogger``: offline without an API key, ``wandb sync`` uploads
later) and its ``metrics.jsonl`` mirror land in the same folder: one row per probe step with each arm's
training loss, the watched per-layer values at the watched steps, and the predictions in the summary.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace


def clean(value):
    """JSON-safe: non-finite floats become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def save(d, out: Path, wandb: bool = False) -> Path:
    from dyt.diagnose.figure import plot
    from dyt.diagnose.report import markdown

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the report is not
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    try:
        (tmp / "report.json").write_text(json.dumps(clean(d.to_dict()), indent=1, default=str) + "\n")
        (tmp / "report.md").write_text(markdown(d))
        plot(d, tmp / "diagnose.png")
        if wandb:
            log_wandb(d, tmp)
        if out.exists():
            out.rename(old)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return out


def rows(d) -> list[dict]:
    """One row per probe step: ``<arm>/train_loss`` and, at watched steps, ``<arm>/<key>`` per layer."""
    by_step: dict[int, dict] = {}
    for a in d.arms:
        for step, loss in enumerate(a.losses):
            by_step.setdefault(step + 1, {})[f"{a.name}/train_loss"] = loss
        for key, values in a.watched.items():
            steps = a.log_steps if len(values) == len(a.log_steps) else a.log_steps[-len(values):]
            for step, v in zip(steps, values):
                by_step.setdefault(step + 1, {})[f"{a.name}/{key}"] = v
    return [{"step": s, **values} for s, values in sorted(by_step.items())]


def log_wandb(d, folder: Path) -> None:
    from dyt.run.log import RunLogger
    from dyt.run.rundir import RunDir

    cfg = SimpleNamespace(backend="wandb", mode="auto", project="dyt", entity=None, tags=["diagnose", d.static.kind])
    config = clean({"name": d.name, "settings": d.settings, "static": {"kind": d.static.kind, "norms": d.static.norms,
                                                                     "alpha_rule": d.static.alpha_rule}})
    logger = RunLogger(RunDir(folder), logger_cfg=cfg, config=config, group="diagnose", job_type=d.static.kind,
                       name=f"diagnose-{d.name}")
    exit_code = 1
    try:
        logger.resume(0)
        for row in rows(d):
            logger.log(row)
        logger.summary({f"{p.arm}/verdict": p.verdict for p in d.predictions}
                       | {f"{p.arm}/confidence": p.confidence for p in d.predictions}
                       | {"recommended_alpha": str(d.recommendation["alpha"])})
        exit_code = 0
    finally:
        logger.finish(exit_code)
