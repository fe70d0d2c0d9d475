"""``dyt.diagnose``: the static report, the init statistics, the probe and its prediction, bad input, the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import timm
import torch
from torch import nn

import dyt.diagnose
from dyt.diagnose import DiagnoseError, diagnose
from dyt.diagnose.experiment import own_name, split_overrides
from dyt.diagnose.arms import AlphaChoice
from dyt.diagnose.init_stats import init_stats
from dyt.diagnose.predict import MATCH_GAP, predict
from dyt.diagnose.probe import ArmResult
from dyt.diagnose.static import paper_alphas, static_report
from dyt.diagnose.validate import ARMS, outcome_of
from dyt.nn.gpt import GPT, GPTConfig
from tests.conftest import REPO


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one thread is faster than two, and far faster on a busy machine (no spinning workers)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_vit() -> nn.Module:
    torch.manual_seed(0)
    return timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=28, patch_size=7, depth=2,
                             embed_dim=32, num_heads=2, in_chans=1, num_classes=10)


class TwoLayer(nn.Module):
    """A user's own model: two LayerNorm'd hidden layers."""

    def __init__(self, n_in: int = 16, width: int = 32, n_out: int = 4, norm=nn.LayerNorm) -> None:
        super().__init__()
        self.fc1, self.norm1 = nn.Linear(n_in, width), norm(width)
        self.fc2, self.norm2 = nn.Linear(width, width), norm(width)
        self.head = nn.Linear(width, n_out)

    def forward(self, x):
        h = self.norm1(torch.relu(self.fc1(x)))
        return self.head(self.norm2(torch.relu(self.fc2(h)) * 4.0))


def toy_batch(step: int, n_in: int = 16, n_out: int = 4):
    """A learnable toy task: the class is the argmax of a fixed linear map of the input."""
    w = torch.randn(n_in, n_out, generator=torch.Generator().manual_seed(123))
    x = torch.randn(32, n_in, generator=torch.Generator().manual_seed(step))
    return x, (x @ w).argmax(1)


def image_batches(n: int):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(16, 1, 28, 28, generator=g), torch.randint(0, 10, (16,), generator=g)) for _ in range(n)]


# ------------------------------------------------------------------------------------------------ static


def test_static_report_of_a_timm_vit_names_every_norm_it_would_swap():
    s = static_report(tiny_vit(), output_size=10)
    assert s.norms == {"LayerNorm": 5}
    assert set(s.swaps) == {"blocks.0.norm1", "blocks.0.norm2", "blocks.1.norm1", "blocks.1.norm2", "norm"}
    assert set(s.swaps.values()) == {"LayerNorm -> DyT"}
    assert s.kind == "vision" and s.width is None
    assert set(s.alphas.values()) == {0.5}


def test_static_report_of_a_language_model_uses_the_width_rule_and_notes_the_embedding_scalar():
    model = GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=1, n_head=2, n_embd=32))
    s = static_report(model, output_size=40)
    assert s.kind == "lm" and s.width == 32
    assert "width rule" in s.alpha_rule
    assert any("learnable scalar" in n for n in s.notes)
    alphas, _ = paper_alphas(["blocks.0.norm_attn", "blocks.0.norm_mlp", "norm_final"], "lm", 4096, None)
    assert alphas == {"blocks.0.norm_attn": 0.8, "blocks.0.norm_mlp": 0.2, "norm_final": 0.2}  # the paper's table


def test_static_report_notes_zero_initialised_gains_and_batchnorm():
    model = timm.create_model("resnet18", pretrained=False, in_chans=1, num_classes=10, channels=(8, 8, 8, 8))
    s = static_report(model, output_size=10)
    assert list(s.norms) == ["BatchNorm2d"] and set(s.swaps.values()) == {"BatchNorm2d -> DyT2d"}
    assert any("zero_init_last" in n for n in s.notes) and any("BatchNorm" in n for n in s.notes)


# ------------------------------------------------------------------------------------------- init stats


def test_init_statistics_on_a_known_tensor_match_hand_computed_values():
    model = nn.Sequential(nn.Identity(), nn.LayerNorm(4))
    x = torch.tensor([[-6.0, -2.0, 2.0, 6.0]]).repeat(8, 1)
    stats = init_stats(model, x, {"1": 0.5})
    (layer,) = stats.layers
    std = math.sqrt((36 + 4 + 4 + 36) * 8 / 31)  # unbiased std over the 32 elements
    assert layer.std == pytest.approx(std, rel=1e-6)
    assert layer.sat == pytest.approx(0.5)  # |0.5 x| > 2 for |x| = 6: half the elements
    assert layer.alpha_cal == pytest.approx(1 / std, rel=1e-6)
    assert layer.sat_cal == 0.0  # |x / std| <= 6 / 5.08 < 2
    assert stats.spread == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------------ probe


def test_probe_of_a_custom_model_writes_curves_prediction_and_files(tmp_path):
    out = tmp_path / "two-layer"
    model = TwoLayer()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    d = dyt.diagnose(model, toy_batch, steps=12, alpha="calibrate", out=out, name="two-layer", progress=False)
    assert [a.name for a in d.arms] == ["ln", "dyt-a0.5", "dyt-cal1"]
    assert all(len(a.losses) == 12 and math.isfinite(a.end["loss"]) for a in d.arms)
    assert d.arms[2].calibrated is not None and set(d.arms[2].calibrated) == {"norm1", "norm2"}
    assert any(k.startswith("sat/") for k in d.arms[1].watched) and "alpha/norm1" in d.arms[1].watched
    assert d.chance["metric"] == "val/acc1"
    assert len(d.predictions) == 2
    for p in d.predictions:
        assert p.verdict in ("match", "lag", "collapse") and 0.5 <= p.confidence <= 0.95 and p.reasons
    assert d.recommendation["alpha"]
    assert sorted(p.name for p in out.iterdir()) == ["diagnose.png", "report.json", "report.md"]
    report = json.loads((out / "report.json").read_text())
    assert report["predictions"][0]["verdict"] == d.prediction.verdict
    assert "Will DyT work in two-layer?" in (out / "report.md").read_text()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the user's model untouched
    assert "likely to" in d.summary()


def test_probe_of_a_timm_vit_takes_a_list_of_batches_and_cycles_it():
    d = diagnose(tiny_vit(), image_batches(5), steps=4, eval_batches=2, progress=False)
    assert d.static.kind == "vision" and len(d.arms) == 2
    assert any("reused in a cycle" in n for n in d.notes)  # 5 batches for 4 steps + 2 held out


def test_the_rule_calls_collapse_at_the_chance_level_and_match_or_lag_by_the_gap():
    def arm(name, tail_loss, end):
        return ArmResult(name, "LN" if name == "ln" else "DyT alpha 1", "", name == "ln",
                         losses=[3.0] * 5 + [tail_loss] * 5, start={"loss": 3.0}, end=end)

    chance = {"metric": "val/loss", "value": 3.0, "acc1": 15.0}
    base = arm("ln", 2.0, {"loss": 2.0, "acc1": 40.0})
    flat = arm("dyt", 2.99, {"loss": 2.995, "acc1": 15.0})  # held out at the unigram level and argmax
    assert predict(base, flat, chance).verdict == "collapse"
    close = arm("dyt", 2.0 + MATCH_GAP / 2, {"loss": 2.02, "acc1": 39.0})
    assert predict(base, close, chance).verdict == "match"
    far = arm("dyt", 2.6, {"loss": 2.6, "acc1": 25.0})
    p = predict(base, far, chance)
    assert p.verdict == "lag" and p.gap == pytest.approx(0.6) and p.confidence == 0.95


def test_a_calibrated_arm_whose_inputs_grow_in_the_probe_gets_a_caution_not_a_different_verdict():
    from types import SimpleNamespace

    from dyt.diagnose.predict import DRIFT, Prediction, input_growth, recommend

    grown = ArmResult("dyt-cal1", "DyT calibrated alpha", "calibrate", False,
                      watched={"input_std/a": [0.05, 0.5, 2.0], "input_std/b": [0.1, 0.2], "alpha/a": [20.0, 20.0]})
    assert input_growth(grown) == pytest.approx(40.0)
    init = SimpleNamespace(geomean_alpha_cal=lambda: 1.0, layers=[SimpleNamespace(alpha=1.0)], spread=1.0)

    def why(growth, label="DyT calibrated alpha"):
        p = Prediction("dyt-cal1", label, "lag", 0.8, 0.2, features={"input_growth_max": growth})
        rec = recommend([p], init, "lm", 1e-3, False)
        return rec["verdict"], [w for w in rec["why"] if w.startswith("a caution")]

    verdict, caution = why(40.0)
    assert verdict == "lag" and len(caution) == 1 and "grew up to 40x" in caution[0]
    assert why(DRIFT / 2) == ("lag", []) and why(None) == ("lag", [])
    assert why(40.0, label="DyT alpha 1") == ("lag", [])  # the paper's alpha is not fitted to the init scale


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("case", ["no norms", "groupnorm", "nan loss", "wrong shape", "not a pair"])
def test_bad_input_raises_one_line_naming_the_fix_and_writes_nothing(tmp_path, case):
    model, batches, needle = TwoLayer(), toy_batch, ""
    if case == "no norms":
        model, needle = nn.Sequential(nn.Linear(16, 4)), "no norm layers"
    elif case == "groupnorm":
        model, needle = TwoLayer(norm=lambda c: nn.GroupNorm(4, c)), "GroupNorm"
    elif case == "nan loss":
        batches, needle = lambda step: (torch.full((8, 16), float("nan")), torch.zeros(8, dtype=torch.long)), "NaN"
    elif case == "wrong shape":
        batches, needle = lambda step: (torch.randn(8, 3), torch.zeros(8, dtype=torch.long)), "cannot take a batch"
    else:
        batches, needle = lambda step: torch.randn(8, 16), "pair (inputs, targets)"
    with pytest.raises(DiagnoseError) as err:
        diagnose(model, batches, steps=3, out=tmp_path / "out", progress=False)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("alpha, needle", [("calibrate:abc", "calibration target must be a number > 0"),
                                           ("calibrate:-1", "finite number > 0"), ("fast", "give a number > 0")])
def test_a_bad_alpha_is_one_diagnose_error(alpha, needle):
    with pytest.raises(DiagnoseError) as err:
        AlphaChoice.parse(alpha)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_zero_eval_batches_is_one_line_and_writes_nothing(tmp_path):
    with pytest.raises(DiagnoseError, match="eval batches must be >= 1"):
        diagnose(TwoLayer(), toy_batch, steps=3, eval_batches=0, out=tmp_path / "out", progress=False)
    assert not any(tmp_path.iterdir())


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "dyt.diagnose", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


def test_cli_wrong_batch_shape_exits_2_with_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "vit"
    proc = cli("--timm", "vit_tiny_patch16_224", "--model-kwargs", "depth=1", "embed_dim=32", "num_heads=2",
               "--steps", "2", "--out", str(out), "--no-progress", "--threads", "1")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot take a batch" in lines[0] and "img_size=28" in lines[0]
    assert not out.exists() and not any(tmp_path.iterdir())


def test_cli_help_documents_both_ways_in_and_validate():
    proc = cli("--help")
    assert proc.returncode == 0
    assert all(w in proc.stdout for w in ("--timm", "--experiment", "--alpha", "validate", "dyt.diagnose(model"))


# --------------------------------------------------------------------------- experiment path, validation


def test_experiment_overrides_split_between_the_arms():
    shared, arms = split_overrides(["model.kwargs.depth=2", "norm.alpha_init=2"], AlphaChoice())
    assert shared == ["model.kwargs.depth=2"] and arms == [["norm=dyt", "norm.alpha_init=2"]]
    shared, arms = split_overrides(["norm=derf", "optim.alpha_lr_mult=100"], AlphaChoice.parse("calibrate"))
    assert shared == [] and arms[1] == ["norm=derf", "optim.alpha_lr_mult=100", "norm.alpha_init=calibrate"]
    assert own_name("dyt-a0.5+batch_size-64", "ln+batch_size-64") == "dyt-a0.5"


def test_the_validation_table_holds_each_arm_once_with_a_source_and_both_kinds_of_arm():
    assert len({a.id for a in ARMS}) == len(ARMS)
    assert all(a.source and a.full_seconds > 0 for a in ARMS)
    assert {a.outcome for a in ARMS} == {"match", "lag", "collapse"}
    assert any(a.held_out for a in ARMS) and any(not a.held_out for a in ARMS)
    assert outcome_of("val/acc1", 86.06, 85.04, 0) == "lag" and outcome_of("val/acc1", 85.71, 86.81, 0) == "match"
    assert outcome_of("val/loss", 1.935, 3.03, 1) == "lag" and outcome_of("val/loss", 2.4, 3.2, 2) == "collapse"


def test_validate_scores_stored_reports_keeps_unchosen_arms_and_refuses_an_empty_table(tmp_path, capsys):
    from dyt.diagnose.validate_run import main as validate

    for arm_id in ("vit-cal", "gpt-dyt"):  # a real probe's report stands in for each arm's (12 steps, a tiny MLP)
        dyt.diagnose(TwoLayer(), toy_batch, steps=12, out=tmp_path / "validation" / arm_id, name=arm_id,
                     progress=False)
    assert validate(["--rescore", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "validation.json").read_text())
    rows = {r["id"]: r for r in summary["rows"]}
    assert list(rows) == ["vit-cal", "gpt-dyt"]  # the table's order; arms without a report are left out
    full = {a.id: a for a in ARMS}
    for arm_id, r in rows.items():
        assert r["outcome"] == full[arm_id].outcome and r["hit"] == (r["prediction"] == r["outcome"])
    hits = sum(r["hit"] for r in rows.values())
    assert summary["score"]["all"] == {"hits": hits, "n": 2, "rate": hits / 2, "text": f"{hits}/2 = {50 * hits:.0f}%"}
    assert summary["score"]["tuning"]["n"] == 2 and summary["score"]["held_out"]["n"] == 0
    assert f"hit rate, all arms: **{hits}/2" in (tmp_path / "validation.md").read_text()
    assert validate(["--rescore", "--arms", "gpt-dyt", "--out", str(tmp_path)]) == 0  # one arm rescored ...
    assert [r["id"] for r in json.loads((tmp_path / "validation.json").read_text())["rows"]] == ["vit-cal", "gpt-dyt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "validation.json").write_text("{}")
    capsys.readouterr()
    assert validate(["--rescore", "--out", str(empty)]) == 2
    assert "no arm was probed" in capsys.readouterr().err and (empty / "validation.json").read_text() == "{}"


def test_cli_experiment_path_probes_our_builders_and_writes_the_report(tmp_path):
    out = tmp_path / "gpt"
    proc = cli("--experiment", "gpt", "model.kwargs.n_layer=1", "model.kwargs.n_embd=32", "model.kwargs.n_head=2",
               "--alpha", "calibrate", "--steps", "6", "--eval-batches", "1", "--threads", "1", "--no-progress",
               "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert [a["name"] for a in report["arms"]][0] == "ln" and len(report["arms"]) == 3  # LN, paper alpha, calibrated
    assert all(len(a["losses"]) == 6 for a in report["arms"])
    assert sorted(p.name for p in out.iterdir()) == ["diagnose.png", "report.json", "report.md"]
    assert "likely to" in proc.stdout
    bad = cli("--experiment", "gtp", "--steps", "2", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()


def test_the_budget_line_reads_the_ladder_table_each_dyt_arm_first_to_last_rung(tmp_path):
    from dyt.diagnose.budget import budget_notes

    head = "model,arm,budget,steps,runs,completed,collapsed,mean,std,gap,gap_low,gap_high,train_val_gap\n"
    (tmp_path / "llama.csv").write_text(head + "\n".join([
        "llama,DyT (paper alpha),300,300,3,3,3,3.17,0.04,1.238,1.138,1.338,nan",
        "llama,DyT (paper alpha),1000,1000,3,3,0,2.52,0.16,0.8996,0.5026,1.2965,0.05",
        "llama,DyT (paper alpha),3000,3000,1,1,0,1.98,0,0.4738,nan,nan,0.12",
        "llama,DyT calibrated,300,300,3,3,0,2.90,0.17,0.968,0.546,1.390,0.01",  # one rung only: no line
        "llama,RMSNorm,300,300,3,3,0,1.93,0.01,nan,nan,nan,0.1",
        "llama,RMSNorm,3000,3000,2,2,0,1.50,0.01,nan,nan,nan,0.1"]) + "\n")
    (tmp_path / "gpt.csv").write_text(head + "gpt,DyT (alpha 2),300,300,3,3,3,3.255,0,0.84,0.79,0.89,nan\n"
                                      "gpt,DyT (alpha 2),1000,1000,3,3,3,3.254,0,1.35,1.34,1.37,nan\n"
                                      "gpt,LN,300,300,3,3,0,2.41,0.02,nan,nan,nan,nan\n")
    gpt, llama = budget_notes("lm", tmp_path)
    assert "gap to LN in nats" in gpt and "DyT (alpha 2) collapsed at 300 -> 1000 steps" in gpt
    assert "gap to RMSNorm" in llama and "DyT calibrated" not in llama
    assert "DyT (paper alpha) +1.24 [+1.14, +1.34] (collapsed) -> +0.47 (n=1) at 300 -> 3000 steps (shrinks)" in llama
    assert budget_notes("vision", tmp_path) == [] and budget_notes("diffusion") == []  # no vit.csv; no ladder
