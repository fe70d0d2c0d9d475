"""The entry point: ``python -m dyt.train [key=value ...]`` (or ``dyt-train``), ``-m`` for multiruns.

Composes ``conf/``, checks the config, builds data, model and logger, runs the
shared trainer, and returns the objective (final val loss; ``inf`` when the
run diverged) so Hydra sweepers can optimize it. Bad input ends with one line
on stderr and exit status 2, before anything is written.
"""

from __future__ import annotations

import fcntl
import json
import random
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from dyt.config import CONF_DIR  # importing dyt.config registers the structured schema
from dyt.calibrate import calibrate_run, calibration_target
from dyt.checkpoint import CheckpointError
from dyt.data import DataError, build_data
from dyt.dist import init_distributed
from dyt.log import RunLogger
from dyt.models import FAMILIES, ConfigError, build_model
from dyt.models.norm import BASELINES, NORMS, alpha_value
from dyt.provenance import code_state
from dyt.variants import is_dyt_family
from dyt.trainer import CHECKPOINT, SUMMARY, fit, resolve_device, total_steps

INTERRUPTED_EXIT = 75  # EX_TEMPFAIL: checkpointed after SIGTERM/SIGUSR1; rerun (requeue) to resume
CONFIG_FILE = "config.yaml"
SAMPLE_FILE = "sample.txt"
# keys a resumed run may change without becoming another experiment
RESUMABLE_KEYS = ("trainer.max_steps", "trainer.epochs", "trainer.eval_every", "trainer.ckpt_every",
                  "trainer.log_every", "trainer.progress", "trainer.device", "trainer.threads", "logger.", "data.num_workers")
LOCK_FILE = ".lock"
FAILED_FILE = "failed.json"  # a multirun job that raised: its error, beside whatever the dir already held


def validate(cfg: DictConfig) -> None:
    """Semantic checks the schema cannot express; raise ``ConfigError`` naming the fix."""
    if cfg.norm.name not in NORMS:
        raise ConfigError(f"unknown norm {cfg.norm.name!r}: choose one of {', '.join(NORMS)}")
    if is_dyt_family(cfg.norm.name):
        if str(cfg.norm.alpha_init) == "auto":
            if cfg.model.family != "gpt":
                raise ConfigError("norm.alpha_init=auto is the paper's LLM width rule: GPT models only; give a number")
        else:
            alpha_value(cfg.norm.alpha_init)
        positions = [k for k in ("alpha_attn", "alpha_mlp", "alpha_final") if cfg.norm.get(k) is not None]
        if positions and calibration_target(cfg.norm.alpha_init) is not None:
            raise ConfigError(f"norm.alpha_init={cfg.norm.alpha_init} sets every alpha from data: drop "
                              + ", ".join(f"norm.{k}" for k in positions) + " (or set them to null)")
    if cfg.model.family not in FAMILIES:
        raise ConfigError(f"unknown model.family {cfg.model.family!r}: choose one of {', '.join(FAMILIES)}")
    if cfg.trainer.max_steps is not None and cfg.trainer.max_steps <= 0:
        raise ConfigError(f"trainer.max_steps must be > 0, got {cfg.trainer.max_steps}")
    if cfg.trainer.max_steps is None and cfg.trainer.epochs <= 0:
        raise ConfigError(f"trainer.epochs must be > 0, got {cfg.trainer.epochs}")
    if cfg.data.batch_size <= 0:
        raise ConfigError(f"data.batch_size must be > 0, got {cfg.data.batch_size}")
    if cfg.optim.lr <= 0:
        raise ConfigError(f"optim.lr must be > 0, got {cfg.optim.lr}")
    if cfg.logger.backend not in ("wandb", "none"):
        raise ConfigError(f"unknown logger.backend {cfg.logger.backend!r}: use wandb or none (logger=none)")
    if cfg.trainer.precision not in ("auto", "fp32", "bf16"):
        raise ConfigError(f"unknown trainer.precision {cfg.trainer.precision!r}: use auto, fp32 or bf16")


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_diff(old: dict, new: dict) -> list[str]:
    """Keys whose values differ between two resolved configs, ignoring those a resume may change,
    keys only one of them has (the schema gained or lost a key since the run started), and the alpha
    keys of a norm without alpha (an LN baseline inside an alpha sweep is one run, not one per alpha)."""
    a, b = _flatten(old), _flatten(new)
    ignore = RESUMABLE_KEYS + (("norm.alpha", "model.default_alpha") if b.get("norm.name") in BASELINES else ())
    keys = sorted(k for k in a.keys() & b.keys() if a[k] != b[k])
    return [k for k in keys if not any(k == r or k.startswith(r) for r in ignore)]


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True)


def run(cfg: DictConfig) -> dict:
    """One training run in ``cfg.out_dir``; returns its summary. Resumes if the dir holds a checkpoint."""
    validate(cfg)
    code_state()  # the commit we start from, before anything can change under us
    out_dir = Path(cfg.out_dir)
    dist_info = init_distributed(cfg.trainer.device)
    with run_dir_lock(out_dir, dist_info.is_main):
        return _run_locked(cfg, out_dir, dist_info)


