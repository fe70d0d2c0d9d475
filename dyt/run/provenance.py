"""Where a run came from: git commit, package versions, device, command line."""

from __future__ import annotations

import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import torch

PACKAGES = ("torch", "torchvision", "timm", "hydra-core", "wandb", "datasets", "numpy")
REPO = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


@lru_cache(maxsize=1)
def code_state() -> tuple[str | None, bool | None]:
    """Git commit and dirty flag, read once per process: a multirun records the code it was launched with."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return _git("rev-parse", "HEAD"), (bool(status) if status is not None else None)


def provenance(device: torch.device) -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    sha, dirty = code_state()
    return {
        "git_sha": sha,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "versions": versions,
        "device": device_name(device),
        "host": platform.node(),
        "command": " ".join(["python", *sys.orig_argv[1:]]),
    }
