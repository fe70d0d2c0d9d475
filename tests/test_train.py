"""The entry point and the shared trainer, on real Fashion-MNIST, a few CPU steps at a time."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from dyt.run.errors import ConfigError
from dyt.run.job import run
from tests.conftest import DATA, REPO, build, compose, metrics, run_cli


def test_every_experiment_config_composes_and_builds():
    experiments = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
    assert {"vit", "vit_b16_in1k", "gpt", "llama", "gpt2_124m_owt", "llama_100m_fineweb"} <= set(experiments)
    shares_a_folder = {"resnet_nf": "resnet"}  # the NF-ResNet arm of the resnet comparison (norm=none only)
    for name in experiments:
        for norm in ("none",) if name in shares_a_folder else ("ln", "dyt"):
            cfg = compose(f"experiment={name}", f"norm={norm}")
            assert cfg.name == shares_a_folder.get(name, name)
            model = build(cfg, num_classes=cfg.data.num_classes or 256)  # text: byte vocabulary
            assert sum(p.numel() for p in model.parameters()) > 0


def test_paper_recipe_config_has_the_paper_numbers():
    cfg = compose("experiment=vit_b16_in1k")
    assert (cfg.optim.lr, cfg.optim.batch_size_ref, cfg.optim.weight_decay) == (4e-3, 4096, 0.05)
    assert (cfg.trainer.epochs, cfg.trainer.label_smoothing, cfg.trainer.ema_decay) == (300, 0.1, 0.9999)
    assert (cfg.data.augment.mixup, cfg.data.augment.cutmix, cfg.data.augment.random_erasing) == (0.8, 1.0, 0.25)
    assert cfg.model.kwargs.global_pool == "avg" and cfg.model.drop_path_rate == 0.1
    assert cfg.optim.warmup_frac * cfg.trainer.epochs == pytest.approx(20, abs=0.1)


def test_run_dir_is_deterministic():
    cfg = compose("norm=dyt", "norm.alpha_init=0.25", "seed=2")
    assert cfg.out_dir == "runs/vit/dyt-a0.25/seed2"
    assert compose("norm=ln").out_dir == "runs/vit/ln/seed0"
    assert compose("experiment=resnet_nf").out_dir == "runs/resnet/nf/seed0"  # make reproduce-resnet's NF arm


def test_every_override_that_changes_training_names_the_run_dir():
    assert compose("optim.lr=1e6").out_dir == "runs/vit/ln+lr-1e6/seed0"
    assert compose("optim.lr=1000000.0").out_dir == "runs/vit/ln+lr-1e6/seed0"  # as a multirun spells 1e6
    assert compose("trainer=smoke", "trainer.max_steps=20").arm == "ln+trainer-smoke+max_steps-20"
    assert compose("trainer.max_steps=20", "trainer=smoke").arm == "ln+trainer-smoke+max_steps-20"  # order-free
    same = compose("trainer.progress=false", "trainer.threads=1", "logger=none", "trainer.eval_every=5", "seed=1")
    assert same.out_dir == "runs/vit/ln/seed1"  # bookkeeping keys name nothing
    assert compose("norm=dyt", "norm.alpha_init=2", "optim.warmup_steps=5").arm == "dyt-a2+warmup_steps-5"
    long = compose(*(f"model.kwargs.{k}={v}" for k, v in (("depth", 2), ("embed_dim", 48), ("num_heads", 2),
                                                          ("mlp_ratio", 2.0), ("patch_size", 4))), "optim.lr=0.002")
    assert long.arm.startswith("ln+cfg-") and len(long.arm) == len("ln+cfg-") + 10  # too long to spell: a hash
    assert compose("+sweep=alpha_gpt", "norm=dyt", "model.kwargs.n_embd=256").out_dir == \
        "runs/sweep_alpha_gpt/w256/dyt-aauto/seed0"  # a key the path names already is left out
    extended = compose("trainer=smoke", "trainer.max_steps=16", "trainer.extend=true")
    assert extended.arm == compose("trainer=smoke").arm == "ln+trainer-smoke"  # extending a run keeps its dir
    assert compose("norm=dyt", "norm.alpha_per_channel=true").arm == "dyt-a0.5+alpha_per_channel-true"  # untagged


def test_an_override_that_sets_the_default_is_the_same_run():
    """Every spelling of one run is one run dir: an override equal to what the config holds without it names
    nothing, however it is spelt; an override of a key whose default follows another key still names the run."""
    assert compose("experiment=gpt", "trainer.max_steps=300").out_dir == compose("experiment=gpt").out_dir \
        == "runs/gpt/ln/seed0"
    assert compose("experiment=vit", "trainer.epochs=3.0").arm == "ln"  # 3 epochs is the vit recipe's budget
    assert compose("trainer=smoke", "trainer.max_steps=8").arm == "ln+trainer-smoke"  # smoke's own budget
    assert compose("experiment=gpt", "trainer=gpt_cpu").arm == "ln"  # the experiment's own trainer
    assert compose("trainer=smoke").arm == "ln+trainer-smoke"  # not the default: named
    assert compose("norm=dyt", "norm.alpha_per_channel=False").arm == "dyt-a0.5"
    assert compose("experiment=gpt", "trainer.max_steps=3000").arm == "ln+max_steps-3000"
    size = compose("experiment=gpt").data.block_size
    follows = compose("experiment=gpt", "data.block_size=64", f"model.kwargs.block_size={size}")  # the default
    assert follows.arm == f"ln+data.block_size-64+model.kwargs.block_size-{size}"  # would be ${data.block_size}, 64


def test_smoke_fit_leaves_the_run_dir_contract(smoke_cfg, tmp_path):
    cfg = smoke_cfg("norm=dyt")
    summary = run(cfg)
    out = tmp_path / "run"
    assert {"config.yaml", "metrics.jsonl", "summary.json", "last.pt"} <= {p.name for p in out.iterdir()}
    assert summary["status"] == "completed" and summary["step"] == 8
    assert OmegaConf.load(out / "config.yaml").norm.name == "dyt"
    rows = metrics(out)
    assert [r["step"] for r in rows] == [2, 4, 6, 8]
    assert all("train/loss" in r and "lr" in r for r in rows)
    assert {r["step"] for r in rows if "val/acc1" in r} == {4, 8}
    alphas = [k for k in rows[-1] if k.startswith("alpha/")]
    assert len(alphas) == 2 * 6 + 1 and "alpha/blocks.0.norm1" in alphas
    assert rows[-1]["alpha/fc_norm"] != 0.5  # alpha learns
    saved = json.loads((out / "summary.json").read_text())
    assert saved["final/val/acc1"] > 10.0  # better than chance after 8 steps
    for key in ("train_seconds", "samples_per_second", "versions", "device", "git_sha", "num_params"):
        assert key in saved


def test_a_longer_budget_extends_a_run_only_when_asked(smoke_cfg, tmp_path):
    run(smoke_cfg("trainer.max_steps=4"))
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ckpt["step"] == 4
    with pytest.raises(ConfigError, match="trainer.max_steps.*add trainer.extend=true"):
        run(smoke_cfg("trainer.max_steps=8"))  # a longer budget is another run (its own schedule)
    summary = run(smoke_cfg("trainer.max_steps=8", "trainer.extend=true"))
    assert summary["step"] == 8
    steps = [r["step"] for r in metrics(tmp_path / "run")]
    assert steps == [2, 4, 6, 8]
    again = run(smoke_cfg("trainer.max_steps=8", "trainer.extend=true"))  # nothing left to do: not retrained
    assert again["train_seconds"] == summary["train_seconds"]


def test_resume_after_a_kill_gives_the_same_numbers(smoke_cfg, tmp_path, monkeypatch):
    import shutil

    import dyt.run.trainer.loop as loop

    def keep_every_checkpoint(path, state, save=loop.save_checkpoint):
        save(path, state)
        shutil.copy(path, tmp_path / f"step{state['step']}.pt")

    monkeypatch.setattr(loop, "save_checkpoint", keep_every_checkpoint)
    run(smoke_cfg("trainer.max_steps=8", "trainer.ckpt_every=4"))
    out = tmp_path / "run"
    full = metrics(out)
    # as if killed at step 7: the checkpoint of step 4, rows past it, a half-written line
    shutil.copy(tmp_path / "step4.pt", out / "last.pt")
    (out / "summary.json").unlink()
    with open(out / "metrics.jsonl", "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in full[:3]) + '{"step": 7, "train/lo')
    run(smoke_cfg("trainer.max_steps=8", "trainer.ckpt_every=4"))
    resumed = metrics(out)
    assert [r["step"] for r in resumed] == [2, 4, 6, 8]
    for a, b in zip(full, resumed):  # same data, same RNG state, same numbers, bit for bit
        assert a["train/loss"] == b["train/loss"], a["step"]
    assert resumed[-1]["val/loss"] == full[-1]["val/loss"]


def test_a_run_dir_belongs_to_one_config(smoke_cfg):
    run(smoke_cfg())
    with pytest.raises(ConfigError, match="optim.lr"):
        run(smoke_cfg("optim.lr=0.01"))


def test_a_diverged_run_is_never_overwritten_by_another_config(smoke_cfg, tmp_path):
    """The record of a run that diverged before its first checkpoint stays: another config is refused."""
    diverged = run(smoke_cfg("optim.lr=1e6", "trainer.ckpt_every=0", "trainer.log_every=1"))
    assert diverged["status"] == "diverged" and not (tmp_path / "run" / "last.pt").exists()
    with pytest.raises(ConfigError, match="optim.lr"):
        run(smoke_cfg("optim.lr=1e-3", "trainer.ckpt_every=0", "trainer.log_every=1"))
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "diverged"
    assert OmegaConf.load(tmp_path / "run" / "config.yaml").optim.lr == 1e6


def test_multirun_over_lr_and_budget_gives_one_run_dir_per_job(tmp_path):
    small = ("model.kwargs.depth=1", "data.val_limit=512")  # mechanics, not learning
    proc = run_cli("-m", "trainer=smoke", "logger=none", "optim.lr=1e6,1e-3", *small, f"runs_root={tmp_path}",
                   timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    status = {p.parent.name: json.loads((p / "summary.json").read_text())["status"]
              for p in sorted((tmp_path / "vit").glob("*/seed0"))}
    assert status == {"ln+val_limit-512+depth-1+trainer-smoke": "completed",  # 1e-3 is the recipe's lr: no suffix
                      "ln+val_limit-512+depth-1+lr-1e6+trainer-smoke": "diverged"}
    proc = run_cli("-m", "trainer=smoke", "logger=none", "trainer.max_steps=20,40", "trainer.log_every=20", *small,
                   f"runs_root={tmp_path}", timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for steps in (20, 40):  # each its own full schedule: warmup then cosine to 0 at its own last step
        out = tmp_path / "vit" / f"ln+val_limit-512+depth-1+trainer-smoke+max_steps-{steps}" / "seed0"
        assert json.loads((out / "summary.json").read_text())["step"] == steps
        ckpt = torch.load(out / "last.pt", weights_only=False)
        assert ckpt["scheduler"]["last_epoch"] == steps and ckpt["optimizer"]["param_groups"][0]["lr"] == 0.0


def test_absurd_lr_ends_as_diverged_not_a_crash(smoke_cfg):
    summary = run(smoke_cfg("optim.lr=1e4", "optim.warmup_frac=0", "trainer.max_steps=30", "trainer.log_every=1"))
    assert summary["status"] == "diverged"
    assert summary["step"] < 30


def test_alpha_init_lands_in_every_dyt_layer(smoke_cfg):
    from dyt import DyT

    model = build(smoke_cfg("norm=dyt", "norm.alpha_init=1.7"))
    alphas = [m.alpha.item() for m in model.modules() if isinstance(m, DyT)]
    assert len(alphas) == 13 and all(a == pytest.approx(1.7) for a in alphas)


@pytest.mark.parametrize("override,message", [
    ("norm=foo", "unknown norm 'foo'"),
    ("model=foo", "unknown model 'foo'"),
    ("data=foo", "unknown data 'foo'"),
    ("experiment=foo", "unknown experiment 'foo'"),
    ("data.batch_size=0", "data.batch_size must be > 0"),
    ("norm.alpha_init=nan", "norm.alpha_init must be a number > 0"),
    ("norm.alpha_init=-1", "norm.alpha_init must be a number > 0"),
    ("norm.alpha_init=abc", "norm.alpha_init must be a number > 0, auto or calibrate[:<target>], got 'abc'"),
    ("trainer.max_steps=x", "could not be converted to Integer"),
    ("trainer.max_step=3", "Key 'max_step' not in 'TrainerConfig'"),
])
def test_bad_overrides_exit_nonzero_with_one_line(override, message, tmp_path):
    extra = ["norm=dyt"] if override.startswith("norm.") else []
    proc = run_cli(*extra, override, f"runs_root={tmp_path}", "-m" if override == "norm=foo" else "seed=0", timeout=1800)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing written


def test_missing_data_is_one_line_and_nothing_lost(tmp_path):
    proc = run_cli("trainer=smoke", "logger=none", f"data.path={tmp_path / 'nope'}", "data.source=hub",
                   f"out_dir={tmp_path / 'run'}", env={"HF_HUB_OFFLINE": "1"}, timeout=1800)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and "zalando-datasets/fashion_mnist" in lines[0], proc.stderr


@pytest.mark.slow
def test_cli_smoke_run_with_wandb_offline_history_equals_metrics(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("experiment=vit", "trainer=smoke", f"data.path={DATA}", f"out_dir={out}", "model.kwargs.depth=1",
                   "data.val_limit=512", env={"WANDB_MODE": "offline"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    offline = list((out / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    wandb_cli = [str(Path(sys.executable).parent / "wandb")]
    records = subprocess.run([*wandb_cli, "leet", "inspect", "--json", str(offline[0])], capture_output=True,
                             text=True, timeout=1800, check=True).stdout.splitlines()
    history = [json.loads(r)["history"]["item"] for r in records if '"type":"history"' in r]
    run_record = next(json.loads(r)["run"] for r in records if '"type":"run"' in r)
    assert (run_record["run_group"], run_record["job_type"]) == ("vit", "ln")
    assert run_record["display_name"] == "ln+val_limit-512+depth-1+trainer-smoke-s0"  # the arm (tag + overrides), seed
    rows = metrics(out)
    assert len(history) == len(rows) == 4
    for logged, row in zip(history, rows):
        assert logged["_step"] == row["step"]
        for key, value in row.items():
            if key != "step":
                assert logged[key] == pytest.approx(value), key
    dry = subprocess.run([*wandb_cli, "sync", "--dry-run", str(offline[0])], capture_output=True, text=True, timeout=1800)
    assert dry.returncode == 0 and "Would sync 1 run" in dry.stdout + dry.stderr


def test_config_diff_ignores_bookkeeping_and_schema_only_keys():
    from dyt.run.identity import config_diff

    old = {"optim": {"lr": 1e-3}, "trainer": {"max_steps": 10, "threads": 1}, "logger": {"mode": "offline"}, "gone": 1}
    new = {"optim": {"lr": 1e-3, "new_key": 0}, "trainer": {"max_steps": 10, "threads": 2}, "logger": {"mode": "online"}}
    assert config_diff(old, new) == []
    assert config_diff(old, {**new, "optim": {"lr": 2e-3}}) == ["optim.lr"]
    longer = {**new, "trainer": {"max_steps": 20}}
    assert config_diff(old, longer) == ["trainer.max_steps"] and config_diff(old, longer, extend=True) == []
    ln = {"norm": {"name": "ln", "alpha_init": 0.5}}
    assert config_diff(ln, {"norm": {"name": "ln", "alpha_init": 2}}, alpha_free=True) == []


def test_wandb_mode_never_waits_on_the_network(monkeypatch):
    from dyt.run.log import resolve_mode

    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode("online") == "disabled"  # the environment wins
    monkeypatch.delenv("WANDB_MODE")
    assert resolve_mode("offline") == "offline"
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    monkeypatch.setenv("HOME", "/nonexistent")
    assert resolve_mode("auto") == "offline"  # no key
    assert resolve_mode("online") == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "https://127.0.0.1:9")  # nothing listens there
    assert resolve_mode("auto") == "offline"  # a key, but no server
    assert resolve_mode("online") == "offline"  # asked for online: still never waits
    monkeypatch.setenv("WANDB_MODE", "online")
    assert resolve_mode("auto") == "offline"


@pytest.mark.slow
def test_sigkill_keeps_wandb_history_and_the_rerun_resumes(tmp_path):
    import os
    import signal
    import time

    out = tmp_path / "run"
    args = [sys.executable, "-m", "dyt.train", "experiment=vit", "trainer=smoke", "trainer.max_steps=120",
            "trainer.log_every=1", "trainer.eval_every=60", "trainer.ckpt_every=20", "data.val_limit=2000",
            "model.kwargs.depth=1", "data.batch_size=64", f"out_dir={out}"]  # a small model: mechanics, not learning
    env = {**os.environ, "WANDB_MODE": "offline"}
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 1800  # a hang guard, not a speed check
    while time.time() < deadline and len(metrics(out)) < 45:
        time.sleep(0.05)
    # freeze the run mid-way (however fast this machine trains), give W&B's service process, which keeps
    # running, time past its flush interval (0.5 s) to write what it was sent, then kill the frozen run
    proc.send_signal(signal.SIGSTOP)
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    logged = len(metrics(out))
    assert 45 <= logged < 120, "the run was not killed mid-way"
    offline = next((out / "wandb").glob("offline-run-*"))
    records = subprocess.run([str(Path(sys.executable).parent / "wandb"), "leet", "inspect", "--json", str(offline)],
                             capture_output=True, text=True, timeout=1800).stdout.splitlines()
    history = [r for r in records if '"type":"history"' in r]
    assert len(history) >= logged - 5  # the killed run kept (nearly) all of its history

    rerun = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    resumed = metrics(out)
    assert [r["step"] for r in resumed] == list(range(1, 121))  # nothing duplicated or missing
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"
    run_files = [f.name for f in (out / "wandb").glob("offline-run-*/run-*.wandb")]
    assert len(run_files) == 2 and len(set(run_files)) == 1  # two sessions of one W&B run (same id)
    whole = tmp_path / "whole"  # the same run, never killed: the same numbers, bit for bit
    args[-1] = f"out_dir={whole}"
    assert subprocess.run(args, cwd=REPO, env=env, capture_output=True, timeout=1800).returncode == 0
    assert [r["train/loss"] for r in metrics(whole)] == [r["train/loss"] for r in resumed]
