"""``build_text(cfg)``: the text corpora of ``conf/data`` as ``Data`` (train windows or stream, val windows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dyt.run.data import Data
from dyt.run.errors import DataError
from dyt.run.data.text import StreamingTokens, TokenWindows, make_tokenizer, prepare_shakespeare


def _join(texts) -> str:
    return "\n\n".join(texts)


def _shakespeare(d):
    from datasets import load_from_disk

    cache = prepare_shakespeare(Path(d.path or "data/shakespeare"))
    ds = load_from_disk(str(cache))
    train, val = _join(ds[d.train_split]["text"]), _join(ds[d.val_split]["text"])
    tokenizer = make_tokenizer(d.tokenizer, corpus=train + val)
    return tokenizer, tokenizer.encode(train), tokenizer.encode(val)


def _hub_tokens(d):
    """A whole hub corpus, tokenized once and cached as .npy under data/<name>/."""
    from dyt.run.data.hub import load_hub_dataset

    cache = Path(d.path or f"data/{d.name}")
    tokenizer = make_tokenizer(d.tokenizer)
    dtype = np.uint8 if tokenizer.vocab_size <= 256 else np.int32
    arrays = []
    for split in (d.train_split, d.val_split):
        path = cache / f"{split}.{d.tokenizer}.npy"
        if not path.exists():
            texts = load_hub_dataset(d.hub_name, d.hub_config, split=split)[d.text_key]
            cache.mkdir(parents=True, exist_ok=True)
            np.save(path, tokenizer.encode(_join(texts)).astype(dtype))
        arrays.append(np.load(path))
    return tokenizer, arrays[0], arrays[1]


def build_text(cfg, rank: int = 0, world_size: int = 1) -> Data:
    d = cfg.data
    if not d.block_size:
        raise DataError("text data needs data.block_size (tokens per sequence)")
    common = dict(block_size=d.block_size, seed=cfg.seed, rank=rank, world_size=world_size)
    if d.streaming:
        from dyt.run.data.hub import load_hub_dataset

        tokenizer = make_tokenizer(d.tokenizer)
        stream = load_hub_dataset(d.hub_name, d.hub_config, split=d.train_split, streaming=True)
        held_out = _join(doc[d.text_key] for doc in stream.take(d.val_docs))
        val = TokenWindows(tokenizer.encode(held_out), batch_size=d.eval_batch_size, **common)
        train = StreamingTokens(stream, tokenizer, text_key=d.text_key, batch_size=d.batch_size,
                                skip_docs=d.val_docs, **common)
    else:
        if d.source == "shakespeare":
            tokenizer, train_tokens, val_tokens = _shakespeare(d)
        elif d.source == "hub":
            tokenizer, train_tokens, val_tokens = _hub_tokens(d)
        else:
            raise DataError(f"unknown text data.source {d.source!r}: use shakespeare or hub")
        train = TokenWindows(train_tokens, batch_size=d.batch_size, **common)
        val = TokenWindows(val_tokens, batch_size=d.eval_batch_size, **common)
    return Data(train=train, val=val, num_classes=tokenizer.vocab_size, tokenizer=tokenizer,
                tokens_per_sample=d.block_size)
