"""Vision Transformers from timm, built with the configured norm in every norm position."""

from __future__ import annotations

import timm
from torch import nn

from dyt.convert import count_norms
from dyt.models.norm import ConfigError, norm_layer


def build_vit(model_cfg, norm_cfg, data_cfg, num_classes: int) -> nn.Module:
    kwargs = dict(model_cfg.kwargs)
    layer = norm_layer(norm_cfg)
    if layer is not None:
        kwargs["norm_layer"] = layer
    try:
        model = timm.create_model(
            model_cfg.arch,
            pretrained=False,
            num_classes=num_classes,
            img_size=data_cfg.image_size,
            in_chans=data_cfg.channels,
            drop_path_rate=model_cfg.drop_path_rate,
            **kwargs,
        )
    except (RuntimeError, TypeError) as err:  # unknown arch, or a kwarg the class does not take
        raise ConfigError(f"timm cannot build model.arch={model_cfg.arch!r}: {err}") from None
    patch = model.patch_embed.patch_size[0]
    if data_cfg.image_size % patch:
        raise ConfigError(f"image size {data_cfg.image_size} is not divisible by the patch size {patch}: "
                          f"set model.kwargs.patch_size to a divisor of {data_cfg.image_size}")
    if norm_cfg.name == "dyt" and set(count_norms(model)) != {"DyT"}:
        raise RuntimeError(f"{model_cfg.arch}: LayerNorm left after building with norm={norm_cfg.name}: {count_norms(model)}")
    return model
