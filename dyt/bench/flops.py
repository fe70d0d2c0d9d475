"""The FLOPs of one training step, counted from the shapes one forward actually sees.

Every ``nn.Linear`` (and a patchifying ``nn.Conv2d``, kernel = stride) is a matmul ``(M, K) x (K, N)``;
its backward is two more of the same size (input and weight gradients). Attention through
``F.scaled_dot_product_attention`` costs ``4 x T_q x T_k x head dim`` per head and sequence forward (scores
and weighted sum), counted in full (the CPU kernel computes the masked half too) and x3 with the backward.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


@contextmanager
def _recorded(model: nn.Module):
    mm, attn = [], []

    def linear(module, inputs, output):
        x = inputs[0]
        mm.append((x.numel() // x.shape[-1], module.in_features, module.out_features))

    def conv(module, inputs, output):
        if module.kernel_size == module.stride and module.groups == 1:
            k = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
            mm.append((output.shape[0] * output.shape[2] * output.shape[3], k, module.out_channels))

    handles = [m.register_forward_hook(linear) for m in model.modules() if isinstance(m, nn.Linear)]
    handles += [m.register_forward_hook(conv) for m in model.modules() if isinstance(m, nn.Conv2d)]
    original = F.scaled_dot_product_attention

    def sdpa(q, k, v, *args, **kwargs):
        attn.append(4 * q.shape[:-2].numel() * q.shape[-2] * k.shape[-2] * q.shape[-1])
        return original(q, k, v, *args, **kwargs)

    F.scaled_dot_product_attention = sdpa
    try:
        yield mm, attn
    finally:
        F.scaled_dot_product_attention = original
        for h in handles:
            h.remove()


def training_matmuls(model: nn.Module, x: torch.Tensor) -> tuple[list[tuple[int, int, int]], int]:
    """``(matmul shapes (M, K, N) of a forward and its backward, attention FLOPs of the step)`` for input ``x``."""
    with _recorded(model) as (mm, attn), torch.no_grad():
        model(x)
    shapes = [s for m, k, n in mm for s in ((m, k, n), (m, n, k), (n, m, k))]  # forward, d input, d weight
    return shapes, 3 * sum(attn)


def step_flops(experiment: str, norm: str, vocab: int = 65) -> tuple[int, list[tuple[int, int, int]]]:
    """FLOPs of one training step of ``experiment``'s CPU default with ``norm``, and its matmul shapes."""
    from dyt.bench.models import synthetic_batch
    from dyt.run.builders import build_model
    from dyt.run.schema import compose
    from dyt.run.spec import build_spec

    spec = build_spec(compose(f"experiment={experiment}", f"norm={norm}", "logger=none"))
    model = build_model(spec, vocab if spec.model.family == "gpt" else None).model
    x, _ = synthetic_batch(spec.cfg, torch.device("cpu"), vocab)
    shapes, attention = training_matmuls(model, x)
    return sum(2 * m * k * n for m, k, n in shapes) + attention, shapes
