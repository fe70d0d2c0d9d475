"""Alpha-init sweeps: configs expand as documented, bad jobs do not stop a sweep, Optuna and joblib run."""

import csv
import json

import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

from dyt.reports.sweep import sweep_report
from tests.conftest import REPO, compose, run_cli

SMOKE = ("trainer=smoke", "logger=none", "trainer.progress=false", "data.val_limit=1000")


def expand(sweep: str, *cli: str) -> list[list[str]]:
    """The jobs a basic-sweeper multirun of ``+sweep=<sweep>`` launches: config params, CLI overrides winning."""
    params = yaml.safe_load((REPO / "conf" / "sweep" / f"{sweep}.yaml").read_text())["hydra"]["sweeper"]["params"]
    merged = {k: str(v) for k, v in params.items()}
    merged.update(dict(arg.split("=", 1) for arg in cli))
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in merged.items()])
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def test_sweep_configs_compose_and_expand_to_the_documented_grids():
    vit = expand("alpha_vit")
    assert len(vit) == 2 * 8 * 3  # (ln, dyt) x 8 inits x 3 seeds: LN jobs share 3 run dirs
    gpt = expand("alpha_gpt")
    assert len(gpt) == 2 * 3 * 3 * 2  # (ln, dyt) x attention x other alpha x 2 widths, one seed
    dirs = set()
    for job in vit:
        cfg = compose("+sweep=alpha_vit", *job)
        assert cfg.name == "sweep_alpha_vit" and cfg.model.family == "vit"
        dirs.add(cfg.out_dir)
    assert len(dirs) == 8 * 3 + 3  # each DyT job its own run dir, LN one per seed
    assert "runs/sweep_alpha_vit/dyt-cal1/seed2" in dirs
    gpt_dirs = {compose("+sweep=alpha_gpt", *job).out_dir for job in gpt}
    assert len(gpt_dirs) == 2 * (3 * 3 + 1)
    cfg = compose("+sweep=alpha_gpt", "norm=dyt", "norm.alpha_attn=4", "norm.alpha_mlp=0.25", "model.kwargs.n_embd=256")
    assert (cfg.model.family, cfg.norm.alpha_final) == ("gpt", 0.25)
    assert cfg.out_dir == "runs/sweep_alpha_gpt/w256/dyt-aauto-attn4-mlp0.25-final0.25/seed0"
    optuna = compose("+sweep=optuna_alpha_vit")
    assert optuna.norm.name == "dyt" and optuna.name == "optuna_alpha_vit"


@pytest.mark.slow
def test_a_diverging_and_a_failing_job_do_not_stop_the_sweep_and_the_report_marks_them(tmp_path):
    # lr 1e4 diverges; 5 heads do not divide width 96, so timm fails while building: both are jobs of one sweep
    proc = run_cli("-m", "+sweep=alpha_vit", "norm=dyt", "norm.alpha_init=0.5", "seed=0", *SMOKE,
                   "optim.lr=1e-3,1e4", "model.kwargs.num_heads=3,5", f"runs_root={tmp_path}",
                   "out_dir=${runs_root}/${name}/h${model.kwargs.num_heads}-lr${optim.lr}", timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("job marked failed; the sweep goes on") == 2
    root = tmp_path / "sweep_alpha_vit"
    assert json.loads((root / "h3-lr0.001" / "summary.json").read_text())["status"] == "completed"
    assert json.loads((root / "h3-lr10000.0" / "summary.json").read_text())["status"] == "diverged"
    failed = json.loads((root / "h5-lr0.001" / "failed.json").read_text())
    assert "num_heads" in failed["traceback"] or "divisible" in failed["error"]
    out = sweep_report([root], tmp_path / "report")
    rows = list(csv.DictReader((tmp_path / "report" / "summary.csv").open()))
    assert sorted(r["status"] for r in rows) == ["completed", "diverged", "failed", "failed"]
    readme = out.read_text()
    assert "s0 diverged" in readme and "s0 failed" in readme


def test_a_rerun_skips_a_diverged_run_instead_of_diverging_again(tmp_path):
    args = ("norm=dyt", *SMOKE, "optim.lr=1e4", f"out_dir={tmp_path / 'run'}")
    first = run_cli(*args)
    assert first.returncode == 0 and json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "diverged"
    again = run_cli(*args)
    assert again.returncode == 0 and "diverged at step" in again.stdout


@pytest.mark.slow
def test_optuna_sweeper_runs_two_trials_on_the_objective(tmp_path):
    proc = run_cli("-m", "+sweep=optuna_alpha_vit", *SMOKE, "hydra.sweeper.n_trials=2", f"runs_root={tmp_path}",
                   timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = yaml.safe_load((tmp_path / "_multirun" / "optimization_results.yaml").read_text())
    trials = [p for p in (tmp_path / "optuna_alpha_vit").iterdir() if p.name.startswith("dyt-a")]
    assert len(trials) == 2
    losses = [json.loads((t / "seed0" / "summary.json").read_text())["final/val/loss"] for t in trials]
    assert result["best_value"] == pytest.approx(min(losses))
    assert 0.05 <= result["best_params"]["norm.alpha_init"] <= 4.0


@pytest.mark.slow
def test_joblib_launcher_runs_jobs_in_parallel_and_a_shared_baseline_dir_trains_once(tmp_path):
    # two LN jobs of an alpha grid share one run dir: the lock makes one train and the other find it done
    proc = run_cli("-m", "launcher=joblib", "norm=ln", "norm.alpha_init=0.5,1", *SMOKE, "trainer.threads=1",
                   f"runs_root={tmp_path}", timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Joblib" in proc.stdout + proc.stderr
    run_dir = tmp_path / "vit" / "ln+val_limit-1000+trainer-smoke" / "seed0"  # SMOKE names the arm
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 8
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))  # trained once: no step logged twice
