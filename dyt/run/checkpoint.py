"""Checkpoints written atomically (temp file + rename): a kill mid-write never leaves a broken ``last.pt``.

The previous checkpoint is kept as ``prev.pt``; if ``last.pt`` is unreadable (a disk
filled up, a file copied half-way) the run resumes from ``prev.pt`` with a warning.
"""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path

import numpy as np
import torch

from dyt.run.errors import CheckpointError
from dyt.run.rundir import PREVIOUS


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])




def save_checkpoint(path: Path, state: dict) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    if path.exists():
        os.replace(path, path.with_name(PREVIOUS))
    os.replace(tmp, path)


def _read(path: Path) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or "step" not in state:
        raise ValueError("not a dyt checkpoint")
    return state


def load_checkpoint(path: Path) -> dict | None:
    """The checkpoint at ``path`` (or, if that is unreadable, the previous one); ``None`` if there is none.

    Raises ``CheckpointError`` when neither can be read: never a silent restart from scratch."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return _read(path)
    except Exception as err:  # noqa: BLE001 - truncated zip, pickle errors...
        problem = f"{path} is unreadable ({type(err).__name__})"
    previous = path.with_name(PREVIOUS)
    if previous.exists():
        try:
            state = _read(previous)
        except Exception:  # noqa: BLE001
            pass
        else:
            warnings.warn(f"{problem}; resuming from {previous} (step {state['step']})", stacklevel=2)
            return state
    raise CheckpointError(f"{problem} and no readable {PREVIOUS} beside it; move the run dir away to start afresh")
