from functools import partial

import pytest
import timm
import torch
from timm.layers import BatchNormAct2d, LayerNorm2d, LayerNormAct2d, RmsNorm
from torch import nn

from dyt import DyT, DyT2d, convert_norms, count_norms
from dyt.nn.convert import UnsupportedNormError

VIT = dict(img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=32, depth=2, num_heads=2,
           global_pool="avg", class_token=False)


def test_vit_built_with_dyt_has_no_layernorm_and_one_alpha_per_norm():
    ln = timm.create_model("vit_tiny_patch16_224", **VIT)
    dyt = timm.create_model("vit_tiny_patch16_224", norm_layer=partial(DyT, alpha_init=0.5), **VIT)
    n_norms = count_norms(ln)["LayerNorm"]
    assert n_norms == 2 * 2 + 1  # norm1, norm2 per block + fc_norm of the avg-pool head
    assert count_norms(dyt) == {"DyT": n_norms}
    n_ln = sum(p.numel() for p in ln.parameters())
    n_dyt = sum(p.numel() for p in dyt.parameters())
    assert n_dyt == n_ln + n_norms


def test_convert_vit_matches_building_with_dyt():
    model = timm.create_model("vit_tiny_patch16_224", **VIT)
    before = count_norms(model)
    convert_norms(model, alpha_init=0.8)
    assert count_norms(model) == {"DyT": before["LayerNorm"]}
    assert all(m.alpha.item() == pytest.approx(0.8) for m in model.modules() if isinstance(m, DyT))
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_layouts_follow_the_replaced_norm():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), LayerNorm2d(8), nn.BatchNorm2d(8), nn.Flatten(), nn.LazyLinear(4),
                          nn.LayerNorm(4), RmsNorm(4), nn.BatchNorm1d(4))
    model(torch.randn(2, 3, 6, 6))  # materialise the lazy layer
    convert_norms(model)
    assert [type(m) for m in model if isinstance(m, DyT)] == [DyT2d, DyT2d, DyT, DyT, DyT2d]
    assert model(torch.randn(2, 3, 6, 6)).shape == (2, 4)


@pytest.mark.parametrize("bad", [BatchNormAct2d(8), LayerNormAct2d(8), nn.GroupNorm(2, 8)])
def test_strict_refuses_norms_it_does_not_understand(bad):
    model = nn.Sequential(nn.LayerNorm(8), bad)
    with pytest.raises(UnsupportedNormError, match=type(bad).__name__):
        convert_norms(model)
    assert type(model[0]) is nn.LayerNorm  # nothing changed
    convert_norms(model, strict=False)
    assert type(model[0]) is DyT and model[1] is bad


def test_unknown_subclass_is_refused():
    class MyLayerNorm(nn.LayerNorm):
        pass

    with pytest.raises(UnsupportedNormError, match="MyLayerNorm"):
        convert_norms(nn.Sequential(MyLayerNorm(4)))


def test_multi_dim_layernorm_leaves_model_untouched():
    model = nn.Sequential(nn.LayerNorm(4), nn.LayerNorm((3, 4)))
    with pytest.raises(UnsupportedNormError, match="one channel dimension"):
        convert_norms(model)
    assert type(model[0]) is nn.LayerNorm


def test_count_norms_ignores_containers_named_like_norms():
    head = timm.create_model("convnext_atto", num_classes=3).head  # NormMlpClassifierHead holds a LayerNorm2d
    assert count_norms(head) == {"LayerNorm2d": 1}


def test_affine_follows_the_replaced_norm_so_only_alphas_are_added():
    model = nn.Sequential(nn.LayerNorm(8), nn.LayerNorm(8, bias=False), nn.RMSNorm(8),
                          nn.LayerNorm(8, elementwise_affine=False))
    before = sum(p.numel() for p in model.parameters())
    convert_norms(model)
    assert [(m.weight is not None, m.bias is not None) for m in model] == [(True, True), (True, False), (True, False), (False, False)]
    assert sum(p.numel() for p in model.parameters()) == before + 4
