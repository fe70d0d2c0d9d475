"""W&B side by side: the offline LEET link farm, and the online views built (not saved) for every experiment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dyt.reports import dashboard, wandb_views
from dyt.run.trainer.diagnostics import LOGGED, PER_LAYER
from tests.conftest import REPO, compose


def experiment_names() -> list[str]:
    """Every W&B group a run of the suite can have: each experiment config's name and each sweep's."""
    names = {compose(f"experiment={p.stem}").name for p in (REPO / "conf" / "experiment").glob("*.yaml")}
    names |= {compose(f"+sweep={p.stem}").name for p in (REPO / "conf" / "sweep").glob("*.yaml")}
    return sorted(names)


@pytest.mark.parametrize("experiment", experiment_names())
def test_every_experiment_gets_a_view_of_its_runs_grouped_by_arm(experiment):
    view = wandb_views.describe(wandb_views.workspace(experiment, "me", "dyt"))
    assert view["filters"]["filters"] == [{"key": {"section": "run", "name": "group"}, "op": "=", "value": experiment,
                                           "disabled": False}]
    assert view["grouping"] == [{"section": "config", "name": "arm.value"}] and view["x_axis"] == "_step"
    names = list(view["sections"])
    assert names[0].startswith("loss and accuracy") and names[1].startswith("DyT internals") and names[2] == "optimization"
    curves = [panel for panel in view["sections"][names[0]]]
    assert [c[1] for c in curves] == [["train/loss"], ["val/loss"], ["val/acc1"]] and all(c[2] == "arm.value" for c in curves)
    assert [p[1] for p in view["sections"][names[1]]] == [f"^{p}.*" for p in PER_LAYER]
    sweep = experiment in wandb_views.SWEEP_KEYS
    assert len(names) == 4 if sweep else len(names) == 3
    if sweep:
        panels = view["sections"][names[3]]
        assert {p[0] for p in panels} == {"Scatter Plot", "Parallel Coordinates Plot"}


def test_panels_reference_exactly_the_keys_the_trainer_logs():
    """Renaming a metric on one side only fails here (the trainer's keys: dyt.run.trainer.diagnostics)."""
    assert wandb_views.panel_keys() | set(wandb_views.NOT_PLOTTED) == set(LOGGED) | set(PER_LAYER)


def test_the_report_holds_the_claims_table_and_the_same_panels(tmp_path):
    report_md = tmp_path / "REPORT.md"
    report_md.write_text("# Report\n\n## vit\n\n| claim | paper | ours (mean ± std, seeds) | statistic | verdict | command |\n"
                         "|---|---|---|---|---|---|\n| ViT: DyT matches LN | p | o | s | **not reproduced** | `make x` |\n")
    built = wandb_views.report("vit", "me", "dyt", report_md)
    kinds = [type(b).__name__ for b in built.blocks]
    assert kinds[:2] == ["H1", "MarkdownBlock"] and kinds.count("PanelGrid") == 3
    assert "| ViT: DyT matches LN | p | o | s | **not reproduced** |" in built.blocks[1].text
    grids = [b for b in built.blocks if type(b).__name__ == "PanelGrid"]
    assert all(rs.filters == "Metric('Group') == 'vit'" and rs.project == "" for g in grids for rs in g.runsets)


def test_without_a_key_saving_says_so_in_one_line_and_exits_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), NETRC=str(tmp_path / "none"))
    proc = subprocess.run([sys.executable, "-m", "dyt.reports.wandb_views", "vit"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: no W&B API key")
    assert "wandb login" in proc.stderr


def _offline_run(run_dir, stamp: str, run_id: str):
    folder = run_dir / "wandb" / f"offline-run-{stamp}-{run_id}"
    folder.mkdir(parents=True)
    (folder / f"run-{run_id}.wandb").write_bytes(b"W&B")
    return folder


def test_the_link_farm_puts_every_arm_and_seed_of_an_experiment_in_one_folder(tmp_path, capsys):
    runs = tmp_path / "runs"
    made = [_offline_run(runs / "vit" / arm / f"seed{s}", f"20261201_10000{s}", f"{arm}-s{s}")
            for arm in ("ln", "dyt-a0.5", "dyt-cal1") for s in (0, 1)]
    made.append(_offline_run(runs / "vit" / "ln" / "seed0", "20261201_110000", "ln-s0"))  # a resumed run
    _offline_run(runs / "gpt" / "ln" / "seed0", "20261201_100000", "ln-s0")  # another experiment: left out
    assert dashboard.main(["vit", "--runs", str(runs), "--no-open"]) == 0
    farm = runs / ".leet" / "vit"
    links = sorted(farm.iterdir())
    assert len(links) == 7 and all(p.is_symlink() and not os.path.isabs(os.readlink(p)) for p in links)
    assert sorted(p.resolve() for p in links) == sorted(m.resolve() for m in made)
    assert "wandb leet" in capsys.readouterr().out and (runs / ".leet" / "config" / "wandb-leet.json").exists()
    import shutil

    for folder in made[:2]:
        shutil.rmtree(folder)
    dashboard.main(["vit", "--runs", str(runs), "--no-open"])
    assert len(list(farm.iterdir())) == 5  # rebuilt: no stale links
    assert not any(p.name == "summary.json" for p in runs.rglob("*"))  # nothing written into the run dirs
    assert dashboard.main(["resnet", "--runs", str(runs), "--no-open"]) == 2


@pytest.mark.slow
def test_leet_lists_the_linked_runs(tmp_path):
    """The real viewer, on a real offline run: it finds runs through the links (inspect reads one back)."""
    from tests.conftest import run_cli

    out = tmp_path / "runs"
    proc = run_cli("trainer=smoke", "norm=dyt", "model.kwargs.depth=1", "data.val_limit=512", f"runs_root={out}",
                   env={"WANDB_MODE": "offline"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert dashboard.main(["vit", "--runs", str(out), "--no-open"]) == 0
    link = next((out / ".leet" / "vit").iterdir())
    wandb = os.path.join(os.path.dirname(sys.executable), "wandb")
    inspected = subprocess.run([wandb, "leet", "inspect", "--summary", str(link)], capture_output=True, text=True,
                               timeout=1800)
    assert inspected.returncode == 0 and "dyt-a0.5+val_limit-512+depth-1+trainer-smoke" in inspected.stdout + inspected.stderr
