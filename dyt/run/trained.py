"""A finished run brought back: ``load_trained(run_dir) -> (cfg, model, data)``, for code that studies trained
models (the S-curves of ``dyt.reports.analysis``) without knowing how a run is built."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from dyt.run.builders import build_model
from dyt.run.checkpoint import load_checkpoint
from dyt.run.data import build_data
from dyt.run.rundir import CHECKPOINT, RunDir
from dyt.run.schema import Config
from dyt.run.spec import build_spec


def run_config(run_dir: Path) -> DictConfig:
    """A run dir's ``config.yaml`` on today's schema (keys added since the run get their defaults)."""
    saved = RunDir(run_dir).config()
    if saved is None:
        raise FileNotFoundError(f"no config.yaml in {run_dir}: not a run dir")
    saved["arm"] = RunDir(run_dir).arm(saved)  # runs made before arms were recorded: the norm tag
    saved.pop("resolved", None)
    try:
        return OmegaConf.merge(OmegaConf.structured(Config), saved)
    except Exception:  # noqa: BLE001 - a key the schema has since dropped: use the file as it is
        return OmegaConf.create(saved)


def load_trained(run_dir: Path, checkpoint: str = CHECKPOINT):
    """``(cfg, model, data)`` of a run dir: the model rebuilt from its config, with the checkpoint's weights."""
    cfg = run_config(run_dir)
    data = build_data(cfg)
    model = build_model(build_spec(cfg), data.num_classes).model
    state = load_checkpoint(Path(run_dir) / checkpoint)  # validated, falls back to prev.pt if unreadable
    if state is None:
        raise FileNotFoundError(f"no checkpoint {checkpoint} in {run_dir}: train the run first")
    model.load_state_dict(state["model"])
    return cfg, model.eval(), data
