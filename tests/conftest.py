"""Shared fixtures: compose configs from conf/, small runs in tmp dirs, everything offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data" / "fashion_mnist"

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_SILENT", "true")
os.chdir(REPO)  # configs name data/ relative to the repo root, as `make` runs them


def compose(*overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import dyt.config  # noqa: F401 - registers the schema

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides))


@pytest.fixture
def smoke_cfg(tmp_path):
    """A composer of smoke-sized configs writing to ``tmp_path/run``."""

    def make(*overrides: str):
        return compose("trainer=smoke", "logger=none", f"out_dir={tmp_path / 'run'}", "trainer.threads=2",
                       "data.val_limit=4096", *overrides)

    return make


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m dyt.train ARGS`` in a subprocess, as a user runs it."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "dyt.train", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
