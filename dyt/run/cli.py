"""The entry point: ``python -m dyt.train [key=value ...]`` (or ``dyt-train``), ``-m`` for multiruns.

Every job of the command line is composed and validated first (``dyt.run.precheck``): bad input ends
with one ``error:`` line and exit status 2, before anything is written. Each job runs ``dyt.run.job.run``
and returns the objective Hydra sweepers minimize (final val loss; ``inf`` for a diverged or failed run).
In a multirun, a job that raises leaves ``failed.json`` in its run dir and the sweep goes on.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from dyt.run.errors import INTERRUPTED_EXIT, USER_ERRORS
from dyt.run.job import run
from dyt.run.rundir import RunDir
from dyt.run.schema import CONF_DIR


def record_failure(cfg: DictConfig, err: BaseException) -> dict:
    """A multirun job that raised: ``failed.json`` in its run dir (unless that dir holds another config's run),
    nothing else touched, so the sweep goes on and its report marks the job. Returns the record."""
    from dyt.nn.norms import BASELINES

    message = str(err) if isinstance(err, USER_ERRORS) else f"{type(err).__name__}: {err}"
    record = {"status": "failed", "error": message, "traceback": traceback.format_exc()}
    try:
        record["config"] = OmegaConf.to_container(cfg, resolve=True)
        written = RunDir(cfg.out_dir).write_failure(record, extend=bool(cfg.trainer.extend),
                                                    alpha_free=cfg.norm.name in BASELINES)
        record["outcome"] = "job marked failed" if written else "nothing written: its dir holds another run"
    except Exception as write_err:  # an unresolvable config or an unwritable dir: the stderr line is all we leave
        record["outcome"] = f"nothing written: {type(write_err).__name__}"
    return record


def objective(summary: dict) -> float:
    """What sweepers minimize: final val loss, ``inf`` for a run that did not complete."""
    if summary.get("status") != "completed":
        return float("inf")
    return float(summary.get("final/val/loss", float("inf")))


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(config_path=str(Path(CONF_DIR)), config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> float:
    multirun = _in_multirun()
    try:
        summary = run(cfg)
    except USER_ERRORS as err:
        if multirun:  # one bad job must not stop a sweep
            record = record_failure(cfg, err)
            print(f"error: {err} ({record['outcome']}; the sweep goes on)", file=sys.stderr)
            return float("inf")
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:
        if not multirun:
            raise
        record = record_failure(cfg, err)
        print(f"error: {record['error']} ({record['outcome']}; the sweep goes on)", file=sys.stderr)
        return float("inf")
    if summary["status"] == "interrupted":
        sys.exit(INTERRUPTED_EXIT)
    return objective(summary)


def main() -> None:
    from dyt.run.precheck import precheck

    message = precheck(sys.argv[1:], CONF_DIR)
    if message:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    hydra_main()


if __name__ == "__main__":
    main()
