"""Fashion-MNIST as a ``datasets`` Arrow dataset cached under ``data/``.

Sources, in order: the IDX files of the Debian package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist``, no network needed), then the hub dataset
``zalando-datasets/fashion_mnist``. ``python -m dyt.run.data.fashion_mnist`` (what
``make data`` runs) builds the cache once.
"""

from __future__ import annotations

import gzip
import os
import struct
import sys
from pathlib import Path

import numpy as np

from dyt.run.errors import DataError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
HUB_NAME = "zalando-datasets/fashion_mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FIX = "run `make data` (installs the Debian package dataset-fashion-mnist, or downloads from the hub when online)"


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        zero, dtype_code, ndim = struct.unpack(">HBB", f.read(4))
        if zero != 0 or dtype_code != 0x08:
            raise DataError(f"{path} is not an IDX file of unsigned bytes")
        shape = struct.unpack(f">{ndim}I", f.read(4 * ndim))
        data = np.frombuffer(f.read(), dtype=np.uint8)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: expected {int(np.prod(shape))} bytes, got {data.size}; {FIX}")
    return data.reshape(shape)


def _features():
    from datasets import Array2D, ClassLabel, Features

    return Features({"image": Array2D(shape=(28, 28), dtype="uint8"), "label": ClassLabel(names=CLASSES)})


def from_idx(idx_dir: Path):
    from datasets import Dataset, DatasetDict

    splits = {}
    for split, (images, labels) in _FILES.items():
        x, y = read_idx(idx_dir / images), read_idx(idx_dir / labels)
        if len(x) != len(y):
            raise DataError(f"{idx_dir}: {len(x)} images but {len(y)} labels in the {split} split")
        splits[split] = Dataset.from_dict({"image": x, "label": y}, features=_features())
    return DatasetDict(splits)


def from_hub():
    from datasets import Dataset, DatasetDict

    from dyt.run.data.hub import load_hub_dataset

    raw = load_hub_dataset(HUB_NAME, fix=FIX)
    splits = {}
    for split in ("train", "test"):
        x = np.stack([np.asarray(img, dtype=np.uint8) for img in raw[split]["image"]])
        splits[split] = Dataset.from_dict({"image": x, "label": raw[split]["label"]}, features=_features())
    return DatasetDict(splits)


def prepare(cache_dir: Path, idx_dir: Path = DEBIAN_DIR, allow_hub: bool = True) -> Path:
    """Build the Arrow cache at ``cache_dir`` unless it is already there; return it."""
    cache_dir = Path(cache_dir)
    if (cache_dir / "dataset_dict.json").exists():
        return cache_dir
    if all((idx_dir / f).exists() for pair in _FILES.values() for f in pair):
        dataset, source = from_idx(idx_dir), f"IDX files in {idx_dir}"
    elif allow_hub:
        dataset, source = from_hub(), f"the hub ({HUB_NAME})"
    else:
        raise DataError(f"Fashion-MNIST not found in {idx_dir}; {FIX}")
    tmp = cache_dir.with_name(cache_dir.name + ".tmp")
    dataset.save_to_disk(str(tmp))
    os.replace(tmp, cache_dir)  # atomic: a half-written cache is never seen
    print(f"fashion_mnist: cached {sum(len(d) for d in dataset.values())} images from {source} in {cache_dir}")
    return cache_dir


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/fashion_mnist")
    try:
        prepare(target)
    except DataError as err:
        sys.exit(f"error: {err}")
