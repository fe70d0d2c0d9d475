"""The level a model reaches by learning nothing but label frequencies, so that a run stuck there is seen.

Text: the cross-entropy of the validation targets under the training tokens' unigram frequencies (a model
that predicts every next token from their frequency alone: the GPT DyT arms that "train" to exactly this
loss learned nothing else), and the accuracy of always answering the most frequent training token (``acc1``).
Images: the accuracy of always answering the most common validation class.

A run is ``collapsed`` (its summary says so; the reports recompute it with the rule below) when its final
metric is within ``COLLAPSE`` of the level, and, for language models, also when its loss is above the level
(worse than the unigram model) or its next-token accuracy is that of the unigram argmax (within
``ACC_COLLAPSE`` points): a model that always answers the most frequent character has learned its frequency
and nothing else, whatever its loss.
"""

from __future__ import annotations

import math

import torch

COLLAPSE = {"val/loss": 0.01, "val/acc1": 1.0}  # nats of loss, points of accuracy
ACC_COLLAPSE = 0.05  # points: a language model's accuracy this close to the unigram argmax's is that answer


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
    argmax_acc = 100.0 * (targets == int(freq.argmax())).double().mean()
    return {"metric": "val/loss", "value": float(-log_p[targets].mean()), "acc1": float(argmax_acc)}


def collapsed(final: dict, chance: dict | None) -> bool | None:
    """Whether a run's final metrics sit at the chance level (``final``: its ``final/<metric>`` entries)."""
    if not chance or f"final/{chance['metric']}" not in final:
        return None
    value = final[f"final/{chance['metric']}"]
    if not math.isfinite(value):
        return None
    at_level = abs(value - chance["value"]) <= COLLAPSE[chance["metric"]]
    if chance["metric"] != "val/loss":
        return bool(at_level)
    acc, argmax = final.get("final/val/acc1"), chance.get("acc1")
    at_argmax = acc is not None and argmax is not None and abs(acc - argmax) <= ACC_COLLAPSE
    return bool(at_level or value > chance["value"] or at_argmax)
