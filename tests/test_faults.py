"""Faults a user meets: broken checkpoints, unwritable run dirs, impossible shapes. One line, exit 2, nothing lost."""

import json

import pytest
import torch

from dyt.run.checkpoint import load_checkpoint
from dyt.run.errors import CheckpointError, ConfigError
from dyt.run.job import run
from tests.conftest import metrics, run_cli


def test_corrupt_last_checkpoint_falls_back_to_the_previous_one(smoke_cfg, tmp_path):
    run(smoke_cfg("trainer.max_steps=8", "trainer.ckpt_every=4"))
    out = tmp_path / "run"
    assert torch.load(out / "prev.pt", weights_only=False)["step"] == 4
    (out / "last.pt").write_bytes((out / "last.pt").read_bytes()[:1000])  # truncated
    (out / "summary.json").unlink()
    with pytest.warns(UserWarning, match="resuming from .*prev.pt \\(step 4\\)"):
        summary = run(smoke_cfg("trainer.max_steps=8", "trainer.ckpt_every=4"))
    assert summary["step"] == 8
    assert [r["step"] for r in metrics(out)] == [2, 4, 6, 8]


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
    proc = run_cli("trainer=smoke", "logger=none", f"out_dir={out}", timeout=1800)
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert proc.returncode == 2 and len(errors) == 1 and "unreadable" in errors[0]
    assert (out / "last.pt").read_bytes() == b"garbage"  # nothing destroyed


@pytest.mark.slow
def test_sigterm_checkpoints_at_the_step_and_the_rerun_gives_the_same_numbers(tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    def args(out):
        return [sys.executable, "-m", "dyt.train", "experiment=vit", "trainer=smoke", "logger=none",
                "trainer.max_steps=90", "trainer.log_every=3", "trainer.eval_every=45", "trainer.ckpt_every=50",
                "data.val_limit=2000", "model.kwargs.depth=1", "data.batch_size=64", f"out_dir={out}"]

    whole = tmp_path / "whole"
    assert subprocess.run(args(whole), cwd=REPO, capture_output=True, timeout=1800).returncode == 0
    out = tmp_path / "run"
    proc = subprocess.Popen(args(out), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 1800  # a hang guard, not a speed check
    while time.time() < deadline and len(metrics(out)) < 8:
        time.sleep(0.02)
    proc.send_signal(signal.SIGSTOP)  # frozen mid-way however fast this machine trains; the SIGTERM waits for
    proc.send_signal(signal.SIGTERM)  # SIGCONT, so the run meets it at its next step
    proc.send_signal(signal.SIGCONT)
    _, stderr = proc.communicate(timeout=1800)
    assert proc.returncode == 75, stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and 24 <= summary["step"] < 90
    assert torch.load(out / "last.pt", weights_only=False)["step"] == summary["step"]  # not the step-50 one
    rerun = subprocess.run(args(out), cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    want, got = metrics(whole), metrics(out)
    assert [r["step"] for r in got] == [r["step"] for r in want]
    assert [r["train/loss"] for r in got] == [r["train/loss"] for r in want]  # bitwise, across the interruption
    assert os.path.exists(out / "summary.json") and json.loads((out / "summary.json").read_text())["status"] == "completed"


@pytest.mark.slow
def test_two_gloo_processes_match_one_with_the_same_global_batch(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import REPO

    common = ["trainer=smoke", "logger=none", "trainer.log_every=1", "trainer.max_steps=6", "data.val_limit=2000"]
    one = subprocess.run([sys.executable, "-m", "dyt.train", *common, "data.batch_size=32", f"out_dir={tmp_path / 'one'}"],
                         cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert one.returncode == 0, one.stderr[-2000:]
    torchrun = str(Path(sys.executable).parent / "torchrun")
    two = subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "dyt.train", *common,
                          "data.batch_size=16", f"out_dir={tmp_path / 'two'}"], cwd=REPO, capture_output=True,
                         text=True, timeout=1800)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = metrics(tmp_path / "one"), metrics(tmp_path / "two")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]  # rank 0 alone wrote, once
    for x, y in zip(a, b):  # same global batch, gradients averaged over ranks: equal up to reduction order
        assert y["train/loss"] == pytest.approx(x["train/loss"], rel=1e-5)
    assert b[-1]["val/loss"] == pytest.approx(a[-1]["val/loss"], rel=1e-5)
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["samples_per_second"] > 0


def test_slurm_launcher_requeues_and_composes():
    import dyt.run.schema  # noqa: F401
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from tests.conftest import REPO

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["launcher=slurm"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.launcher.max_num_timeout > 0  # requeue: safe because a rerun resumes exactly


@pytest.mark.slow
def test_submitit_local_launcher_really_launches_a_job(tmp_path):
    from tests.conftest import run_cli

    proc = run_cli("-m", "launcher=submitit_local", "trainer=smoke", "logger=none", "data.val_limit=1000",
                   f"runs_root={tmp_path}", timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "vit" / "ln+val_limit-1000+trainer-smoke" / "seed0" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 8
    assert list((tmp_path / "_multirun" / ".submitit").glob("*/*_log.out"))  # it ran as a submitit job
