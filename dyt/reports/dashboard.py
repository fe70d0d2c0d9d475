"""``make dashboard EXP=vit``: W&B LEET (the terminal viewer of offline runs) on every run of an experiment.

LEET lists the ``offline-run-*`` folders directly inside the folder it is given, and every run keeps its
W&B files in its own run dir. So this builds ``<runs>/.leet/<experiment>/``: relative symlinks to each run's
``offline-run-*`` folders (every arm and seed; a resumed run has one folder per session), nothing copied or
moved, and starts ``wandb leet`` on it with a layout of two charts a row. In LEET: ``ctrl+a`` then ``y``
selects every run (overlaid in each chart; each run's colour is its marker in the runs list), ``/`` filters the
charts by a regex (``loss|acc1``, ``^sat/``), ``f`` filters runs (``cfg.norm.name:dyt``), ``q`` quits.

    python -m dyt.reports.dashboard vit                 # runs/vit, opens LEET
    python -m dyt.reports.dashboard vit --runs /data/runs --no-open
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from dyt.run.rundir import WANDB

LINKS = ".leet"
OFFLINE_RUN = re.compile(r"^offline-run-\d{8}_\d{6}-.+")  # the names LEET recognizes (a renamed link shows nothing)
LAYOUT = {"workspace_metrics_grid": {"rows": 2, "cols": 2}, "workspace_overview_visible": False}


def offline_runs(runs_root: Path, experiment: str) -> list[Path]:
    """Every ``offline-run-*`` folder of every run dir under ``runs_root/experiment`` (runs still training too)."""
    folder = runs_root / experiment
    if not folder.is_dir():
        return []
    return sorted(d for d in folder.rglob("offline-run-*")
                  if d.is_dir() and d.parent.name == WANDB and OFFLINE_RUN.match(d.name))


def link_farm(runs_root: Path, experiment: str) -> Path:
    """``runs_root/.leet/<experiment>/`` holding one relative symlink per offline run (rebuilt each time)."""
    target = runs_root / LINKS / experiment
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for run in offline_runs(runs_root, experiment):
        (target / run.name).symlink_to(os.path.relpath(run, target))
    return target


def leet_config(runs_root: Path) -> Path:
    """A wandb config dir holding LEET's layout (LEET writes its changes back there, not to the repo)."""
    config = runs_root / LINKS / "config"
    config.mkdir(parents=True, exist_ok=True)
    path = config / "wandb-leet.json"
    if not path.exists():
        path.write_text(json.dumps(LAYOUT, indent=1))
    return config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dyt.reports.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("experiment", help="a folder of the runs tree: vit, gpt, sweep_alpha_vit, ...")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="the runs tree (default runs)")
    parser.add_argument("--no-open", action="store_true", help="build the links only (print the LEET command)")
    args = parser.parse_args(argv)
    found = offline_runs(args.runs, args.experiment)
    if not found:
        print(f"error: no W&B offline runs under {args.runs / args.experiment} (train with logger=wandb, "
              f"e.g. `make reproduce-{args.experiment}`, or pass --runs)", file=sys.stderr)
        return 2
    farm = link_farm(args.runs, args.experiment)
    wandb = Path(sys.executable).parent / "wandb"
    command = [str(wandb), "leet", str(farm)]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_CONFIG_DIR": str(leet_config(args.runs))}
    runs = len({p.parent.parent for p in found})
    print(f"{farm}: {len(found)} offline runs of {runs} run dirs; in LEET press ctrl+a then y to plot them all, q to quit")
    if args.no_open:
        print(f"WANDB_MODE=offline WANDB_CONFIG_DIR={env['WANDB_CONFIG_DIR']} {' '.join(command)}")
        return 0
    return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main())
