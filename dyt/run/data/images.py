"""Image classification data held in RAM as uint8 tensors (Fashion-MNIST, CIFAR-10).

Batches are a pure function of (seed, step): epoch ``e`` visits a permutation
seeded by ``(seed, e)``, so resuming at step ``s`` sees exactly the batches an
uninterrupted run would have seen. Augmentation runs on the whole batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dyt.run.errors import DataError
from dyt.run.data.stepwise import Stepwise, step_generator


def read_array_cache(cache_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, H, W[, C]), labels int64)`` of one split of a cached DatasetDict."""
    from datasets import load_from_disk

    dataset = load_from_disk(str(cache_dir))
    if split not in dataset:
        raise DataError(f"{cache_dir} has no split {split!r} (it has {', '.join(dataset)})")
    table = dataset[split].data.table
    images = table.column("image").combine_chunks()
    shape = dataset[split].features["image"].shape
    values = images.storage
    while hasattr(values, "flatten"):  # nested list arrays -> flat uint8 (far faster than with_format)
        values = values.flatten()
    arr = values.to_numpy().reshape((len(table), *shape)).astype(np.uint8, copy=False)
    return arr, table.column("label").to_numpy().astype(np.int64)


class TensorImages(Stepwise):
    """One split of an image set in RAM, with deterministic, resumable batching."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, *, mean, std, batch_size: int, seed: int = 0,
                 augment=None, rank: int = 0, world_size: int = 1) -> None:
        x = torch.from_numpy(np.require(images, requirements=["C", "W"]))  # Arrow buffers are read-only
        if x.dim() == 3:  # (N, H, W) -> (N, 1, H, W)
            x = x.unsqueeze(1)
        elif x.dim() == 4 and x.shape[-1] in (1, 3):  # NHWC -> NCHW
            x = x.permute(0, 3, 1, 2).contiguous()
        self.images = x
        self.labels = torch.from_numpy(labels)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.batch_size = batch_size
        self.seed = seed
        self.augment = augment
        self.rank, self.world_size = rank, world_size
        self.steps_per_epoch = len(self.images) // (batch_size * world_size)  # drop_last

    def __len__(self) -> int:
        return len(self.images)

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float().div_(255) - self.mean) / self.std

    def _augment(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        aug = self.augment
        if aug is None:
            return x
        n, _, h, w = x.shape
        pad = int(aug.random_crop_padding or 0)
        if pad > 0:
            padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
            dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
            dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
            rows = (dy.view(n, 1) + torch.arange(h)).view(n, 1, h, 1)
            cols = (dx.view(n, 1) + torch.arange(w)).view(n, 1, 1, w)
            x = padded[torch.arange(n).view(n, 1, 1, 1), torch.arange(x.shape[1]).view(1, -1, 1, 1), rows, cols]
        if aug.hflip:
            flip = torch.rand(n, generator=gen) < 0.5
            x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
        return x

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of training step ``step`` (0-based) for this rank."""
        epoch, pos = divmod(step, self.steps_per_epoch)
        perm = torch.randperm(len(self.images), generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
        global_batch = self.batch_size * self.world_size
        start = pos * global_batch + self.rank * self.batch_size
        idx = perm[start:start + self.batch_size]
        gen = step_generator(self.seed, step)
        x = self._normalize(self._augment(self.images[idx], gen))  # pad with black, as torchvision does
        return x, self.labels[idx]

    def eval_batches(self, limit: int | None = None):
        """Sequential, unaugmented batches of the whole split (or its first ``limit`` images)."""
        n = len(self.images) if limit is None else min(limit, len(self.images))
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            yield self._normalize(self.images[start:stop]), self.labels[start:stop]
