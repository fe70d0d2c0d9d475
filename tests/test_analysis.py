"""dyt/analysis: LN hooks, the tanh fit, alpha vs 1/std from metrics.jsonl, arms vs a reference arm."""

import csv
import json
import math

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from dyt.reports.analysis import alpha_std, compare, scurve


def _pairs_sorted(x, y):
    order = np.argsort(x)
    return np.asarray(x)[order], np.asarray(y)[order]


@pytest.mark.parametrize("kind", ["layernorm", "rmsnorm"])
def test_hooks_record_the_normalized_output_before_the_affine(kind):
    torch.manual_seed(0)
    c = 12
    norm = nn.LayerNorm(c, eps=1e-5) if kind == "layernorm" else nn.RMSNorm(c, eps=1e-6)
    with torch.no_grad():  # a non-trivial affine, so "before the affine" is visible
        norm.weight.uniform_(0.5, 3.0)
        if getattr(norm, "bias", None) is not None:
            norm.bias.uniform_(-1, 1)
    model = nn.Sequential(nn.Linear(c, c), norm, nn.Linear(c, 3))
    x = 2 + 3 * torch.randn(5, 7, c)  # a mean offset, so centering matters for LayerNorm
    layers = scurve.record_points(model, x, max_points=10**6)
    assert [lp.name for lp in layers] == ["1"]
    lp = layers[0]
    h = model[0](x).detach()
    if kind == "layernorm":  # by hand: over the channel dim, biased variance, eps inside the root
        mean, var = h.mean(-1, keepdim=True), h.var(-1, unbiased=False, keepdim=True)
        manual = (h - mean) / torch.sqrt(var + 1e-5)
    else:
        manual = h / torch.sqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6)
    assert lp.numel == h.numel() == len(lp.x)
    got_x, got_y = _pairs_sorted(lp.x, lp.y)
    want_x, want_y = _pairs_sorted(h.flatten().numpy(), manual.flatten().numpy())
    np.testing.assert_allclose(got_x, want_x, rtol=0, atol=0)
    np.testing.assert_allclose(got_y, want_y, rtol=1e-5, atol=1e-5)
    _, after_affine = _pairs_sorted(h.flatten().numpy(), norm(h).detach().flatten().numpy())
    assert not np.allclose(got_y, after_affine, atol=1e-3)  # it is not the module's (affine) output
    assert lp.input_std == pytest.approx(float(h.std()), rel=1e-5)


def test_subsampling_keeps_pairs_together_and_hooks_are_removed():
    model = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 8), nn.LayerNorm(8))
    x = torch.randn(50, 8)
    layers = scurve.record_points(model, x, max_points=100, seed=3)
    assert [lp.name for lp in layers] == ["1", "3"] and all(len(lp.x) == 100 for lp in layers)
    h = model[0](x).detach()
    full = nn.functional.layer_norm(h, (8,))
    lookup = dict(zip(h.flatten().tolist(), full.flatten().tolist()))
    for xv, yv in zip(layers[0].x, layers[0].y):
        assert yv == pytest.approx(lookup[float(xv)], abs=1e-5)
    assert all(not m._forward_hooks for m in model.modules())


def test_a_timm_vit_gives_every_layernorm_shallow_to_deep():
    from tests.conftest import build
    from tests.conftest import compose

    model = build(compose("norm=ln"))
    layers = scurve.record_points(model, torch.randn(4, 1, 28, 28), max_points=500)
    names = [lp.name for lp in layers]
    assert names[0] == "blocks.0.norm1" and names[-1] == "fc_norm" and len(names) == 2 * 6 + 1


@pytest.mark.parametrize("a,b", [(0.7, 1.0), (2.5, 3.0), (0.05, 1.0)])
def test_tanh_fit_recovers_a_and_b_on_synthetic_data(a, b):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2.0, 20000)
    y = b * np.tanh(a * x) + rng.normal(0, 0.01 * b, x.size)
    fit = scurve.fit_tanh(x, y)
    if a * 2.0 > 0.3:  # the data reach the saturating part: a is identifiable
        assert fit.a == pytest.approx(a, rel=0.02) and fit.b == pytest.approx(b, rel=0.02)
        assert fit.r2 > 0.999 and fit.r2 > fit.r2_line
    else:  # nearly linear data: only the slope a * b is identified, and every point is "linear"
        assert fit.a * fit.b == pytest.approx(a * b, rel=0.02) and fit.frac_linear > 0.999
    u = np.abs(fit.a * x)
    assert fit.frac_linear == pytest.approx(np.mean(u < 1))
    assert fit.frac_squashed == pytest.approx(np.mean(u > 2))
    assert fit.frac_linear + fit.frac_transition + fit.frac_squashed == pytest.approx(1.0)


