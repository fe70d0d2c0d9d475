"""ConvNets with BN, LN, DyT and no norm (dyt/models/cnn.py): layouts, inits, parameter counts, configs, smoke runs."""

from __future__ import annotations

import pytest
import torch
from timm.layers import LayerNorm, LayerNorm2d
from torch import nn

from dyt.nn.convert import UnsupportedNormError, convert_norms, count_norms, is_norm_like
from dyt.nn.layers import DyT, DyT2d
from dyt.run.errors import ConfigError
from dyt.nn.plainnet import PlainNet
from dyt.run.job import run
from dyt.run.spec import build_spec
from dyt.run.trainer.diagnostics import dyt_alphas
from dyt.run.trainer.step import clip_gradients
from dyt.run.builders import Built, build_model
from tests.conftest import REPO, compose

# every way the CPU defaults are run (conf/experiment/*, the NF-ResNet arm of `resnet` among them)
NF = ("experiment=resnet_nf",)
DYT_ARMS = [("experiment=resnet", "norm=dyt"), ("experiment=resnet", "norm=dyt_zil"),
            ("experiment=resnet", "norm=dyt_pc"), ("experiment=vgg", "norm=dyt"), ("experiment=convnext", "norm=dyt")]


def built(*overrides: str) -> Built:
    """The model of a run with these overrides, and what its builder decided."""
    return build_model(build_spec(compose(*overrides)))


def build(*overrides: str) -> nn.Module:
    return built(*overrides).model


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # parameters only: BN's running stats are buffers


@pytest.mark.parametrize("overrides", DYT_ARMS, ids=lambda o: " ".join(o))
def test_no_batchnorm_or_layernorm_left_with_dyt(overrides):
    model = build(*overrides)
    norms = [m for m in model.modules() if is_norm_like(m)]
    assert norms and all(isinstance(m, DyT) for m in norms), count_norms(model)
    assert not any(isinstance(m, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)) for m in model.modules())


