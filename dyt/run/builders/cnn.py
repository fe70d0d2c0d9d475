"""ConvNets with the configured norm: timm ResNet, NF-ResNet and ConvNeXt, and a small VGG-style plain net.

| family | norm positions | how the norm gets there |
| --- | --- | --- |
| ``resnet`` | BatchNorm2d after every conv (channels-first) | timm's ``norm_layer=`` |
| ``vgg`` | conv -> norm -> ReLU, no residuals (channels-first) | ``PlainNet(norm_layer=)`` (in this file) |
| ``convnext`` | ``LayerNorm2d`` in the stem, downsampling and head (channels-first), ``LayerNorm`` in every block (channels-last) | built with LN, then each norm swapped for the registry's layer of its layout (timm's constructor takes a custom ``norm_layer`` only with ``conv_mlp=True``, which makes every norm channels-first) |
| ``nfnet`` | none: scaled weight standardization (and AGC in the trainer: ``trainer.clip_mode=agc``) | ``norm=none`` only |

On images of at most ``SMALL_IMAGE`` pixels a side (Fashion-MNIST, CIFAR) the
stems change: ResNet and NF-ResNet get CIFAR-style stems (one 3x3 stride-1
conv, no max-pool), so the first stage sees the full 28x28 image instead of
7x7; ConvNeXt patchifies 2x2 instead of 4x4 (stages at 14, 7, 3, 1 px). The
builder records this, and the resolved ``zero_init_last``, in ``Built.resolved``
(saved under ``resolved`` in the run's ``config.yaml``).

``norm.zero_init_last`` (ResNets): zero-init the last norm gain of each
residual branch, so each block starts as the identity. ``None`` means the
default of each kind of norm: on for normalizers (timm's ResNet default for BN,
and LN), off for DyT and its variants, whose gain starts at 1 as in the paper's
code, which builds the ResNet and then replaces each BN by a fresh DyT.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Callable

import timm
from timm.layers import LayerNorm, LayerNorm2d
from torch import nn

from dyt.nn.convert import convert_norms, count_norms
from dyt.nn.layers import DyT
from dyt.nn.plainnet import PlainNet
from dyt.run.builders import Built
from dyt.run.errors import ConfigError
from dyt.run.norms import NormSpec, norm_layer
from dyt.run.spec import RunSpec

SMALL_IMAGE = 64  # images up to this many pixels a side get the small-image (CIFAR-style) stem


def build_cnn(spec: "RunSpec", num_classes: int) -> Built:
    builders = {"resnet": build_resnet, "vgg": build_vgg, "convnext": build_convnext, "nfnet": build_nfnet}
    family = spec.model.family
    if spec.norm.zero_init_last is not None and family != "resnet":
        raise ConfigError(f"norm.zero_init_last applies to residual blocks ending in a norm (model.family=resnet), "
                          f"not to {family}: drop it (norm.zero_init_last=null)")
    model, resolved = builders[family](spec.model, spec.norm, spec.data, num_classes)
    return Built(model, {**resolved, "norm_counts": count_norms(model)})


def small_images(data_cfg) -> bool:
    return bool(data_cfg.image_size) and data_cfg.image_size <= SMALL_IMAGE


def layer_class(layer: Callable) -> type:
    """The class a ``norm_layer`` (a class or a ``partial`` of one) builds."""
    return layer.func if isinstance(layer, partial) else layer


def channels_first_norm(norm: "NormSpec") -> Callable:
    """The norm for ResNet / VGG positions (NCHW): the registry's channels-first layer; ``ln`` is timm's LayerNorm2d."""
    layer = norm_layer(norm, channels_first=True)
    return LayerNorm2d if layer is None else layer  # None: the registry's "LayerNorm, the model's own" (ln)


def check_only(model: nn.Module, allowed: set[type], what: str) -> None:
    """Raise if a norm-like module of any class outside ``allowed`` is left in ``model``."""
    names = {cls.__name__ for cls in allowed}
    left = {k: v for k, v in count_norms(model).items() if k not in names}
    if left:
        raise RuntimeError(f"{what}: norms other than {sorted(names)} left after building: {left}")


def _create(arch: str, **kwargs) -> nn.Module:
    try:
        return timm.create_model(arch, pretrained=False, **kwargs)
    except (RuntimeError, TypeError) as err:  # unknown arch, or a kwarg the class does not take
        raise ConfigError(f"timm cannot build model.arch={arch!r}: {err}") from None


# ---------------------------------------------------------------------------------------------- ResNet


def resolve_zero_init_last(norm: "NormSpec", layer: Callable) -> bool:
    """``norm.zero_init_last``, with ``None`` resolved: on for normalizers (timm's default), off for DyT."""
    if norm.zero_init_last is not None:
        return bool(norm.zero_init_last)
    return not issubclass(layer_class(layer), DyT)


def build_resnet(model_cfg, norm: "NormSpec", data_cfg, num_classes: int) -> tuple[nn.Module, dict]:
    layer = channels_first_norm(norm)
    zero_init_last = resolve_zero_init_last(norm, layer)
    kwargs = dict(model_cfg.kwargs)
    small = small_images(data_cfg)
    if small:
        # timm sizes a 'deep' stem's output 2 * stem_width (a plain stem's is fixed at 64): make it the first
        # stage's width; the stem itself is replaced below, and bn1 (built by timm with our norm) stays
        stem_out = tuple(kwargs.get("channels", (64, 128, 256, 512)))[0]
        kwargs.update(stem_type="deep", stem_width=stem_out // 2)
    model = _create(model_cfg.arch, num_classes=num_classes, in_chans=data_cfg.channels, norm_layer=layer,
                    zero_init_last=zero_init_last, drop_path_rate=model_cfg.drop_path_rate, **kwargs)
    if small:
        model.conv1 = nn.Conv2d(data_cfg.channels, stem_out, 3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")  # timm's conv init
        model.maxpool = nn.Identity()
    check_only(model, {layer_class(layer)}, model_cfg.arch)
    return model, {"norm.zero_init_last": zero_init_last, "model.stem": "small" if small else "timm"}


# ------------------------------------------------------------------------------------------- VGG-style


def build_vgg(model_cfg, norm: "NormSpec", data_cfg, num_classes: int) -> tuple[nn.Module, dict]:
    kwargs = dict(model_cfg.kwargs)
    layers = list(kwargs.pop("layers", []))
    if not layers or any(item != "M" and not (isinstance(item, int) and item > 0) for item in layers):
        raise ConfigError(f"model.kwargs.layers must list conv widths and 'M' (max-pool), got {layers}")
    pools = layers.count("M")
    if data_cfg.image_size and data_cfg.image_size >> pools == 0:
        raise ConfigError(f"{pools} max-pools shrink {data_cfg.image_size}px images to nothing: "
                          f"drop some 'M' from model.kwargs.layers")
    layer = channels_first_norm(norm)
    try:
        model = PlainNet(layers, num_classes, data_cfg.channels, norm_layer=layer, **kwargs)
    except TypeError as err:
        raise ConfigError(f"model.kwargs: {err} (PlainNet takes layers and drop_rate)") from None
    check_only(model, {layer_class(layer)}, "vgg")
    return model, {}


# --------------------------------------------------------------------------------------------- ConvNeXt


def build_convnext(model_cfg, norm: "NormSpec", data_cfg, num_classes: int) -> tuple[nn.Module, dict]:
    kwargs = dict(model_cfg.kwargs)
    if kwargs.get("conv_mlp"):
        raise ConfigError("model.kwargs.conv_mlp=true makes every ConvNeXt norm channels-first; "
                          "the paper's ConvNeXt has channels-last norms in its blocks: drop conv_mlp")
    kwargs["conv_mlp"] = False  # timm's atto..nano default to conv MLPs (all norms channels-first): not the paper's layout
    cf, cl = norm_layer(norm, channels_first=True), norm_layer(norm, channels_first=False)
    model = _create(model_cfg.arch, num_classes=num_classes, in_chans=data_cfg.channels,
                    drop_path_rate=model_cfg.drop_path_rate, **kwargs)  # LayerNorm2d and LayerNorm, timm's default
    small = small_images(data_cfg)
    if small:
        # a 2x2 patchify stem instead of 4x4, stages keep timm's strides: 28px -> 14, 7, 3, 1 (4x4: 7, 3, 1, 0)
        old = model.stem[0]
        if old.stride != (4, 4):
            raise ConfigError("the small-image ConvNeXt stem replaces timm's 4x4 patch stem: drop model.kwargs.patch_size "
                              "and stem_type")
        model.stem[0] = nn.Conv2d(old.in_channels, old.out_channels, kernel_size=2, stride=2, bias=old.bias is not None)
        nn.init.trunc_normal_(model.stem[0].weight, std=0.02)  # timm's ConvNeXt init
        if model.stem[0].bias is not None:
            nn.init.zeros_(model.stem[0].bias)
    if data_cfg.image_size:
        size = data_cfg.image_size // model.stem[0].stride[0]
        for stage in model.stages:
            size //= 2 if not isinstance(stage.downsample, nn.Identity) else 1
        if size < 1:
            raise ConfigError(f"{data_cfg.image_size}px images vanish before ConvNeXt's last stage: "
                              f"use fewer stages (model.kwargs.depths, dims) or larger images")
    if cf is not None or cl is not None:  # ln: keep timm's own
        convert_norms(model, layers={LayerNorm2d: cf or LayerNorm2d, LayerNorm: cl or LayerNorm})
    check_only(model, {layer_class(cf or LayerNorm2d), layer_class(cl or LayerNorm)}, model_cfg.arch)
    return model, {"model.stem": "small" if small else "timm"}


# ---------------------------------------------------------------------------------------------- NF-ResNet


def build_nfnet(model_cfg, norm: "NormSpec", data_cfg, num_classes: int) -> tuple[nn.Module, dict]:
    from timm.models.nfnet import NormFreeNet, model_cfgs

    if norm.name != "none":
        raise ConfigError(f"{model_cfg.arch} is normalizer-free: it takes norm=none, not norm={norm.name}")
    if model_cfg.arch not in model_cfgs:
        raise ConfigError(f"model.arch={model_cfg.arch!r} is not a timm NF model: choose e.g. nf_resnet26, nf_resnet50")
    kwargs = dict(model_cfg.kwargs)
    fields = {f.name for f in dataclasses.fields(model_cfgs[model_cfg.arch])}
    cfg_overrides = {k: (tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items() if k in fields}
    small = small_images(data_cfg)
    if small:
        cfg_overrides["stem_type"] = "3x3_pool"  # stem stride 4 -> timm keeps stage 1 at stride 1; made 1x1 below
    cfg = dataclasses.replace(model_cfgs[model_cfg.arch], **cfg_overrides)
    rest = {k: v for k, v in kwargs.items() if k not in fields}
    try:
        model = NormFreeNet(cfg, num_classes=num_classes, in_chans=data_cfg.channels,
                            drop_path_rate=model_cfg.drop_path_rate, **rest)
    except TypeError as err:
        raise ConfigError(f"model.kwargs for {model_cfg.arch}: {err}") from None
    if small:
        model.stem.conv.stride = (1, 1)  # 3x3, padding 1 either way: the scaled-WS conv and its gain unchanged
        model.stem.pool = nn.Identity()
    check_only(model, set(), model_cfg.arch)
    return model, {"model.stem": "small" if small else "timm"}
