"""Shared fixtures: compose configs from conf/, small runs in tmp dirs, everything offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# pytest-xdist runs the test files in PYTEST_XDIST_WORKER_COUNT processes (make test: 2): each worker trains on
# its share of the cores, so two workers do not run four threads on 2 cores. Set before torch is imported, and
# inherited by every `python -m dyt.train` subprocess a test starts. A worker always sets it (the controller
# loads this file too and would otherwise hand the workers its own value); one process keeps a user's setting.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
elif not os.environ.get("OMP_NUM_THREADS", "").isdigit() or os.environ["OMP_NUM_THREADS"] == "0":
    os.environ["OMP_NUM_THREADS"] = str(os.cpu_count() or 1)
THREADS = int(os.environ["OMP_NUM_THREADS"])

import pytest  # noqa: E402
import torch  # noqa: E402

from dyt.run.builders import build_model  # noqa: E402
from dyt.run.rundir import RunDir  # noqa: E402
from dyt.run.schema import compose  # noqa: E402,F401 - tests import it from here
from dyt.run.spec import build_spec  # noqa: E402

torch.set_num_threads(THREADS)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data" / "fashion_mnist"

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_SILENT", "true")
os.chdir(REPO)  # configs name data/ relative to the repo root, as `make` runs them


# torch.compile on CPU (inductor) writes C++ and needs a C++ compiler; the fused DyT's own kernels need a C one
needs_cxx = pytest.mark.skipif(not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
                               reason="no C++ compiler: torch.compile on CPU needs one (apt-get install g++)")


def build(cfg, num_classes: int | None = None):
    """The model a run of ``cfg`` trains (spec resolved, builder dispatched)."""
    return build_model(build_spec(cfg), num_classes).model


def metrics(run_dir) -> list[dict]:
    """The rows of a run dir's metrics.jsonl."""
    return RunDir(run_dir).metrics()


@pytest.fixture
def smoke_cfg(tmp_path):
    """A composer of smoke-sized configs writing to ``tmp_path/run``."""

    def make(*overrides: str):
        return compose("trainer=smoke", "logger=none", f"out_dir={tmp_path / 'run'}", f"trainer.threads={THREADS}",
                       "data.val_limit=4096", *overrides)

    return make


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 1800, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m dyt.train ARGS`` in a subprocess, as a user runs it."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "dyt.train", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
