"""Where DyT catches up: the diagnostics every DyT run logs, collapse detection, and the interventions' switches."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert level["acc1"] == pytest.approx(15.41, abs=0.01)  # always answering the space character
    vit = compose("experiment=vit")
    assert chance_level(build_data(vit), 2000) == {"metric": "val/acc1", "value": pytest.approx(10.4, abs=1.0)}
    assert collapsed({"final/val/acc1": 10.5}, {"metric": "val/acc1", "value": 10.0})


def test_a_language_model_at_the_unigram_answer_or_worse_than_it_is_collapsed(tmp_path):
    """The LLaMA DyT arms: loss 3.17 (below the unigram 3.2537) but accuracy exactly the unigram argmax's (15.41%):
    collapsed; a run worse than the unigram model (3.357) too; a learning run (2.42, 30%) not."""
    from dyt.reports.runs import load_runs

    level = {"metric": "val/loss", "value": 3.2537, "acc1": 15.41}
    assert collapsed({"final/val/loss": 3.173, "final/val/acc1": 15.4099}, level)
    assert collapsed({"final/val/loss": 3.357, "final/val/acc1": 14.2}, level)  # worse than chance
    assert not collapsed({"final/val/loss": 2.42, "final/val/acc1": 30.1}, level)
    assert not collapsed({"final/val/loss": 3.17, "final/val/acc1": 16.2}, level)  # learns a little: beyond the argmax
    assert collapsed({"final/val/loss": 3.17}, {"metric": "val/loss", "value": 3.2537}) is False  # no accuracy level
    # reports judge old runs by today's rule, the accuracy level taken from a newer run of the same data
    for name, loss, acc, chance in (("old", 3.173, 15.4099, {"metric": "val/loss", "value": 3.2537}),
                                    ("new", 2.42, 30.0, level)):
        run = tmp_path / "llama" / name / "seed0"
        run.mkdir(parents=True)
        (run / "config.yaml").write_text(f"name: llama\nseed: 0\narm: {name}\nnorm: {{name: dyt}}\n")
        (run / "summary.json").write_text(json.dumps({"status": "completed", "final/val/loss": loss, "chance": chance,
                                                      "final/val/acc1": acc, "collapsed": False}))
    runs = {r.arm: r for r in load_runs(tmp_path / "llama")}
    assert runs["old"].collapsed and not runs["new"].collapsed


def test_a_match_needs_equivalence_not_a_non_significant_test():
    """"DyISRU matches DyT" rested on p = 0.25 with n = 3: without TOST inside the margin it is inconclusive."""
    loose = compare([2.547, 2.539, 2.555], [2.563, 2.548, 2.578], "val/loss", False)  # Δ +0.016, wide spread
    assert not loose.significant and not loose.equivalent
    assert verdict(loose, "match", "dyisru").startswith("inconclusive: no significant difference at the 5% level, "
                                                         "but equivalence within ±0.02 is not shown (TOST p = ")
    tight = compare([2.5470, 2.5475, 2.5465], [2.5480, 2.5470, 2.5490], "val/loss", False)
    assert tight.equivalent and verdict(tight, "match").startswith("reproduced: equivalent within ±0.02 (TOST p = ")
    acc = compare([86.0, 86.2, 85.9], [85.9, 86.1, 86.0], "val/acc1")  # 0.5 points of accuracy
    assert acc.margin == 0.5 and verdict(acc, "match").startswith("reproduced: equivalent within ±0.5")
    far = compare([86.0, 86.2, 85.9], [80.0, 80.3, 80.1], "val/acc1")
    assert verdict(far, "match", "dyt") == "**not reproduced**: dyt significantly worse at the 5% level"


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
    for arm in ladder.arms:
        for budget in ladder.rungs(arm):
            cfg = OmegaConf.to_container(compose("experiment=vit", *ladder.overrides(arm),
                                                 *ladder.budget_override(budget)), resolve=True)
            for seed in ladder.seeds(arm, budget)[:2 if budget == 10 else 3]:
                run = root / "vit" / cfg["arm"] / f"seed{seed}"
                run.mkdir(parents=True)
                (run / "config.yaml").write_text(yaml.safe_dump({**cfg, "seed": seed}))
                acc = 86.0 - (0 if arm == "LN" else gaps[budget]) + noise[seed]
                (run / "summary.json").write_text(json.dumps({"status": "completed", "max_steps": 234 * budget,
                                                              "step": 234 * budget, "final/val/acc1": acc}))


def test_the_regime_plan_gives_each_budget_its_own_runs():
    from dyt.reports.regime.plan import commands, planned_runs, runs

    lines = commands("vit")
    assert lines[0] == "python -m dyt.train -m experiment=vit norm=ln seed=0,1,2"  # = make reproduce-vit's LN arm
    assert "python -m dyt.train -m experiment=vit norm=dyt norm.alpha_init=2 trainer.epochs=10 seed=0,1,2 " \
           "trainer.eval_every=234" in lines
    assert compose("experiment=vit", "trainer.epochs=10").arm == "ln+epochs-10"  # its own run dir and schedule
    gpt = planned_runs("gpt")
    assert [r.seed for r in gpt if r.label == "DyT (paper alpha)"] == [0, 0, 0, 1, 2]  # one seed per rung (it collapses), 3 at 3000 steps (it left the plateau)
    assert {r.budget for r in gpt if r.label == "LN, dropout 0.2"} == {3000}  # the control: top rung only
    llama = planned_runs("llama")
    assert [len([r for r in llama if r.label == "RMSNorm" and r.budget == b]) for b in (300, 1000, 3000)] == [3, 2, 2]
    order = runs(["vit", "gpt", "llama"])  # every model's default rung before any longer one
    first_long = next(i for i, r in enumerate(order) if r.budget not in (3, 300))
    assert all(r.budget in (3, 300) for r in order[:first_long]) and order[-1].budget in (10, 3000)
    assert order[0].line == "experiment=vit norm=ln seed=0"  # the longest run of the first rung first
    assert compose(*order[0].overrides).arm == "ln" and compose(*gpt[-1].overrides).arm.endswith("+max_steps-3000")


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
    assert "| 3 | 12 / 12 | — |" in readme and "| 10 | 8 / 12 | — |" in readme  # progress: 2 of 3 seeds at 10
    assert "not run (no runs under" in readme.split("## gpt")[1]
    assert (tmp_path / "out" / "vit.png").stat().st_size > 10_000 and (tmp_path / "out" / "vit.csv").exists()


def test_the_power_law_never_crosses_and_the_top_rung_is_judged_by_tost(tmp_path):
    """The two readings beside the line: a gap shrinking by a constant factor gets its exponent and the budget
    where it falls under the equivalence margin; the top rung is equivalent only when TOST shows it."""
    from dyt.reports.regime.analysis import cells, power_law, top_rung
    from dyt.reports.regime.plan import LADDERS

    ladder = LADDERS["vit"]
    _regime_fixture(tmp_path / "a", {1: 9.0, 3: 6.0, 10: 3.0})
    table = cells(ladder, tmp_path / "a")
    law = power_law(ladder, "DyT (alpha 0.5)", table)
    assert 0.3 < law["k"] < 0.7 and law["margin_steps"] > 10 * 2340 and "never 0" in law["text"]
    top = top_rung(ladder, "DyT (alpha 0.5)", table)
    assert top["steps"] == 2340 and not top["equivalent"] and top["text"].startswith("at the top rung (2340 steps, gap +3)")
    _regime_fixture(tmp_path / "b", {1: 2.0, 3: 1.0, 10: 0.05}, noise=(0.0, 0.05, -0.05))
    close = cells(ladder, tmp_path / "b")
    assert top_rung(ladder, "DyT (alpha 0.5)", close)["equivalent"]
    assert "by the top rung already" in power_law(ladder, "DyT (alpha 0.5)", close)["text"]
    _regime_fixture(tmp_path / "c", {1: 2.0, 3: 1.0, 10: -0.5})
    assert power_law(ladder, "DyT (alpha 0.5)", cells(ladder, tmp_path / "c"))["text"].startswith("no power law")
    from dyt.reports.evaluators import Context, budget_trend

    ours, _, verdict = budget_trend(Context(tmp_path / "a", tmp_path, "vit"))
    assert ours.endswith("2340 steps: +3 [+2.09, +3.91]") and verdict.startswith("reproduced: the gap shrinks; by a line")
    assert "never 0" in verdict and "not shown equivalent to LN" in verdict


def test_dyts_layers_are_tabled_at_every_budget(tmp_path):
    """The internals table has a row per DyT arm and budget, from the last logged row of each run."""
    from dyt.reports.regime.plan import LADDERS
    from dyt.reports.regime.report import internals

    _regime_fixture(tmp_path, {1: 9.0, 3: 6.0, 10: 3.0})
    for epochs, sat in ((1, 0.3), (10, 0.5)):
        for run in (tmp_path / "vit").glob(f"dyt-a0.5{'+epochs-10' if epochs == 10 else '+epochs-1'}/seed*"):
            (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "sat/a": sat, "sat/b": sat + 0.2,
                                                           "alpha/a": 0.5, "alpha/b": 0.7 + epochs / 100,
                                                           "resid_std/0": 1.0, "resid_std/1": 4.0}) + "\n")
    rows = internals(LADDERS["vit"], tmp_path)
    assert rows[0].startswith("| arm | budget (epochs) | runs |")
    assert "| DyT (alpha 0.5) | 1 | 3 | 0.400 (0.500) | 0.5–0.71 | 4× |" in rows
    assert "| DyT (alpha 0.5) | 10 | 2 | 0.600 (0.700) | 0.5–0.8 | 4× |" in rows and len(rows) == 4


def test_the_ladder_keeps_the_run_dirs_its_records_have():
    """The ladder trains across sessions, so a naming change under it would orphan its records and retrain them:
    every seed-0 run of the plan composes to the dir tests/regime_run_dirs.txt pins."""
    from dyt.reports.regime.plan import runs

    pinned = [ln for ln in (Path(__file__).parent / "regime_run_dirs.txt").read_text().splitlines()
              if not ln.startswith("#")]
    assert [compose(*r.overrides).out_dir for r in runs(["vit", "gpt", "llama"]) if r.seed == 0] == pinned
