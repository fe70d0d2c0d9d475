"""The chance level of the probe's own batches, and whether an arm sits at it (``dyt.run.data.chance``'s rule).

- Classes (targets ``(B,)``): the majority class's share of the labels seen in training (the accuracy of
  always answering it); an arm is collapsed when its held-out accuracy is within 1 point of it.
- Language models (targets ``(B, T)``): the cross-entropy of the held-out targets under the token frequencies
  of the training batches (a model that predicts every next token from its frequency alone), and the
  accuracy of always answering the most frequent token; an arm is collapsed when its held-out loss is within
  0.01 nats of that level, above it, or its accuracy is the argmax's (``dyt.run.data.chance.collapsed``).
"""

from __future__ import annotations

import torch

from dyt.run.data.chance import collapsed


def chance_level(batches, lm: bool) -> dict | None:
    """``{"metric": "val/loss" | "val/acc1", "value": ..., ...}`` from the probe's batches, or None (soft targets)."""
    train = [y for _, y in batches.train()]
    if any(y.is_floating_point() for y in train):
        return None
    seen = torch.cat([y.reshape(-1) for y in train]).long()
    held = torch.cat([y.reshape(-1) for _, y in batches.held_out()]).long()
    if seen.min() < 0 or held.min() < 0:
        return None  # ignore-index targets: no simple level
    size = max(int(seen.max()), int(held.max())) + 1
    freq = torch.bincount(seen, minlength=size).double()
    if not lm:
        prior = (freq + 1e-3) / (freq + 1e-3).sum()
        return {"metric": "val/acc1", "value": 100.0 * float(freq.max() / freq.sum()),
                "loss": float(-prior.log()[held].mean())}
    log_p = ((freq + 1e-3) / (freq + 1e-3).sum()).log()
    return {"metric": "val/loss", "value": float(-log_p[held].mean()),
            "acc1": 100.0 * float((held == int(freq.argmax())).double().mean())}


def at_chance(end: dict, chance: dict | None) -> bool | None:
    """Whether held-out metrics ``end`` (``loss``, ``acc1``) sit at ``chance``; None when it cannot tell."""
    if chance is None or not end:
        return None
    final = {f"final/val/{k}": v for k, v in end.items()}
    return collapsed(final, chance)
