"""Faults a user meets: broken checkpoints, unwritable run dirs, impossible shapes. One line, exit 2, nothing lost."""

import pytest
import torch

from dyt.checkpoint import CheckpointError, load_checkpoint
from dyt.log import read_metrics
from dyt.models import ConfigError
from dyt.train import run
from tests.conftest import run_cli


def test_corrupt_last_checkpoint_falls_back_to_the_previous_one(smoke_cfg, tmp_path):
    run(smoke_cfg("trainer.max_steps=8", "trainer.ckpt_every=4"))
    out = tmp_path / "run"
    assert torch.load(out / "prev.pt", weights_only=False)["step"] == 4
    (out / "last.pt").write_bytes((out / "last.pt").read_bytes()[:1000])  # truncated
    (out / "summary.json").unlink()
    with pytest.warns(UserWarning, match="resuming from .*prev.pt \\(step 4\\)"):
        summary = run(smoke_cfg("trainer.max_steps=8", "trainer.ckpt_every=4"))
    assert summary["step"] == 8
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == [2, 4, 6, 8]


def test_no_readable_checkpoint_stops_instead_of_restarting(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="no readable prev.pt"):
        load_checkpoint(tmp_path / "last.pt")


def test_unwritable_run_dir_is_refused_before_training(smoke_cfg, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    with pytest.raises(ConfigError, match="cannot write to the run dir"):
        run(smoke_cfg(f"out_dir={blocker / 'run'}"))
    assert blocker.read_text() == "keep me"


def test_image_size_must_be_divisible_by_the_patch(smoke_cfg):
    with pytest.raises(ConfigError, match="not divisible by the patch size 5"):
        run(smoke_cfg("model.kwargs.patch_size=5"))


def test_corrupt_checkpoint_via_the_cli_is_one_line(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes(b"garbage")
    proc = run_cli("trainer=smoke", "logger=none", f"out_dir={out}", timeout=120)
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert proc.returncode == 2 and len(errors) == 1 and "unreadable" in errors[0]
    assert (out / "last.pt").read_bytes() == b"garbage"  # nothing destroyed
