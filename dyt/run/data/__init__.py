"""``build_data(cfg)``: images and text as objects with ``batches(start_step)`` and ``eval_batches()``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dyt.run.errors import DataError

__all__ = ["build_data", "Data", "DataError"]


@dataclass
class Data:
    train: Any  # .batches(start_step) -> iterator of (x, y); .steps_per_epoch; len(); optional state_dict()
    val: Any  # .eval_batches(limit) -> iterator of (x, y)
    num_classes: int  # classes, or the vocabulary size for text
    mixup: Any = None  # timm Mixup applied to training batches, or None
    tokenizer: Any = None  # text: .encode(str) / .decode(ids)
    tokens_per_sample: int | None = None  # text: block_size


def _cache_dir(data_cfg) -> Path:
    return Path(data_cfg.path or f"data/{data_cfg.name}")


def _hub_to_array_cache(data_cfg, cache: Path) -> None:
    """Download a small image set from the hub once and keep it as uint8 arrays under ``data/``."""
    import numpy as np
    from datasets import Array3D, ClassLabel, Dataset, DatasetDict, Features, Value

    from dyt.run.data.hub import load_hub_dataset

    fix = (f"run once where huggingface.co is reachable (it is then kept under {cache}), "
           f"or put a DatasetDict saved with save_to_disk there")
    raw = load_hub_dataset(data_cfg.hub_name, data_cfg.hub_config, fix=fix)
    size, ch = data_cfg.image_size, data_cfg.channels
    splits = {}
    for split in (data_cfg.train_split, data_cfg.val_split):
        ds = raw[split]
        mode = "L" if ch == 1 else "RGB"
        images = np.stack([np.asarray(img.convert(mode), dtype=np.uint8).reshape(size, size, ch) for img in ds[data_cfg.image_key]])
        label_feature = ds.features[data_cfg.label_key]
        features = Features({"image": Array3D(shape=(size, size, ch), dtype="uint8"),
                             "label": label_feature if isinstance(label_feature, ClassLabel) else Value("int64")})
        splits[split] = Dataset.from_dict({"image": images, "label": ds[data_cfg.label_key]}, features=features)
    DatasetDict(splits).save_to_disk(str(cache))


def _mixup(data_cfg, label_smoothing: float):
    aug = data_cfg.augment
    if not (aug.mixup > 0 or aug.cutmix > 0):
        return None
    from timm.data import Mixup

    return Mixup(mixup_alpha=aug.mixup, cutmix_alpha=aug.cutmix, label_smoothing=label_smoothing,
                 num_classes=data_cfg.num_classes)


def build_data(cfg, rank: int = 0, world_size: int = 1) -> Data:
    data_cfg = cfg.data
    if data_cfg.kind == "text":
        from dyt.run.data.text_build import build_text

        return build_text(cfg, rank, world_size)
    if data_cfg.kind != "image":
        raise DataError(f"unknown data.kind {data_cfg.kind!r}: use image or text")
    if data_cfg.in_memory:
        from dyt.run.data.images import TensorImages, read_array_cache

        cache = _cache_dir(data_cfg)
        if data_cfg.source == "fashion_mnist":
            from dyt.run.data.fashion_mnist import prepare

            prepare(cache)
        elif data_cfg.source == "hub":
            if not (cache / "dataset_dict.json").exists():
                _hub_to_array_cache(data_cfg, cache)
        else:
            raise DataError(f"unknown data.source {data_cfg.source!r}: use fashion_mnist or hub")
        common = dict(mean=data_cfg.mean, std=data_cfg.std, seed=cfg.seed, rank=rank, world_size=world_size)
        train = TensorImages(*read_array_cache(cache, data_cfg.train_split), batch_size=data_cfg.batch_size,
                             augment=data_cfg.augment, **common)
        val = TensorImages(*read_array_cache(cache, data_cfg.val_split), batch_size=data_cfg.eval_batch_size, **common)
    else:
        train, val = _streaming(cfg, rank, world_size)
    if train.steps_per_epoch == 0:
        raise DataError(f"{len(train)} training images are fewer than one global batch of "
                        f"{data_cfg.batch_size * world_size}; lower data.batch_size")
    return Data(train=train, val=val, num_classes=data_cfg.num_classes,
                mixup=_mixup(data_cfg, cfg.trainer.label_smoothing))


def _streaming(cfg, rank: int, world_size: int):
    from timm.data import create_transform

    from dyt.run.data.hub import load_hub_dataset
    from dyt.run.data.stream import StreamingImages

    d = cfg.data
    aug = d.augment
    train_tf = create_transform(d.image_size, is_training=True, hflip=0.5 if aug.hflip else 0.0,
                                auto_augment=aug.randaugment, re_prob=aug.random_erasing, mean=tuple(d.mean), std=tuple(d.std))
    val_tf = create_transform(d.image_size, is_training=False, mean=tuple(d.mean), std=tuple(d.std))
    common = dict(image_key=d.image_key, label_key=d.label_key, num_workers=d.num_workers, seed=cfg.seed,
                  rank=rank, world_size=world_size)
    if d.path and (Path(d.path) / "dataset_dict.json").exists():
        from datasets import load_from_disk

        raw = load_from_disk(d.path)
        train_ds, val_ds = raw[d.train_split], raw[d.val_split]
    else:
        train_ds = load_hub_dataset(d.hub_name, d.hub_config, split=d.train_split)
        val_ds = load_hub_dataset(d.hub_name, d.hub_config, split=d.val_split)
    train = StreamingImages(train_ds, train_tf, batch_size=d.batch_size, train=True, **common)
    val = StreamingImages(val_ds, val_tf, batch_size=d.eval_batch_size, train=False, **common)
    return train, val
