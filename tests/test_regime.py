"""Where DyT catches up: the diagnostics every DyT run logs, collapse detection, and the interventions' switches."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from dyt import DyT, DyT2d
from dyt.run.data.chance import chance_level, collapsed
from dyt.run.job import run
from dyt.run.optim import build_optimizer
from dyt.run.trainer.diagnostics import LOGGED, PER_LAYER, Diagnostics, saturation
from dyt.reports.verdict import compare, verdict
from tests.conftest import build, compose, metrics


def test_saturation_share_on_a_known_tensor():
    layer = DyT(4, alpha_init=2.0)
    x = torch.tensor([[0.5, 0.9, 1.1, -1.5], [0.0, -0.99, 1.01, 3.0]])  # |2x| > 2 where |x| > 1: 4 of 8
    assert saturation(layer, x).item() == pytest.approx(0.5)
    per_channel = DyT2d(2, alpha_init=1.0, alpha_per_channel=True)
    with torch.no_grad():
        per_channel.alpha.copy_(torch.tensor([1.0, 10.0]))
    x = torch.full((1, 2, 2, 2), 0.5)  # channel 0: |0.5| < 2; channel 1: |5| > 2
    assert saturation(per_channel, x).item() == pytest.approx(0.5)


def test_diagnostics_record_saturation_and_the_residual_stream_only_while_watching():
    torch.manual_seed(0)
    model = build(compose("norm=dyt", "model.kwargs.depth=2"))
    diag = Diagnostics(model)
    x = torch.randn(8, 1, 28, 28)
    model(x)
    assert diag.collect() == {}
    diag.watch()
    model(x)
    values = diag.collect()
    assert {k.split("/")[0] + "/" for k in values} == {"input_std/", "sat/", "resid_std/"}
    assert {k for k in values if k.startswith("resid_std/")} == {"resid_std/blocks.0", "resid_std/blocks.1"}
    assert all(0.0 <= v <= 1.0 for k, v in values.items() if k.startswith("sat/"))
    assert all(not m._forward_hooks for m in model.modules())


def test_the_alpha_group_gets_the_multiplied_learning_rate_and_its_own_decay():
    cfg = compose("experiment=llama", "norm=dyt", "optim.alpha_lr_mult=100", "optim.decay_alpha=false")
    model = build(cfg, num_classes=65)
    opt = build_optimizer(model, cfg.optim, lr=1e-3)
    alpha = next(g for g in opt.param_groups if g["names"] and all(n.endswith(".alpha") for n in g["names"]))
    n_dyt = sum(isinstance(m, DyT) for m in model.modules())
    assert len(alpha["params"]) == n_dyt and alpha["lr"] == pytest.approx(0.1) and alpha["weight_decay"] == 0.0
    others = [g for g in opt.param_groups if g is not alpha]
    assert all(g["lr"] == pytest.approx(1e-3) for g in others)
    assert cfg.optim.decay_1d and any(g["weight_decay"] > 0 and any(n.endswith("weight") and "norm" in n
                                                                    for n in g["names"]) for g in others)
    plain = build_optimizer(model, compose("experiment=llama", "norm=dyt").optim, lr=1e-3)
    assert len(plain.param_groups) == 2  # the default keeps two groups: checkpoints of earlier runs still load


@pytest.mark.parametrize("mlp,fc_out", [("gelu", 4 * 128), ("swiglu", 2 * 352), ("auto", 2 * 352)])
def test_the_mlp_switch_builds_gelu_or_swiglu_with_about_the_same_parameter_count(mlp, fc_out):
    model = build(compose("experiment=llama", "norm=dyt", f"model.kwargs.mlp={mlp}"), num_classes=65)
    fc = model.blocks[0].mlp.fc
    assert fc.out_features == fc_out and model.blocks[0].mlp.swiglu == (mlp != "gelu")
    out = model(torch.randint(0, 65, (2, 16)))
    assert out.shape == (2, 16, 65)
    base = sum(p.numel() for p in build(compose("experiment=llama", "norm=dyt"), num_classes=65).parameters())
    assert abs(sum(p.numel() for p in model.parameters()) - base) / base < 0.03  # SwiGLU width rounded to 16


def test_chance_level_and_collapse():
    cfg = compose("experiment=gpt")
    from dyt.run.data import build_data

    level = chance_level(build_data(cfg), cfg.data.val_limit)
    assert level["metric"] == "val/loss" and level["value"] == pytest.approx(3.2537, abs=1e-3)  # the GPT DyT plateau
    assert collapsed({"final/val/loss": 3.255}, level) and not collapsed({"final/val/loss": 2.42}, level)
    vit = compose("experiment=vit")
    assert chance_level(build_data(vit), 2000) == {"metric": "val/acc1", "value": pytest.approx(10.4, abs=1.0)}
    assert collapsed({"final/val/acc1": 10.5}, {"metric": "val/acc1", "value": 10.0})


def test_collapsed_runs_never_make_a_match_or_a_gain():
    both = compare([3.254, 3.2539, 3.2541], [3.2537, 3.2536, 3.2538], "val/loss", False, collapsed=(3, 3))
    for expect in ("match", "better", "worse", "neutral"):
        assert verdict(both, expect).startswith("inconclusive: both arms collapsed")
    one = compare([2.40, 2.42, 2.41], [3.254, 3.2539, 3.2541], "val/loss", False, collapsed=(0, 3))
    assert verdict(one, "match", "dyt") == "**not reproduced**: 3 of 3 runs of dyt collapsed to the chance level"
    assert verdict(one, "neutral", "dyt") == "**dyt: 3 of 3 runs collapsed to the chance level**"
    partial = compare([2.40, 2.41, 2.42], [2.41, 2.42, 3.2537], "val/loss", False, collapsed=(0, 1))  # 1 of 3 seeds
    assert verdict(partial, "match", "dyt") == "**not reproduced**: 1 of 3 runs of dyt collapsed to the chance level"
    base = compare([3.25, 3.251, 3.252], [2.5, 2.51, 2.52], "val/loss", False, collapsed=(3, 0))
    for expect in ("match", "better", "worse"):
        assert verdict(base, expect) == "inconclusive: 3 of 3 runs of the baseline collapsed to the chance level"
    assert verdict(base, "neutral", "LN", "dyt") == "dyt collapsed to the chance level in 3 of 3 runs"  # names it
    mostly = compare([3.25, 3.251, 3.252], [3.25, 3.251, 2.9], "val/loss", False, collapsed=(3, 2))
    assert verdict(mostly, "match").startswith("inconclusive")


def test_a_dyt_run_logs_its_diagnostics_and_its_chance_level(smoke_cfg, tmp_path):
    summary = run(smoke_cfg("experiment=gpt", "norm=dyt", "trainer.max_steps=4", "trainer.log_every=2"))
    assert summary["chance"]["metric"] == "val/loss" and summary["collapsed"] in (True, False)
    rows = metrics(tmp_path / "run")
    keys = {k for r in rows for k in r if k != "step"}
    assert {k for k in keys if "/" not in k or k.split("/")[0] + "/" not in PER_LAYER} <= set(LOGGED)
    assert {"sat/blocks.0.norm_attn", "resid_std/blocks.3", "alpha/norm_final", "input_std/norm_final"} <= keys
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    from dyt.run.data import build_data

    cfg = smoke_cfg("experiment=gpt")
    assert saved["chance"]["value"] == pytest.approx(chance_level(build_data(cfg), cfg.data.val_limit)["value"])


def _regime_fixture(root, gaps: dict[int, float], noise=(0.0, 0.3, -0.3)):
    """ViT runs of the ladder: LN at 86 % everywhere, every other arm ``gaps[epochs]`` points below it."""
    import yaml
    from omegaconf import OmegaConf

    from dyt.reports.regime.plan import LADDERS

    ladder = LADDERS["vit"]
    for arm, overrides in ladder.arms.items():
        for budget in ladder.budgets:
            cfg = OmegaConf.to_container(compose("experiment=vit", *overrides, *ladder.budget_override(budget)),
                                         resolve=True)
            for seed in ladder.seeds_at(budget):
                run = root / "vit" / cfg["arm"] / f"seed{seed}"
                run.mkdir(parents=True)
                (run / "config.yaml").write_text(yaml.safe_dump({**cfg, "seed": seed}))
                acc = 86.0 - (0 if arm == "LN" else gaps[budget]) + noise[seed]
                (run / "summary.json").write_text(json.dumps({"status": "completed", "max_steps": 234 * budget,
                                                              "step": 234 * budget, "final/val/acc1": acc}))


def test_the_regime_plan_gives_each_budget_its_own_runs():
    from dyt.reports.regime.plan import commands

    lines = commands("vit")
    assert lines[0] == "python -m dyt.train -m experiment=vit norm=ln,dyt,dyt_cal seed=0,1,2"  # = make reproduce-vit
    assert "python -m dyt.train -m experiment=vit norm=ln,dyt,dyt_cal trainer.epochs=10 seed=0,1" in lines
    assert any("optim.alpha_lr_mult=100 trainer.epochs=1 seed=0,1,2" in line for line in lines)
    assert compose("experiment=vit", "trainer.epochs=10").arm == "ln+epochs-10"  # its own run dir and schedule


def test_the_regime_report_finds_a_shrinking_gap_and_its_crossover(tmp_path):
    from dyt.reports.regime.analysis import cells, crossover, gap
    from dyt.reports.regime.plan import LADDERS
    from dyt.reports.regime.report import report

    _regime_fixture(tmp_path / "runs", {1: 9.0, 3: 6.0, 10: 3.0})
    ladder = LADDERS["vit"]
    table = cells(ladder, tmp_path / "runs")
    assert table[("DyT (alpha 0.5)", 10)].steps == 2340 and len(table[("DyT (alpha 0.5)", 10)].values) == 2
    g, lo, hi = gap(ladder, table[("DyT (alpha 0.5)", 3)], table[("LN", 3)])
    assert g == pytest.approx(6.0) and lo < 6.0 < hi
    cross = crossover(ladder, "DyT (alpha 0.5)", table)
    assert cross["slope"] < 0 and cross["text"].startswith("crossover near") and 4000 < cross["steps"] < 15000
    flat = tmp_path / "flat"
    _regime_fixture(flat, {1: 6.0, 3: 6.0, 10: 6.0})
    assert crossover(ladder, "DyT (alpha 0.5)", cells(ladder, flat))["text"].startswith("no crossover within 10×")
    readme = report(["vit", "gpt"], tmp_path / "runs", tmp_path / "out").read_text()
    assert "| DyT (alpha 0.5) | 10 | 2340 | 83.15 ± 0.21 (n = 2) | +3 [+2.09, +3.91] |" in readme
    assert "| 3 | 12 / 18 | — |" in readme and "| 10 | 8 / 8 | — |" in readme  # progress: the interventions are not run
    assert "not run (no runs under" in readme.split("## gpt")[1]
    assert (tmp_path / "out" / "vit.png").stat().st_size > 10_000 and (tmp_path / "out" / "vit.csv").exists()
