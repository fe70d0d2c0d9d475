"""Validation loss and accuracy (top-1; next-token accuracy for text) over the validation batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def evaluate(model: nn.Module, batches, device: torch.device, autocast) -> dict[str, float]:
    was_training = model.training
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast():
            logits = model(x)
        logits = logits.reshape(-1, logits.shape[-1]).float()
        y = y.reshape(-1)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(-1) == y).sum().item()
        count += y.numel()
    model.train(was_training)
    return {"val/loss": loss_sum / count, "val/acc1": 100.0 * correct / count}
