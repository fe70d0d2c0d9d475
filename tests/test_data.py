import gzip
import struct
import time

import numpy as np
import pytest
import torch

from dyt.run.data import DataError, build_data
from dyt.run.data.fashion_mnist import read_idx
from dyt.run.data.hub import load_hub_dataset
from dyt.run.data.images import TensorImages
from tests.conftest import DATA, compose


def test_read_idx_roundtrip_and_truncation(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBB3I", 0, 8, 3, 2, 3, 4) + arr.tobytes())
    assert np.array_equal(read_idx(path), arr)
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBB3I", 0, 8, 3, 2, 3, 4) + arr.tobytes()[:-1])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_fashion_mnist_is_the_real_thing():
    cfg = compose(f"data.path={DATA}")
    data = build_data(cfg)
    assert len(data.train) == 60_000 and len(data.val) == 10_000
    x, y = data.train.batch(0)
    assert x.shape == (256, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert abs(x.mean().item()) < 0.2 and 0.8 < x.std().item() < 1.2  # normalised with the dataset's mean/std
    counts = torch.bincount(data.val.labels, minlength=10)
    assert counts.tolist() == [1000] * 10


def _images(n=50, augment=None, **kw):
    rng = np.random.default_rng(0)
    return TensorImages(rng.integers(0, 255, (n, 8, 8), dtype=np.uint8), np.arange(n) % 10, mean=[0.5], std=[0.25],
                        batch_size=8, seed=3, augment=augment, **kw)


def test_batches_are_a_function_of_step_so_resume_replays_nothing():
    data = _images()
    stream = data.batches()
    first = [next(stream) for _ in range(10)]
    resumed = data.batches(start_step=7)
    for want in first[7:]:
        got = next(resumed)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    # one epoch visits every sample at most once
    labels = torch.cat([data.batch(s)[1] for s in range(data.steps_per_epoch)])
    assert len(labels) == data.steps_per_epoch * 8


def test_ranks_see_disjoint_parts_of_the_global_batch():
    rank0, rank1 = _images(rank=0, world_size=2), _images(rank=1, world_size=2)
    x0, x1 = rank0.batch(1)[0], rank1.batch(1)[0]
    assert not torch.equal(x0, x1)
    assert rank0.steps_per_epoch == 50 // 16


def test_crop_and_flip_keep_shape_and_pixels():
    from dyt.run.schema import AugmentConfig

    plain = _images()
    aug = _images(augment=AugmentConfig(random_crop_padding=2, hflip=True))
    x_plain, _ = plain.batch(0)
    x_aug, _ = aug.batch(0)
    assert x_aug.shape == x_plain.shape
    assert not torch.equal(x_aug, x_plain)
    background = (0 - 0.5) / 0.25  # padding value after normalisation
    values = set(x_plain.flatten().tolist()) | {background}
    assert set(x_aug.flatten().tolist()) <= values


def test_offline_hub_fails_in_seconds_with_the_fix():
    start = time.perf_counter()
    with pytest.raises(DataError, match="unreachable|not in the local HF cache|loading failed"):
        load_hub_dataset("uoft-cs/cifar10", fix="run online once")
    assert time.perf_counter() - start < 30


def test_missing_cache_without_idx_files_names_make_data(tmp_path):
    from dyt.run.data.fashion_mnist import prepare

    with pytest.raises(DataError, match="make data"):
        prepare(tmp_path / "fm", idx_dir=tmp_path / "nothing", allow_hub=False)


def _pil_dataset(n, size, key="img"):
    from datasets import ClassLabel, Dataset, Features, Image
    from PIL import Image as PILImage

    rng = np.random.default_rng(0)
    images = [PILImage.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)) for _ in range(n)]
    features = Features({key: Image(), "label": ClassLabel(num_classes=10)})
    return Dataset.from_dict({key: images, "label": [i % 10 for i in range(n)]}, features=features)


def test_small_hub_sets_are_cached_as_arrays(tmp_path, monkeypatch):
    from datasets import DatasetDict

    import dyt.run.data.hub

    hub = DatasetDict({"train": _pil_dataset(40, 32), "test": _pil_dataset(20, 32)})
    calls = []
    monkeypatch.setattr(dyt.run.data.hub, "load_hub_dataset", lambda name, *a, **k: calls.append(name) or hub)
    cfg = compose("data=cifar10", f"data.path={tmp_path / 'cifar'}", "data.batch_size=8")
    data = build_data(cfg)
    assert calls == ["uoft-cs/cifar10"]
    x, y = data.train.batch(0)
    assert x.shape == (8, 3, 32, 32) and len(data.val) == 20
    want = np.asarray(hub["train"][0]["img"], dtype=np.float32) / 255
    assert torch.allclose(data.train.images[0].permute(1, 2, 0).float() / 255, torch.from_numpy(want))
    build_data(cfg)  # second time from the cache, not the hub
    assert calls == ["uoft-cs/cifar10"]


def test_streaming_loader_resumes_and_trains(tmp_path):
    from datasets import DatasetDict

    from dyt.run.job import run

    path = tmp_path / "tiny_in1k"
    DatasetDict({"train": _pil_dataset(48, 40, "image"), "validation": _pil_dataset(16, 40, "image")}).save_to_disk(str(path))
    overrides = ["data=imagenet1k", f"data.path={path}", "data.image_size=32", "data.num_classes=10", "data.batch_size=8",
                 "data.eval_batch_size=8", "data.num_workers=0", "model.kwargs.patch_size=8"]
    data = build_data(compose(*overrides))
    assert data.train.steps_per_epoch == 6
    stream = data.train.batches(start_step=0)
    batches = [next(stream) for _ in range(8)]  # crosses into the second epoch
    assert batches[0][0].shape == (8, 3, 32, 32)
    assert data.mixup is not None  # the paper recipe mixes up
    summary = run(compose(*overrides, "trainer=smoke", "logger=none", "trainer.max_steps=2", f"out_dir={tmp_path / 'run'}"))
    assert summary["status"] == "completed" and "final/val/acc1" in summary
