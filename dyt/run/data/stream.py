"""Large image sets (ImageNet-1k) read from a ``datasets`` Arrow table through a DataLoader.

The sampler is resumable: the order of epoch ``e`` is a permutation seeded by
``(seed, e)`` and a run resumed at step ``s`` starts at the right position.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Sampler


class ResumableSampler(Sampler[int]):
    """Indices of one epoch for one rank, starting ``skip`` samples in."""

    def __init__(self, n: int, *, seed: int, epoch: int, skip: int = 0, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.seed, self.epoch, self.skip = n, seed, epoch, skip
        self.rank, self.world_size = rank, world_size

    def _indices(self) -> list[int]:
        perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + self.epoch))
        usable = self.n - self.n % self.world_size
        return perm[self.rank:usable:self.world_size].tolist()[self.skip:]

    def __iter__(self):
        return iter(self._indices())

    def __len__(self) -> int:
        return len(self._indices())


class StreamingImages:
    def __init__(self, dataset, transform, *, image_key: str, label_key: str, batch_size: int, num_workers: int,
                 seed: int = 0, train: bool = True, rank: int = 0, world_size: int = 1) -> None:
        self.dataset = dataset.with_transform(self._apply)
        self.transform = transform
        self.image_key, self.label_key = image_key, label_key
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.train, self.rank, self.world_size = train, rank, world_size
        self.steps_per_epoch = (len(dataset) // world_size) // batch_size

    def __len__(self) -> int:
        return len(self.dataset)

    def _apply(self, batch):
        images = [self.transform(img.convert("RGB")) for img in batch[self.image_key]]
        return {"x": images, "y": batch[self.label_key]}

    def _loader(self, sampler) -> DataLoader:
        return DataLoader(self.dataset, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers,
                          drop_last=self.train, pin_memory=torch.cuda.is_available(),
                          persistent_workers=False, collate_fn=_collate)

    def batches(self, start_step: int = 0):
        epoch, pos = divmod(start_step, self.steps_per_epoch)
        while True:
            sampler = ResumableSampler(len(self.dataset), seed=self.seed, epoch=epoch, skip=pos * self.batch_size,
                                       rank=self.rank, world_size=self.world_size)
            yield from self._loader(sampler)
            epoch, pos = epoch + 1, 0

    def eval_batches(self, limit: int | None = None):
        n = len(self.dataset) if limit is None else min(limit, len(self.dataset))
        yield from self._loader(list(range(n)))


def _collate(rows):
    return torch.stack([r["x"] for r in rows]), torch.tensor([r["y"] for r in rows])