def test_tanh_fit_of_pure_tanh_is_exact():
    x = np.linspace(-5, 5, 2001)
    fit = scurve.fit_tanh(x, np.tanh(1.3 * x))
    assert fit.a == pytest.approx(1.3, rel=1e-4) and fit.b == pytest.approx(1.0, rel=1e-4) and fit.r2 > 0.999999
    assert fit.frac_linear == pytest.approx(np.mean(np.abs(1.3 * x) < 1), abs=1e-3)


def test_tables_and_figure_are_written(tmp_path):
    rng = np.random.default_rng(1)
    results = []
    for i, a in enumerate([0.2, 1.0, 3.0]):
        x = rng.normal(0, 1, 3000)
        lp = scurve.LayerPoints(f"blocks.{i}.norm1", x, np.tanh(a * x), 3000, 1.0, float(np.abs(x).max()))
        results.append((lp, scurve.fit_tanh(lp.x, lp.y)))
    rows = scurve.table_rows(results)
    scurve.write_table(rows, tmp_path / "t.csv", tmp_path / "t.md", "test")
    scurve.plot_grid(results, tmp_path / "t.png", "test")
    assert (tmp_path / "t.png").stat().st_size > 10_000
    table = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert [r["layer"] for r in table] == ["blocks.0.norm1", "blocks.1.norm1", "blocks.2.norm1"]
    assert float(table[2]["frac_squashed"]) > float(table[0]["frac_squashed"])
    assert "| 2 | `blocks.2.norm1` |" in (tmp_path / "t.md").read_text()


# ---------------------------------------------------------------- alpha vs 1/std

LAYERS = ["blocks.0.norm1", "blocks.0.norm2", "fc_norm"]


def _metrics_fixture(path, alpha_of_std=lambda s: 0.8 / s):
    rows = []
    for step in (10, 20, 30):
        row = {"step": step, "train/loss": 2.0 / step}
        for i, layer in enumerate(LAYERS):
            std = 0.5 + i + step / 100
            row[f"alpha/{layer}"] = alpha_of_std(std)
            row[f"input_std/{layer}"] = std
        rows.append(row)
        rows.append({"step": step, "val/loss": 1.0})  # an eval-only row: skipped
    rows.append({"step": 40, "train/loss": 0.1, "alpha/fc_norm": 0.3})  # alpha without input_std: skipped
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_alpha_std_reads_metrics_and_correlates(tmp_path):
    _metrics_fixture(tmp_path / "run")
    points = alpha_std.read_alpha_std(tmp_path / "run")
    assert len(points.steps) == 9 and points.layers[:3] == LAYERS and list(points.layer_index[:3]) == [0, 1, 2]
    np.testing.assert_allclose(points.alpha, 0.8 * points.inv_std)
    r = alpha_std.correlations(points)
    assert r["final_step"] == 30 and r["layers"] == 3 and r["points"] == 9
    assert r["r_final_layers"] == pytest.approx(1.0) and r["r_all"] == pytest.approx(1.0)
    assert r["r_over_training_median"] == pytest.approx(1.0)


def test_alpha_std_anticorrelated_and_files(tmp_path):
    _metrics_fixture(tmp_path / "runs" / "a" / "seed0", alpha_of_std=lambda s: s)  # alpha = std: r < 0 vs 1/std
    _metrics_fixture(tmp_path / "runs" / "a" / "seed1")
    (tmp_path / "runs" / "ln" / "seed0").mkdir(parents=True)
    (tmp_path / "runs" / "ln" / "seed0" / "metrics.jsonl").write_text(json.dumps({"step": 1, "train/loss": 1}) + "\n")
    found = alpha_std.find_runs([tmp_path / "runs"])
    assert [p.name for p in found] == ["seed0", "seed1"]  # the LN run has no input_std: not found
    rows = alpha_std.alpha_vs_std(found, tmp_path / "out")
    assert rows[0]["r_final_layers"] < -0.9 and rows[1]["r_final_layers"] == pytest.approx(1.0)
    assert rows[-1]["run"] == "pooled (all runs)" and rows[-1]["points"] == 18
    assert (tmp_path / "out" / "alpha_std.png").stat().st_size > 10_000
    assert len(list(csv.DictReader(open(tmp_path / "out" / "alpha_std.csv")))) == 3
    with pytest.raises(FileNotFoundError, match="input_std"):
        alpha_std.alpha_vs_std([tmp_path / "runs" / "ln" / "seed0"], tmp_path / "out")


