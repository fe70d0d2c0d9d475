"""Activation and gradient scales at initialization, for one experiment config (never trains).

Prints, for one training batch through the freshly built model (seed 0): the
std of every norm layer's input and output, the std of the logits, and the
gradient norm of a few weight matrices. The experiments' READMEs quote these.

    .venv/bin/python scripts/init_scales.py experiment=vit norm=dyt
    .venv/bin/python scripts/init_scales.py experiment=llama norm=dyt
"""

from __future__ import annotations

import sys

import torch

from dyt.nn.convert import is_norm_like
from dyt.run.builders import build_model
from dyt.run.data import build_data
from dyt.run.schema import compose
from dyt.run.spec import build_spec
from dyt.run.trainer import loss_fn


def main(overrides: list[str]) -> None:
    cfg = compose(*overrides)
    spec = build_spec(cfg)
    torch.manual_seed(cfg.seed)
    data = build_data(cfg)
    torch.manual_seed(cfg.seed)
    model = build_model(spec, data.num_classes).model
    stats = {}
    for name, module in model.named_modules():
        if is_norm_like(module) and name:
            module.register_forward_hook(lambda m, i, o, name=name: stats.__setitem__(name, (i[0].std().item(), o.std().item())))
    x, y = data.train.batch(0)
    logits = model(x)
    loss_fn(logits, y).backward()
    print(f"{cfg.name} norm={cfg.norm.tag}: one batch of {len(x)} at init")
    for name, (inp, out) in stats.items():
        print(f"  {name:28s} input std {inp:.3f} -> output std {out:.3f}")
    print(f"  logits std {logits.std().item():.4f}")
    if data.tokenizer is not None:  # the loss of a model that knows only token frequencies
        p = torch.bincount(data.train.tokens.long()).double()
        p = p[p > 0] / p.sum()
        print(f"  unigram entropy of the training tokens {float(-(p * p.log()).sum()):.3f} nats")
    attention = [(n, p) for n, p in model.named_parameters() if "qkv.weight" in n and p.grad is not None]
    for name, p in attention[:1] + attention[-1:]:  # the first and last attention input projections
        print(f"  grad norm {name:28s} {p.grad.norm().item():.2e}")


if __name__ == "__main__":
    main(sys.argv[1:])
