"""The level a model reaches by learning nothing but label frequencies, so that a run stuck there is seen.

Text: the cross-entropy of the validation targets under the training tokens' unigram frequencies (a model
that predicts every next token from their frequency alone: the GPT DyT arms that "train" to exactly this
loss learned nothing else). Images: the accuracy of always answering the most common validation class. A
run whose final metric is within ``COLLAPSE`` of this level is marked ``collapsed`` in its summary.
"""

from __future__ import annotations

import math

import torch

COLLAPSE = {"val/loss": 0.01, "val/acc1": 1.0}  # nats of loss, points of accuracy


def chance_level(data, val_limit: int | None) -> dict | None:
    """``{"metric": "val/loss" | "val/acc1", "value": level}`` for ``data``'s evaluation, or None where it would
    cost a pass over a streamed set (ImageNet, streamed corpora)."""
    if data.tokenizer is None:  # classes: the majority class's share of the evaluated labels
        labels = getattr(data.val, "labels", None)  # in-memory sets only
        if labels is None:
            return None
        labels = labels[:val_limit].long() if val_limit else labels.long()
        return {"metric": "val/acc1", "value": 100.0 * torch.bincount(labels).max().item() / len(labels)}
    train = getattr(data.train, "tokens", None)
    if train is None:
        return None
    targets = torch.cat([y.reshape(-1) for _, y in data.val.eval_batches(val_limit)]).long()
    vocab = max(int(train.max()), int(targets.max())) + 1
    freq = torch.bincount(train.long(), minlength=vocab).double() + 1e-3  # unseen tokens: tiny, not zero
    log_p = (freq / freq.sum()).log()
    return {"metric": "val/loss", "value": float(-log_p[targets].mean())}


def collapsed(final: dict, chance: dict | None) -> bool | None:
    """Whether a run's final metrics sit at the chance level (``final``: its ``final/<metric>`` entries)."""
    if not chance or f"final/{chance['metric']}" not in final:
        return None
    value = final[f"final/{chance['metric']}"]
    return bool(math.isfinite(value) and abs(value - chance["value"]) <= COLLAPSE[chance["metric"]])