# ---------------------------------------------------------------- arms vs a reference arm

def _fake_run(root, norm, tag, seed, acc, status="completed", alpha_init=0.5):
    run = root / tag / f"seed{seed}"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"name": "ablation", "seed": seed,
                                                     "norm": {"name": norm, "tag": tag, "alpha_init": alpha_init}}))
    (run / "metrics.jsonl").write_text(json.dumps({"step": 5, "train/loss": 1.0}) + "\n")
    summary = {"status": status, "step": 5 if status == "completed" else 3, "final/val/acc1": acc, "final/val/loss": 1.0}
    if status != "completed":
        summary.pop("final/val/acc1")
    (run / "summary.json").write_text(json.dumps(summary))


def test_compare_gives_verdicts_against_the_paper(tmp_path):
    root = tmp_path / "runs"
    for seed, (t, h, s) in enumerate([(80.0, 78.0, 80.1), (80.5, 78.4, 79.7), (79.8, 77.9, 80.3)]):
        _fake_run(root, "dyt", "dyt-a0.5", seed, t)
        _fake_run(root, "hardtanh", "hardtanh-a0.5", seed, h)
        _fake_run(root, "sigmoid", "sigmoid-a0.5", seed, s)
        _fake_run(root, "identity", "identity-a0.5", seed, 10.0, status="diverged" if seed < 2 else "completed")
    rows = {r["arm"]: r for r in compare.compare([root], "dyt", "ablation")}
    assert rows["dyt-a0.5"]["vs_paper"] == "reference" and rows["dyt-a0.5"]["paper"] == 82.5
    assert rows["hardtanh-a0.5"]["vs_paper"].startswith("same sign as the paper")  # worse than tanh, as in the paper
    assert rows["hardtanh-a0.5"]["paper_delta_vs_ref"] == pytest.approx(-0.3)
    assert rows["sigmoid-a0.5"]["vs_paper"].startswith("no significant difference")
    assert rows["identity-a0.5"]["vs_paper"] == "paper diverged; ours: 2/3 diverged"
    assert rows["identity-a0.5"]["paper"] == "diverged"
    compare.write(list(rows.values()), tmp_path / "out" / "vs", "val/acc1", "t", "cmd")
    text = (tmp_path / "out" / "vs.md").read_text()
    assert "| `identity-a0.5` | 3 (1, 2, diverged at step 3, 3) |" in text
    assert math.isfinite(float(next(csv.DictReader(open(tmp_path / "out" / "vs.csv")))["mean"]))
    with pytest.raises(FileNotFoundError, match="reference"):
        compare.compare([root], "ln", "ablation")


def test_compare_gives_no_paper_number_to_an_arm_with_another_alpha_init(tmp_path):
    root = tmp_path / "runs"
    for seed, (a, c) in enumerate([(65.0, 75.0), (66.0, 76.0), (65.5, 75.5)]):
        _fake_run(root, "dyt", "dyt-a0.5", seed, a)
        _fake_run(root, "hardtanh", "hardtanh-cal1", seed, c, alpha_init="calibrate")
        _fake_run(root, "ln", "ln", seed, 80.0 + seed)
    rows = {r["arm"]: r for r in compare.compare([root], "dyt", "ablation", by_norm={"dyt": 82.5, "hardtanh": 82.2,
                                                                                     "ln": 82.3})}
    assert rows["hardtanh-cal1"]["paper"].startswith("n/a (alpha init differs")
    assert rows["hardtanh-cal1"]["vs_paper"] == "no paper number"
    assert rows["ln"]["paper"] == 82.3  # a norm without alpha keeps its number


def test_input_stds_record_the_true_std_only_while_armed():
    from torch import nn

    from dyt import DyT
    from dyt.run.trainer.diagnostics import Diagnostics

    torch.manual_seed(0)
    model = nn.Sequential(DyT(8), nn.Linear(8, 8), DyT(8))
    stds = Diagnostics(model)
    x = 3.0 * torch.randn(64, 8)
    model(x)
    assert stds.collect() == {}  # not armed: no hooks, nothing recorded
    stds.watch()
    hidden = model[1](model[0](x))
    model(x)
    values = stds.collect()
    assert values["input_std/0"] == pytest.approx(x.std().item(), rel=1e-6)
    assert values["input_std/2"] == pytest.approx(hidden.std().item(), rel=1e-5)
    assert all(not m._forward_hooks for m in model.modules())  # collect() removed the hooks
