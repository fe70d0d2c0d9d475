"""Fused DyT: ``y = weight * tanh(alpha * x) + bias`` in one pass forward and one pass backward.

``dyt_fused(x, alpha, weight, bias, channels_first)`` is what ``DyT``/``DyT2d`` call when
``fused=True`` (the default). A custom ``torch.autograd.Function`` saves only ``x`` (which
the residual stream keeps alive anyway) and recomputes tanh in the backward, which returns
dx, dalpha, dweight and dbias from one read of the upstream gradient and of x.

Where it runs:

- **CPU, eager**: C kernels (``dyt.fused_cpu``), compiled once per machine. tanh is an fp32
  rational approximation (Eigen/XLA's 13/6 polynomial ratio), max abs error 3e-7.
- **inside ``torch.compile``, CPU**: the same C kernels as opaque custom ops
  (``dyt::fused_forward``, ``dyt::fused_backward``): inductor's own code for this backward
  is a column-strided reduction loop plus a dx loop, both recomputing tanh (fwd+bwd ~3x
  slower: "DyT reference compiled" vs "DyT fused" in results/bench), though it would fuse the forward with its neighbours.
- **inside ``torch.compile``, other devices** (or no C kernels): the math as plain torch ops
  (rational tanh on CPU, ``torch.tanh`` elsewhere), forward and backward, which inductor
  fuses with the neighbouring ops.
- **CUDA, eager**: the same math through ``torch.compile`` (inductor writes Triton kernels),
  compiled lazily once per layout and dtype with dynamic shapes. Written for GPU users but
  not run by our CPU test suite (only its CPU twin, ``backend="inductor"``, is).
- everything else (fp16 and fp64 inputs on CPU, other devices, tensor subclasses,
  functorch transforms, a missing C compiler, and in eager inputs of fewer than
  ``MIN_NUMEL`` elements, where Python overhead dominates) returns ``None``: the caller
  uses the reference formula.

Numerics (stated and tested in tests/test_fused.py, against DyT in float64): fp32 y and dx
within 2e-6 of their largest magnitude (tanh's own error is 3e-7 absolute), dalpha, dweight
and dbias within 2e-6 of the sum of the |terms| each adds up (fp32 summation error);
bf16 within 1e-2, computed in fp32 and rounded once, so never worse than the bf16
reference formula (which rounds after every op) by more than one bf16 rounding.

``DYT_FUSED_BACKEND`` picks the eager backend: ``auto`` (default: ``c`` on CPU, ``inductor``
on CUDA), ``c``, ``inductor`` or ``reference`` (never fuse).
"""

from __future__ import annotations

import functools
import os
import types
import warnings

import torch

from dyt.nn import fused_cpu

__all__ = ["dyt_fused", "rational_tanh", "backend", "prepare", "BACKENDS"]

BACKENDS = ("auto", "c", "inductor", "reference")
MIN_NUMEL = 16384  # eager, smaller inputs take the reference: the per-call overhead (~50 us) outweighs the gain
TANH_CLAMP = 7.90531110763549805  # |x| beyond which fp32 tanh(x) rounds to +-1
_NUMERATOR = (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
              1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03)  # x^13 ... x^1
_DENOMINATOR = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)  # x^6 ... x^0


def rational_tanh(z: torch.Tensor) -> torch.Tensor:
    """tanh to fp32 accuracy (max abs error 3e-7) from multiply-adds and one division (Eigen, XLA)."""
    z = z.clamp(-TANH_CLAMP, TANH_CLAMP)
    z2 = z * z
    p = z2 * _NUMERATOR[0] + _NUMERATOR[1]
    for coef in _NUMERATOR[2:]:
        p = p * z2 + coef
    q = z2 * _DENOMINATOR[0] + _DENOMINATOR[1]
    for coef in _DENOMINATOR[2:]:
        q = q * z2 + coef
    return z * p / q


def backend(device: torch.device) -> str:
    """The eager backend for ``device``: ``c``, ``inductor`` or ``reference``."""
    choice = os.environ.get("DYT_FUSED_BACKEND", "auto")
    if choice not in BACKENDS:
        raise ValueError(f"DYT_FUSED_BACKEND={choice!r}: choose one of {', '.join(BACKENDS)}")
    if choice == "auto":
        return {"cpu": "c", "cuda": "inductor"}.get(device.type, "reference")
    return choice


# ---------------------------------------------------------------------------------------------
# the math, as plain torch ops: traced by torch.compile, and compiled for the inductor backend
# x is (M, C) or, channels first, (N, C, L); alpha is () or (C,); weight, bias (C,) or None
# ---------------------------------------------------------------------------------------------


