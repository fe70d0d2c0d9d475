import math
from functools import partial

import pytest
import timm

from dyt import DyT
from dyt.run.optim import build_optimizer, lr_factor, param_groups
from tests.conftest import compose


def _vit(norm_layer=None):
    kw = {"norm_layer": norm_layer} if norm_layer else {}
    return timm.create_model("vit_tiny_patch16_224", img_size=28, patch_size=7, in_chans=1, num_classes=10,
                             embed_dim=32, depth=2, num_heads=2, global_pool="avg", class_token=False, **kw)


def test_alpha_gains_biases_and_pos_embed_get_no_weight_decay():
    model = _vit(partial(DyT, alpha_init=0.5))
    decay, no_decay = param_groups(model, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    alphas = [n for n in no_decay["names"] if n.endswith(".alpha")]
    assert len(alphas) == 5
    assert not any(n.endswith((".alpha", ".bias")) for n in decay["names"])
    assert "pos_embed" in no_decay["names"]
    assert all(p.ndim >= 2 for p in decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_optimizer_uses_the_groups():
    cfg = compose("norm=dyt")
    opt = build_optimizer(_vit(partial(DyT)), cfg.optim, lr=1e-3)
    assert [g["weight_decay"] for g in opt.param_groups] == [cfg.optim.weight_decay, 0.0]


def test_warmup_then_cosine():
    assert lr_factor(0, 10, 100) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100) == pytest.approx(1.0)
    assert lr_factor(10, 10, 100) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100) == pytest.approx(0.5)
    assert lr_factor(100, 10, 100) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(100, 10, 100, min_ratio=0.1) == pytest.approx(0.1)
    assert all(lr_factor(s, 10, 100) >= lr_factor(s + 1, 10, 100) for s in range(10, 100))
    assert not math.isnan(lr_factor(0, 0, 1))
