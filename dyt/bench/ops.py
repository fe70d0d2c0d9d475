"""Op level: one norm layer, forward and forward+backward, DyT (reference, fused, eager, compiled) vs
LayerNorm, RMSNorm and the copy floor."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dyt.nn.fused import dyt_fused
from dyt.nn.layers import DyT, DyT2d
from dyt.bench.timing import Clock, measure

OPS = ("copy", "LayerNorm", "LayerNorm compiled", "RMSNorm", "DyT reference", "DyT reference compiled",
       "DyT fused", "DyT fused compiled")


def _dyt_reference(x, alpha, weight, bias, channels_first: bool):
    if channels_first:
        shape = (-1,) + (1,) * (x.dim() - 2)
        weight, bias = weight.view(shape), bias.view(shape)
    return weight * torch.tanh(alpha * x) + bias


def _dyt_fused_fn(x, alpha, weight, bias, channels_first: bool):
    return dyt_fused(x, alpha, weight, bias, channels_first=channels_first)


def _layer_norm(x, weight, bias, channels_first: bool):
    if channels_first:
        return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), weight, bias, 1e-6).permute(0, 3, 1, 2)
    return F.layer_norm(x, (x.shape[-1],), weight, bias, 1e-6)


_compiled: dict = {}


def _compiled_fn(fn):
    """One ``torch.compile`` per function, dynamic shapes: one compile serves every C."""
    if fn not in _compiled:
        _compiled[fn] = torch.compile(fn, dynamic=True)
    return _compiled[fn]


def op_impls(shape: tuple[int, ...], channels_first: bool, device, dtype, compile_ops: bool):
    """``{name: (params, fn(x) -> y)}`` for one input shape."""
    channels = shape[1] if channels_first else shape[-1]
    factory = {"device": device, "dtype": dtype}
    if channels_first:
        from timm.layers import LayerNorm2d, RmsNorm2d

        ln, rms, dyt_ref, dyt = LayerNorm2d(channels, **factory), RmsNorm2d(channels, **factory), \
            DyT2d(channels, fused=False, **factory), DyT2d(channels, **factory)
    else:
        ln, rms = nn.LayerNorm(channels, eps=1e-6, **factory), nn.RMSNorm(channels, eps=1e-6, **factory)
        dyt_ref, dyt = DyT(channels, fused=False, **factory), DyT(channels, **factory)
    impls = {
        "LayerNorm": (list(ln.parameters()), ln),
        "RMSNorm": (list(rms.parameters()), rms),
        "DyT reference": (list(dyt_ref.parameters()), dyt_ref),
        "DyT fused": (list(dyt.parameters()), dyt),
    }
    if compile_ops:
        ln_c, ref_c, fused_c = (_compiled_fn(f) for f in (_layer_norm, _dyt_reference, _dyt_fused_fn))
        impls["LayerNorm compiled"] = (list(ln.parameters()), lambda x: ln_c(x, ln.weight, ln.bias, channels_first))
        impls["DyT reference compiled"] = (list(dyt_ref.parameters()),
                                           lambda x: ref_c(x, dyt_ref.alpha, dyt_ref.weight, dyt_ref.bias, channels_first))
        impls["DyT fused compiled"] = (list(dyt.parameters()),
                                       lambda x: fused_c(x, dyt.alpha, dyt.weight, dyt.bias, channels_first))
    return {name: impls[name] for name in OPS if name in impls}


def op_level(shapes, device, dtype, clock: Clock, reps: int, compile_ops: bool, share_s: float, say) -> list[dict]:
    rows = []
    for shape, channels_first in shapes:
        torch.manual_seed(0)
        x = torch.randn(shape, device=device, dtype=dtype)
        g = torch.randn(shape, device=device, dtype=dtype)
        xg = x.detach().clone().requires_grad_()
        impls = op_impls(shape, channels_first, device, dtype, compile_ops)

        def forward(fn):
            def call():
                with torch.no_grad():
                    return fn(x)
            return call

        def forward_backward(fn, params):
            def call():
                return torch.autograd.grad(fn(xg), [xg, *params], g)
            return call

        fwd = {"copy": lambda: x.clone(), **{name: forward(fn) for name, (params, fn) in impls.items()}}
        fwdbwd = {"copy": lambda: (x.clone(), g + x),
                  **{name: forward_backward(fn, params) for name, (params, fn) in impls.items()}}
        label = f"{'N,C,H,W' if channels_first else 'tokens,C'}={'x'.join(map(str, shape))}"
        for mode, fns in (("fwd", fwd), ("fwd+bwd", fwdbwd)):
            stats = measure(fns, clock, reps=reps, share_s=share_s / 2)
            row = {"shape": list(shape), "channels_first": channels_first, "C": shape[1] if channels_first else shape[-1],
                   "numel": x.numel(), "bytes_per_element": x.element_size(), "mode": mode, "label": label,
                   "results": stats}
            rows.append(row)
            say(f"op {label} {mode}: " + "  ".join(f"{name} {s['median_ms']:.2f}" for name, s in stats.items()) + " ms")
    return rows