def _squash(z: torch.Tensor) -> torch.Tensor:
    return rational_tanh(z) if z.device.type == "cpu" else torch.tanh(z)


def _channel(p: torch.Tensor | None, channels_first: bool) -> torch.Tensor | None:
    if p is None or p.dim() == 0:
        return None if p is None else p.float()
    return p.float().view(-1, 1) if channels_first else p.float()


def math_forward(x, alpha, weight, bias, channels_first: bool, out_dtype: torch.dtype):
    y = _squash(x.float() * _channel(alpha, channels_first))
    if weight is not None:
        y = y * _channel(weight, channels_first)
    if bias is not None:
        y = y + _channel(bias, channels_first)
    return y.to(out_dtype)


def math_backward(grad, x, alpha, weight, channels_first: bool):
    """(dx in x's dtype, then fp32 dalpha per channel, dweight, dbias sums of shape (C,))."""
    dims = (0, 2) if channels_first else (0,)
    g, xf, a = grad.float(), x.float(), _channel(alpha, channels_first)
    t = _squash(xf * a)
    gw = g * _channel(weight, channels_first) if weight is not None else g
    dz = gw * (1.0 - t * t)
    dx = (dz * a).to(x.dtype)
    return dx, (dz * xf).sum(dims), (g * t).sum(dims), g.sum(dims)


_compiled: dict = {}


def _compile(fn, key):
    """``torch.compile(fn)`` on a fresh code object per key: dynamo caches (and counts recompiles)
    per code object, so each layout/dtype/affine combination gets its own single compile."""
    if key not in _compiled:
        name = f"{fn.__name__}_{abs(hash(key)):x}"
        copy = types.FunctionType(fn.__code__.replace(co_name=name), fn.__globals__, name, fn.__defaults__,
                                  fn.__closure__)
        _compiled[key] = torch.compile(copy, dynamic=True)
    return _compiled[key]


def _inductor_key(*tensors, channels_first, extra=()):
    return (channels_first, *extra, *((None if t is None else (t.dtype, t.dim(), t.device.type)) for t in tensors))


# ---------------------------------------------------------------------------------------------
# the autograd function: kernels in eager, the math under torch.compile
# ---------------------------------------------------------------------------------------------


def _kernel_params(alpha, weight, bias, channels: int):
    """alpha, weight, bias as contiguous fp32 (C,) tensors (ones and zeros where absent)."""
    a = alpha.detach().float().expand(channels).contiguous()
    w = weight.detach().float().contiguous() if weight is not None else torch.ones(channels)
    b = bias.detach().float().contiguous() if bias is not None else torch.zeros(channels)
    return a, w, b


def _reduce_to(grad_sum: torch.Tensor, param: torch.Tensor | None) -> torch.Tensor | None:
    if param is None:
        return None
    return (grad_sum.sum() if param.dim() == 0 else grad_sum).to(param.dtype)