@pytest.mark.parametrize("experiment,baseline", [("resnet", "bn"), ("vgg", "bn"), ("convnext", "ln")])
def test_every_norm_position_becomes_dyt_of_its_layout(experiment, baseline):
    base = count_norms(build(f"experiment={experiment}", f"norm={baseline}"))
    dyt = count_norms(build(f"experiment={experiment}", "norm=dyt"))
    if experiment != "convnext":
        assert dyt == {"DyT2d": base["BatchNorm2d"]}
        return
    # stem, downsampling and head: channels-first; blocks: channels-last
    assert base == {"LayerNorm2d": 5, "LayerNorm": 12} and dyt == {"DyT2d": 5, "DyT": 12}
    convnext = build("experiment=convnext", "norm=dyt")
    assert isinstance(convnext.stem[1], DyT2d) and isinstance(convnext.stages[1].downsample[0], DyT2d)
    assert isinstance(convnext.stages[0].blocks[0].norm, DyT) and not isinstance(convnext.stages[0].blocks[0].norm, DyT2d)
    assert convnext(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def _last_gains(model: nn.Module) -> list[torch.Tensor]:
    return [block.bn2.weight for stage in (model.layer1, model.layer2, model.layer3, model.layer4) for block in stage]


@pytest.mark.parametrize("norm", ["bn", "dyt"])
@pytest.mark.parametrize("zero_init_last", [True, False])
def test_zero_init_last_does_what_it_says(norm, zero_init_last):
    result = built("experiment=resnet", f"norm={norm}", f"norm.zero_init_last={zero_init_last}")
    model = result.model
    gains = _last_gains(model)
    assert len(gains) == 8  # 2-2-2-2 BasicBlocks
    assert all(torch.all(g == (0.0 if zero_init_last else 1.0)) for g in gains)
    assert torch.all(model.layer1[0].bn1.weight == 1.0) and torch.all(model.bn1.weight == 1.0)  # only the last one
    assert result.resolved["norm.zero_init_last"] is zero_init_last


def test_zero_init_last_defaults_on_for_bn_off_for_dyt():
    """null = each norm's default: timm's for BN (zero), the paper's for DyT (a fresh DyT, gain 1)."""
    assert all(torch.all(g == 0) for g in _last_gains(build("experiment=resnet", "norm=bn")))
    assert all(torch.all(g == 1) for g in _last_gains(build("experiment=resnet", "norm=dyt")))
    assert all(torch.all(g == 0) for g in _last_gains(build("experiment=resnet", "norm=dyt_zil")))
    with pytest.raises(ConfigError, match="zero_init_last"):
        build("experiment=convnext", "norm=dyt", "norm.zero_init_last=true")


@pytest.mark.parametrize("experiment,baseline", [("resnet", "bn"), ("vgg", "bn"), ("convnext", "ln")])
def test_parameter_counts_differ_by_the_alphas_only(experiment, baseline):
    base = build(f"experiment={experiment}", f"norm={baseline}")
    dyt = build(f"experiment={experiment}", "norm=dyt")
    n_norms = sum(count_norms(base).values())
    assert n_params(dyt) - n_params(base) == n_norms  # one scalar alpha per norm; gains and biases as before
    if experiment != "convnext":
        per_channel = build(f"experiment={experiment}", "norm=dyt_pc")
        channels = sum(m.num_features for m in base.modules() if isinstance(m, nn.BatchNorm2d))
        assert n_params(per_channel) - n_params(base) == channels
    # the same shapes everywhere else
    shapes = {k: v.shape for k, v in base.named_parameters()}
    assert {k: v.shape for k, v in dyt.named_parameters() if not k.endswith("alpha")} == shapes


def test_small_image_stems_keep_28px_resolution_into_the_first_stage():
    result = built("experiment=resnet")
    resnet = result.model
    assert resnet.conv1.stride == (1, 1) and isinstance(resnet.maxpool, nn.Identity)
    feats = resnet.layer1(resnet.act1(resnet.bn1(resnet.conv1(torch.randn(2, 1, 28, 28)))))
    assert feats.shape == (2, 16, 28, 28) and result.resolved["model.stem"] == "small"
    nf = build(*NF)
    assert nf.stem(torch.randn(2, 1, 28, 28)).shape[-2:] == (28, 28) and count_norms(nf) == {}
    assert nf(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    big = build("experiment=resnet50_in1k")
    assert big.conv1.stride == (2, 2) and isinstance(big.maxpool, nn.MaxPool2d)  # timm's stem on 224px


def test_wrong_norm_for_the_model_is_a_config_error_naming_the_fix():
    with pytest.raises(ConfigError, match="normalizer-free"):
        build("experiment=resnet", "model=nf_resnet26_small", "norm=dyt")
    with pytest.raises(ConfigError, match="norm=none"):
        build("experiment=resnet", "norm=none")
    with pytest.raises(ConfigError, match="norm=ln"):
        build("experiment=vit", "norm=bn")  # BN has no channels-last form here
    with pytest.raises(ConfigError, match="norm=ln"):
        build("experiment=convnext", "norm=bn")
    with pytest.raises(ConfigError, match="conv_mlp"):
        build("experiment=convnext", "+model.kwargs.conv_mlp=true")
    with pytest.raises(ConfigError, match="layers"):
        build("experiment=vgg", "model.kwargs.layers=[16,M,x]")


def test_ln_in_a_resnet_is_layernorm2d_not_silently_batchnorm():
    assert count_norms(build("experiment=resnet", "norm=ln")) == {"LayerNorm2d": 20}


def test_convert_norms_with_layer_factories_swaps_by_layout_and_refuses_unknown_norms():
    model = nn.Sequential(LayerNorm2d(4), nn.Conv2d(4, 4, 1), LayerNorm(4))
    convert_norms(model, layers={LayerNorm2d: DyT2d, LayerNorm: DyT})
    assert [type(m) for m in model] == [DyT2d, nn.Conv2d, DyT]
    untouched = nn.Sequential(LayerNorm2d(4), nn.GroupNorm(2, 4))
    with pytest.raises(UnsupportedNormError, match="GroupNorm"):
        convert_norms(untouched, layers={LayerNorm2d: DyT2d})
    assert type(untouched[0]) is LayerNorm2d  # nothing changed


def test_plain_net_has_no_residuals_and_the_configured_norm():
    net = PlainNet([8, "M", 16], num_classes=3, in_chans=1, norm_layer=DyT2d)
    assert [type(m).__name__ for m in net.features] == ["Conv2d", "DyT2d", "ReLU", "MaxPool2d", "Conv2d", "DyT2d", "ReLU"]
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 3)


def test_every_new_experiment_config_composes_and_builds():
    experiments = {p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml")}
    new = {"resnet", "vgg", "convnext", "resnet50_in1k", "vgg19_in1k", "convnext_b_in1k"}
    assert new <= experiments
    for name in sorted(new):
        baseline = "ln" if "convnext" in name else "bn"
        for norm in (baseline, "dyt"):
            cfg = compose(f"experiment={name}", f"norm={norm}")
            spec = build_spec(cfg)
            assert cfg.name == name and cfg.out_dir == f"runs/{name}/{cfg.norm.tag}/seed0"
            if "in1k" not in name:  # the ImageNet models are built in other tests (slow to build 4 times)
                assert n_params(build_model(spec).model) > 0
    nf = compose(*NF)
    assert nf.out_dir == "runs/resnet/nf/seed0" and (nf.trainer.clip_mode, nf.trainer.clip_grad) == ("agc", 0.01)
    tags = {compose("experiment=resnet", f"norm={n}").norm.tag for n in ("bn", "dyt", "dyt_zil", "dyt_pc")}
    assert tags == {"bn", "dyt-a0.5", "dyt-zil-a0.5", "dyt-pc-a0.5"}  # one run dir per arm


def test_agc_clips_each_unit_relative_to_its_weight_norm():
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    layer.weight.grad = torch.full_like(layer.weight, 100.0)
    layer.bias.grad = torch.zeros_like(layer.bias)
    tcfg = compose("trainer=resnet_cpu_agc").trainer
    assert clip_gradients(layer, tcfg) is None
    ratio = layer.weight.grad.norm(dim=1) / layer.weight.detach().norm(dim=1).clamp_min(1e-3)
    torch.testing.assert_close(ratio, torch.full((3,), 0.01))
    with pytest.raises(ConfigError, match="unknown trainer.clip_mode 'nope': use norm or agc"):  # checked once, in the spec
        build_spec(compose("trainer=resnet_cpu_agc", "trainer.clip_mode=nope"))


def test_per_channel_alpha_is_logged_as_its_mean():
    model = build("experiment=resnet", "norm=dyt_pc")
    alphas = dyt_alphas(model)
    assert len(alphas) == 20 and all(v == pytest.approx(0.5) for v in alphas.values())


SMOKE = {"resnet": ("experiment=resnet", "norm=dyt"), "vgg": ("experiment=vgg", "norm=dyt"),
         "convnext": ("experiment=convnext", "norm=dyt"),
         "nf_resnet": (*NF, "trainer.clip_mode=agc", "trainer.clip_grad=0.01")}  # smoke replaces resnet_cpu_agc


@pytest.mark.slow
@pytest.mark.parametrize("arm", list(SMOKE))
def test_smoke_run_of_every_new_experiment(arm, smoke_cfg):
    cfg = smoke_cfg(*SMOKE[arm], "trainer.eval_every=0", "data.val_limit=1000")
    summary = run(cfg)
    assert summary["status"] == "completed" and summary["step"] == 8
    assert 0 <= summary["final/val/acc1"] <= 100 and summary["final/train_loss"] < 10


def test_report_ranks_the_arms_and_words_the_negative_result(tmp_path):
    import json

    import yaml

    from dyt.reports.experiment import report

    accs = {"bn": [90.0, 90.2, 90.1], "dyt-a0.5": [80.0, 80.5, 79.8], "nf": [88.0, 88.3, 87.9],
            "dyt-zil-a0.5": [70.0, 70.4]}
    for tag, values in accs.items():
        for seed, acc in enumerate(values):
            run_dir = tmp_path / "runs" / "resnet" / tag / f"seed{seed}"
            run_dir.mkdir(parents=True)
            norm = {"name": {"bn": "bn", "nf": "none"}.get(tag, "dyt"), "tag": tag, "alpha_init": 0.5}
            trainer = {"threads": 1} if tag == "nf" else {"threads": None}  # nf ran beside other jobs
            (run_dir / "config.yaml").write_text(yaml.safe_dump({"name": "resnet", "seed": seed, "norm": norm,
                                                                 "trainer": trainer}))
            (run_dir / "metrics.jsonl").write_text(json.dumps({"step": 1, "train/loss": 1.0, "val/acc1": acc}) + "\n")
            (run_dir / "summary.json").write_text(json.dumps({
                "status": "completed", "step": 1, "epochs": 0.5, "final/val/acc1": acc, "final/val/loss": 0.3,
                "final/train_loss": 0.3, "train_seconds": 1.0, "samples_per_second": 1.0, "versions": {}}))
    failed = tmp_path / "runs" / "resnet" / "dyt-zil-a0.5" / "seed2"  # a multirun job that raised: failed.json only
    failed.mkdir(parents=True)
    (failed / "failed.json").write_text(json.dumps({"error": "RuntimeError: boom", "config": {
        "name": "resnet", "seed": 2, "norm": {"name": "dyt", "tag": "dyt-zil-a0.5", "alpha_init": 0.5}}}))
    text = (report("resnet", tmp_path / "runs", tmp_path / "out") / "README.md").read_text()
    assert "**dyt-zil-a0.5: 1 failed run(s)**" in text and "| dyt-zil-a0.5 | 3 (2) |" in text
    ranking = text.split("## Ranking: `resnet`")[1].split("\n## ")[0]
    rows = [line.split(" | ")[1] for line in ranking.splitlines() if line.startswith("| 1") or line.startswith("| 2")
            or line.startswith("| 3")]
    assert rows == ["bn", "nf", "dyt-a0.5"]
    assert "| 1 | bn | 90.10 ± 0.10 | +0.00 | – | – |" in ranking
    every_arm = text.split("## Every arm vs the normalized baseline")[1].split("\n## ")[0]
    assert "n = 3 vs 3: dyt-a0.5 is significantly worse at the 5% level." in every_arm and "claim" not in every_arm
    claim = next(line for line in text.splitlines() if line.startswith("| ResNet: DyT replacing BatchNorm loses |"))
    assert "reproduced: dyt-a0.5 significantly worse at the 5% level" in claim  # the registry's claim on these runs
    assert "| ResNet-50 | 76.2 | 68.9 |" in text
    assert "with `trainer.threads` set (the rest use torch's default): resnet: nf (1);" in text
    rows = {line.split(",")[1]: line.split(",") for line in (tmp_path / "out" / "summary.csv").read_text().splitlines()}
    assert rows["bn"][3] == "" and rows["nf"][3] == "" and rows["dyt-a0.5"][3] == "0.5"  # alpha only for DyT arms


def test_agc_leaves_the_classifier_alone():
    model = build(*NF)
    for p in model.parameters():
        p.grad = torch.full_like(p, 100.0)
    clip_gradients(model, compose(*NF).trainer)
    assert torch.all(model.get_classifier().weight.grad == 100.0)
    assert model.stem.conv.weight.grad.abs().max() < 100.0
