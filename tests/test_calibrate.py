"""norm.alpha_init=calibrate: alpha = target / std(input), layer by layer, nothing else touched."""

import json

import pytest
import torch
from torch import nn

from dyt.nn.layers import DyT, DyT2d, dyt_layers
from dyt.run.alpha import parse_alpha_init
from dyt.run.calibrate import calibrate_alphas
from dyt.run.errors import ConfigError
from dyt.run.job import run
from tests.conftest import build, compose, run_cli


def _inputs_of_dyt_layers(model, x):
    seen = {}
    hooks = [m.register_forward_pre_hook(lambda mod, args, name=name: seen.setdefault(name, args[0].detach()))
             for name, m in dyt_layers(model)]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


class ConvNet(nn.Module):
    """BatchNorm (with running stats) next to per-channel DyT2d and a scalar-alpha DyT."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.dyt_pc = DyT2d(8, alpha_per_channel=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.dyt = DyT2d(8)
        self.head = nn.Linear(8, 4)
        self.final = DyT(4)

    def forward(self, x):
        x = self.dyt_pc(self.bn(self.conv(x)) * 3.0)
        x = self.dyt(self.conv2(x)).mean((2, 3))
        return self.final(self.head(x))


@pytest.mark.parametrize("target", [1.0, 2.5])
def test_each_layer_alpha_times_input_std_equals_the_target(target):
    torch.manual_seed(0)
    cfg = compose("experiment=vit", "norm=dyt")
    model = build(cfg)
    x = torch.randn(64, 1, 28, 28)
    alphas = calibrate_alphas(model, x, target)
    inputs = _inputs_of_dyt_layers(model, x)  # a second pass sees the calibrated inputs
    assert len(alphas) == len(inputs) == 13  # 6 blocks x 2 + fc_norm
    for name, m in dyt_layers(model):
        assert alphas[name] == pytest.approx(m.alpha.item())
        assert m.alpha.item() * inputs[name].double().std().item() == pytest.approx(target, rel=1e-4)


def test_per_channel_alpha_is_calibrated_per_channel_and_nothing_else_moves():
    torch.manual_seed(0)
    model = ConvNet()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(16, 3, 8, 8)
    calibrate_alphas(model, x, 1.0)
    assert model.training  # mode restored
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"dyt_pc.alpha", "dyt.alpha", "final.alpha"}  # BN running stats untouched
    seen = _inputs_of_dyt_layers(model, x)["dyt_pc"].double()
    per_channel_std = seen.transpose(0, 1).reshape(8, -1).std(dim=1)
    torch.testing.assert_close(model.dyt_pc.alpha.double() * per_channel_std, torch.ones(8, dtype=torch.float64),
                               rtol=1e-4, atol=0)


def test_calibration_is_deterministic_for_a_seed(tmp_path):
    results = []
    for k in range(2):
        cfg = compose("experiment=vit", "norm=dyt_cal", "trainer=smoke", "trainer.max_steps=1", "logger=none",
                      "data.val_limit=1000", f"out_dir={tmp_path / str(k)}")
        run(cfg)
        results.append(json.loads((tmp_path / str(k) / "calibration.json").read_text()))
    assert results[0] == results[1]
    assert results[0]["target"] == 1.0 and len(results[0]["alphas"]) == 13


def test_a_model_without_dyt_is_left_unchanged():
    model = build(compose("experiment=vit", "norm=ln"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert calibrate_alphas(model, torch.randn(4, 1, 28, 28)) == {}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_alpha_init_is_parsed_in_one_place():
    assert parse_alpha_init(0.5).kind == "value" and parse_alpha_init(0.5).value == 0.5
    assert parse_alpha_init("auto").kind == "auto" and parse_alpha_init("1").tag == "a1"
    assert (parse_alpha_init("calibrate").value, parse_alpha_init("calibrate:2").value) == (1.0, 2.0)
    assert parse_alpha_init("calibrate:2.0").tag == parse_alpha_init("calibrate:2").tag == "cal2"
    for bad in ("calibrate:", "calibrate:x", "calibrate:-1", "calibrated"):
        with pytest.raises(ConfigError, match="calibrate"):
            parse_alpha_init(bad)
    for bad in ("0", "-1", "nan", "inf", "abc", True):
        with pytest.raises(ConfigError, match="must be a number > 0"):
            parse_alpha_init(bad)
    with pytest.raises(ConfigError, match="calibrate:1"):
        build(compose("experiment=vit", "norm=dyt", "norm.alpha_init=calibrate:0"))


def test_bad_calibration_target_via_the_cli_is_one_line(tmp_path):
    proc = run_cli("norm=dyt", "norm.alpha_init=calibrate:x", "trainer=smoke", "logger=none", f"out_dir={tmp_path}/r")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "calibrate:2" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("experiment", ["vit", "gpt", "llama", "resnet"])
def test_smoke_run_with_calibrate_records_its_alphas_and_resumes_without_recalibrating(experiment, tmp_path):
    out = tmp_path / "run"
    common = (f"experiment={experiment}", "norm=dyt", "norm.alpha_init=calibrate", "trainer=smoke", "logger=none",
              "data.val_limit=2000", f"out_dir={out}")
    summary = run(compose(*common, "trainer.max_steps=4"))
    assert summary["status"] == "completed"
    record = json.loads((out / "calibration.json").read_text())
    assert summary["calibration"] == record
    assert "calibrated" in summary["alpha_init_note"]
    assert all(a > 0 for a in record["alphas"].values())
    (out / "calibration.json").write_text(json.dumps({"target": 1.0, "alphas": {"marker": 1.0}}))
    resumed = run(compose(*common, "trainer.max_steps=8", "trainer.extend=true"))  # the record is read, not redone
    assert resumed["step"] == 8 and resumed["calibration"]["alphas"] == {"marker": 1.0}


def test_calibration_refuses_explicit_per_position_alphas_and_tags_by_target():
    from dyt.run.errors import ConfigError
    from dyt.run.spec import build_spec

    with pytest.raises(ConfigError, match="drop norm.alpha_attn"):
        build_spec(compose("experiment=gpt", "norm=dyt_cal", "norm.alpha_attn=1"))
    build_spec(compose("experiment=gpt", "norm=dyt_cal"))  # fine without them
    assert compose("experiment=vit", "norm=dyt", "norm.alpha_init=calibrate:2.0").norm.tag == "dyt-cal2"
    assert compose("experiment=resnet", "norm=dyt_pc", "norm.alpha_init=calibrate").norm.tag == "dyt-pc-cal1"