class DyTFunction(torch.autograd.Function):
    """DyT on a contiguous (M, C) or, ``channels_first``, (N, C, L) tensor; saves only x.

    Old-style ``forward(ctx, ...)``: ``setup_context`` costs ~0.1 ms per call in ``apply``
    (it binds the signature with ``inspect``); functorch transforms take the reference instead."""

    @staticmethod
    def forward(ctx, x, alpha, weight, bias, channels_first: bool, out_dtype: torch.dtype, how: str):
        ctx.save_for_backward(x, alpha, weight, bias)
        ctx.channels_first, ctx.how = channels_first, how
        if how == "math":
            return math_forward(x, alpha, weight, bias, channels_first, out_dtype)
        if how == "op":  # inside torch.compile on CPU: the C kernels as an opaque op
            a, w, b = _kernel_params(alpha, weight, bias, x.shape[1])
            return fused_cpu.forward_op(x, a, w, b, out_dtype, channels_first)
        if how == "c":
            a, w, b = _kernel_params(alpha, weight, bias, x.shape[1])
            ctx.kernel_params = a, w  # (C,) fp32 (views of the parameters where they already are), reused by the backward
            return fused_cpu.forward(x, a, w, b, out_dtype, channels_first)
        fn = _compile(math_forward, ("fwd", *_inductor_key(x, alpha, weight, bias, channels_first=channels_first,
                                                            extra=(out_dtype,))))
        return fn(x, alpha, weight, bias, channels_first, out_dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, alpha, weight, bias = ctx.saved_tensors
        channels_first, how = ctx.channels_first, ctx.how
        grad = grad.contiguous()  # e.g. the stride-0 gradient of .sum()
        if how == "math":
            dx, da, dw, db = math_backward(grad, x, alpha, weight, channels_first)
        elif how in ("c", "op"):  # grad comes in the output's dtype: fp32 or bf16, as the kernels take
            if how == "c":
                a, w = ctx.kernel_params
                dx, da, dw, db = fused_cpu.backward(grad, x, a, w, channels_first)
            else:
                a, w, _ = _kernel_params(alpha, weight, None, x.shape[1])
                dx, da, dw, db = fused_cpu.backward_op(grad, x, a, w, channels_first)
        else:
            fn = _compile(math_backward, ("bwd", *_inductor_key(grad, x, alpha, weight, channels_first=channels_first)))
            dx, da, dw, db = fn(grad, x, alpha, weight, channels_first)
        return dx, _reduce_to(da, alpha), _reduce_to(dw, weight), _reduce_to(db, bias), None, None, None


# ---------------------------------------------------------------------------------------------
# the entry point: decide, put the channels in place, apply
# ---------------------------------------------------------------------------------------------

def _plain(t) -> bool:
    return t is None or type(t) in (torch.Tensor, torch.nn.Parameter)


def _out_dtype(x, alpha, weight, bias) -> torch.dtype:
    """The reference formula's result dtype (a 0-dim alpha does not promote x)."""
    dtype = x.dtype
    for p in (alpha if alpha.dim() else None, weight, bias):
        if p is not None:
            dtype = torch.promote_types(dtype, p.dtype)
    return dtype


_functorch_active = getattr(torch._C, "_are_functorch_transforms_active", lambda: False)


def _kernel_ok(x, out_dtype: torch.dtype) -> bool:
    """The C kernels cover this input (CPU, fp32/bf16 in and out)."""
    return x.device.type == "cpu" and x.dtype in fused_cpu.DTYPES and out_dtype in fused_cpu.DTYPES


def _how(x, alpha, weight, bias, out_dtype: torch.dtype) -> str | None:
    """How to run: ``op`` or ``math`` (inside torch.compile), ``c``, ``inductor``; None: the reference."""
    if x.dim() < 2 or x.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        return None
    if torch.compiler.is_compiling():
        return "op" if fused_cpu.LOADED and _kernel_ok(x, out_dtype) else "math"
    if not all(_plain(t) for t in (x, alpha, weight, bias)) or _functorch_active() or x.numel() < MIN_NUMEL:
        return None
    if len({t.device for t in (x, alpha, weight, bias) if t is not None}) != 1:
        return None
    how = backend(x.device)
    if how == "c":
        return "c" if _kernel_ok(x, out_dtype) and fused_cpu.load() is not None else None
    return how if how == "inductor" and _inductor_ok(x.device) else None


def prepare(device=None) -> None:
    """Build/load the CPU kernels now (a layer calls this when built), so that ``torch.compile``,
    which must not compile C code while tracing, finds them loaded."""
    if (device is None or torch.device(device).type == "cpu") and backend(torch.device("cpu")) == "c":
        fused_cpu.load()


def _inductor_ok(device: torch.device) -> bool:
    if device.type == "cuda":
        return _has_triton()
    return device.type == "cpu"


@functools.cache
def _has_triton() -> bool:
    """inductor's GPU code generator is importable (tried once; one warning if not)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        warnings.warn("DyT: triton is not installed, the fused CUDA path falls back to the reference",
                      RuntimeWarning, stacklevel=5)
        return False
    return True


def dyt_fused(x: torch.Tensor, alpha: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
              channels_first: bool = False) -> torch.Tensor | None:
    """Fused DyT of ``x`` ((..., C), or (N, C, ...) when ``channels_first``); None where not supported."""
    out_dtype = _out_dtype(x, alpha, weight, bias)
    how = _how(x, alpha, weight, bias, out_dtype)
    if how is None:
        return None
    if channels_first and x.dim() > 2:
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            # NHWC in memory: the channels-last kernel on the (N*H*W, C) rows, no copy
            rows = x.permute(0, 2, 3, 1)
            y = DyTFunction.apply(rows.reshape(-1, x.shape[1]), alpha, weight, bias, False, out_dtype, how)
            return y.view(rows.shape).permute(0, 3, 1, 2)
        flat = x.contiguous().view(x.shape[0], x.shape[1], -1)
        return DyTFunction.apply(flat, alpha, weight, bias, True, out_dtype, how).view(x.shape)
    flat = x.contiguous().view(-1, x.shape[-1]) if not channels_first else x.contiguous()
    return DyTFunction.apply(flat, alpha, weight, bias, False, out_dtype, how).view(x.shape)
