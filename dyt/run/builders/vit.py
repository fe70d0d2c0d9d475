"""Vision Transformers from timm, built with the run's norm in every norm position."""

from __future__ import annotations

import timm

from dyt.nn.convert import count_norms
from dyt.run.builders import Built
from dyt.run.errors import ConfigError
from dyt.run.norms import norm_layer
from dyt.run.spec import RunSpec


def build_vit(spec: "RunSpec", num_classes: int) -> Built:
    model_cfg, data_cfg = spec.model, spec.data
    kwargs = dict(model_cfg.kwargs)
    layer = norm_layer(spec.norm)
    if layer is not None:
        kwargs["norm_layer"] = layer
    try:
        model = timm.create_model(model_cfg.arch, pretrained=False, num_classes=num_classes,
                                  img_size=data_cfg.image_size, in_chans=data_cfg.channels,
                                  drop_path_rate=model_cfg.drop_path_rate, **kwargs)
    except (RuntimeError, TypeError) as err:  # unknown arch, or a kwarg the class does not take
        raise ConfigError(f"timm cannot build model.arch={model_cfg.arch!r}: {err}") from None
    patch = model.patch_embed.patch_size[0]
    if data_cfg.image_size % patch:
        raise ConfigError(f"image size {data_cfg.image_size} is not divisible by the patch size {patch}: "
                          f"set model.kwargs.patch_size to a divisor of {data_cfg.image_size}")
    if spec.norm.name == "dyt" and set(count_norms(model)) != {"DyT"}:
        raise RuntimeError(f"{model_cfg.arch}: LayerNorm left after building with norm=dyt: {count_norms(model)}")
    return Built(model)