@contextmanager
def run_dir_lock(out_dir: Path, is_main: bool):
    """Create the run dir (rank 0) and hold an exclusive lock on it: two jobs of a parallel sweep that
    share a run dir (the LN baseline of an alpha grid) train it once; the second finds it completed."""
    if not is_main:
        yield
        return
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        lock = open(out_dir / LOCK_FILE, "a")
    except OSError as err:
        raise ConfigError(f"cannot write to the run dir {out_dir} ({err.strerror}): "
                          "set out_dir=... to a writable path") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"{out_dir}: another process is training this run; waiting for it", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run_locked(cfg: DictConfig, out_dir: Path, dist_info) -> dict:
    resolved = OmegaConf.to_container(cfg, resolve=True)
    previous = out_dir / CONFIG_FILE
    differing = None
    if previous.exists():
        differing = config_diff(OmegaConf.to_container(OmegaConf.load(previous)), resolved)
        if differing and (out_dir / CHECKPOINT).exists():
            raise ConfigError(f"{out_dir} holds a run with another config (differs in {', '.join(differing)}); "
                              "set out_dir=... to a new directory, or delete that one")
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    seed_everything(cfg.seed, cfg.trainer.deterministic)
    data = build_data(cfg, dist_info.rank, dist_info.world_size)
    model = build_model(cfg, data.num_classes)

    summary_path = out_dir / SUMMARY
    if summary_path.exists() and differing == []:
        done = json.loads(summary_path.read_text())
        if done.get("status") == "diverged":  # deterministic: training it again diverges again
            print(f"{out_dir}: diverged at step {done.get('step')}; delete it to train again")
            return done
        if done.get("status") == "completed" and done.get("step") == total_steps(cfg.trainer, data.train.steps_per_epoch):
            print(f"{out_dir}: already completed ({done['step']} steps); delete it to train again")
            return done
    calibrate_run(model, cfg.norm, data.train, out_dir, resuming=(out_dir / CHECKPOINT).exists(),
                  is_main=dist_info.is_main, device=resolve_device(cfg.trainer.device))
    if getattr(model, "resolved", None):  # what "auto" and per-position defaults became, for the record
        resolved["resolved"] = model.resolved
    if dist_info.is_main:
        OmegaConf.save(OmegaConf.create(resolved), previous)
        (out_dir / FAILED_FILE).unlink(missing_ok=True)

    logger = RunLogger(out_dir, logger_cfg=cfg.logger, config=resolved, group=cfg.name, job_type=cfg.norm.name,
                       name=f"{cfg.norm.tag}-s{cfg.seed}", enabled=dist_info.is_main)
    exit_code = 1
    try:
        summary = fit(cfg, model, data, logger, out_dir, dist_info)
        if (dist_info.is_main and data.tokenizer is not None and hasattr(model, "generate")
                and summary["status"] == "completed"):
            write_sample(model, data.tokenizer, out_dir / SAMPLE_FILE, seed=cfg.seed)
        exit_code = INTERRUPTED_EXIT if summary["status"] == "interrupted" else 0
    finally:
        logger.finish(exit_code)
    return summary


def record_failure(cfg: DictConfig, err: BaseException) -> dict:
    """A multirun job that raised: ``failed.json`` in its run dir (nothing else there is touched), so the
    sweep goes on and its report marks the job. Returns the record."""
    message = str(err) if isinstance(err, (ConfigError, DataError, CheckpointError)) else f"{type(err).__name__}: {err}"
    record = {"status": "failed", "error": message, "traceback": traceback.format_exc()}
    try:
        record["config"] = OmegaConf.to_container(cfg, resolve=True)
        out_dir = Path(cfg.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / FAILED_FILE).write_text(json.dumps(record, indent=1, default=str))
    except Exception:  # an unresolvable config or an unwritable dir: the stderr line is all we can leave
        pass
    return record


def write_sample(model, tokenizer, path: Path, seed: int, prompt: str = "\n", tokens: int = 500) -> None:
    """Text generated by the final model, so a user can see it is a real language model."""
    device = next(model.parameters()).device
    idx = torch.as_tensor(tokenizer.encode(prompt), dtype=torch.long, device=device).unsqueeze(0)
    model.eval()
    out = model.generate(idx, tokens, generator=torch.Generator(device=device).manual_seed(seed))
    path.write_text(tokenizer.decode(out[0].tolist()))


def objective(summary: dict) -> float:
    """What sweepers minimize: final val loss, ``inf`` for a diverged run."""
    if summary.get("status") != "completed":
        return float("inf")
    return float(summary.get("final/val/loss", float("inf")))


def in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> float:
    try:
        summary = run(cfg)
    except (ConfigError, DataError, CheckpointError) as err:
        if in_multirun():  # one bad job must not stop a sweep
            record_failure(cfg, err)
            print(f"error: {err} (job marked failed; the sweep goes on)", file=sys.stderr)
            return float("inf")
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:
        if not in_multirun():
            raise
        record = record_failure(cfg, err)
        print(f"error: {record['error']} (job marked failed; the sweep goes on)", file=sys.stderr)
        return float("inf")
    if summary["status"] == "interrupted":
        sys.exit(INTERRUPTED_EXIT)
    return objective(summary)


def main() -> None:
    from dyt.precheck import precheck

    message = precheck(sys.argv[1:], CONF_DIR)
    if message:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    hydra_main()


if __name__ == "__main__":
    main()
