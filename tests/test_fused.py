"""The fused DyT (dyt/fused.py, dyt/fused_cpu.py) against the reference formula, forward and gradients.

Stated tolerances against DyT computed in float64, for y and dx relative to their largest
magnitude, for dalpha, dweight and dbias relative to the sum of the |terms| each adds up
(the scale of any fp32 summation error; ``_compare``):
- fp32: 2e-6 (tanh's approximation error is 3e-7 absolute; the rest is fp32 rounding);
- bf16: 1e-2 (bf16 carries 8 bits), and never worse than the bf16 reference formula by more
  than one bf16 rounding of the output.
"""

from __future__ import annotations

import copy
import platform
import re
import subprocess

import pytest
import torch
from torch import nn

import dyt.nn.layers
from dyt import DyT, DyT2d
from dyt.nn import fused as fused_mod
from dyt.nn import fused_cpu
from dyt.nn.fused import rational_tanh
from tests.conftest import compose, needs_cxx

FP32_TOL = 2e-6
BF16_TOL = 1e-2
BF16_ULP = 2.0**-8

needs_kernels = pytest.mark.skipif(fused_cpu.load() is None, reason=f"no CPU kernels: {fused_cpu.info().get('error')}")


def _rel_err(a: torch.Tensor, ref: torch.Tensor) -> float:
    return ((a.double() - ref).abs().max() / ref.abs().max().clamp_min(1e-12)).item()


def _layer(cls, channels, dtype=torch.float32, seed=0, **kwargs):
    torch.manual_seed(seed)
    layer = cls(channels, alpha_init=0.8, **kwargs)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return layer.to(dtype)


@pytest.fixture(autouse=True)
def fuse_small_inputs(monkeypatch):
    """The tests use small tensors: take the fused path at every size."""
    monkeypatch.setattr(fused_mod, "MIN_NUMEL", 0)


@pytest.fixture
def calls(monkeypatch):
    """How many times DyT's forward took the fused path (and got a result)."""
    seen = []

    def spy(*args, **kwargs):
        out = fused_mod.dyt_fused(*args, **kwargs)
        seen.append(out is not None)
        return out

    monkeypatch.setattr(dyt.nn.layers, "dyt_fused", spy)
    return seen


def _grad_scales(layer64, x64, g64) -> dict[str, torch.Tensor]:
    """Per parameter, the sum of |terms| its gradient adds up (what fp32 summation error scales with)."""
    shape = layer64.affine_shape(x64)
    dims = [d for d in range(x64.dim()) if d != (1 if layer64.layout == "channels_first" else x64.dim() - 1)]
    alpha = layer64.alpha.view(shape) if layer64.alpha_per_channel else layer64.alpha
    t = torch.tanh(alpha * x64)
    weight = layer64.weight.view(shape) if layer64.weight is not None else 1.0
    dalpha = (g64 * weight * (1 - t * t) * x64).abs().sum(dims)
    return {"alpha": dalpha if layer64.alpha_per_channel else dalpha.sum(), "weight": (g64 * t).abs().sum(dims),
            "bias": g64.abs().sum(dims)}


def _compare(layer, x, tol, grad_seed=1):
    """Fused ``layer`` vs its float64 reference on ``x``: y and dx relative to their largest magnitude,
    parameter gradients relative to the sum of the |terms| they add up."""
    layer.zero_grad(set_to_none=True)
    ref = copy.deepcopy(layer).double()
    ref.fused = False
    x = x.detach().requires_grad_()
    x64 = x.detach().double().requires_grad_()
    y, y64 = layer(x), ref(x64)
    assert y.dtype == layer.reference(x).dtype and y.shape == x.shape
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(grad_seed)).to(y.dtype)
    y.backward(g)
    y64.backward(g.double())
    errs = {"y": _rel_err(y, y64), "dx": _rel_err(x.grad, x64.grad)}
    scales = _grad_scales(ref, x64.detach(), g.double())
    for (name, p), (_, p64) in zip(layer.named_parameters(), ref.named_parameters()):
        assert p.grad is not None and p.grad.dtype == p.dtype and p.grad.shape == p.shape, name
        errs[name] = ((p.grad.double() - p64.grad).abs() / scales[name]).max().item()
    assert max(errs.values()) < tol, errs
    return errs


def test_rational_tanh_is_fp32_accurate():
    z = torch.linspace(-20, 20, 400_001, dtype=torch.float64)
    exact = torch.tanh(z)
    approx = rational_tanh(z.float()).double()
    assert (approx - exact).abs().max() < 4e-7  # torch.tanh in fp32: 5e-8; ~4 ulps of 1.0
    assert approx.abs().max() <= 1.0
    torch.testing.assert_close(rational_tanh(-z.float()), -rational_tanh(z.float()), rtol=0, atol=0)  # odd
    special = rational_tanh(torch.tensor([float("inf"), -float("inf"), float("nan"), 0.0]))
    assert special[:2].tolist() == [1.0, -1.0] and special[2].isnan() and special[3] == 0


@needs_kernels
def test_kernels_match_the_math_and_keep_nan():
    x = torch.tensor([[float("nan"), float("inf"), -float("inf"), 0.0, 1e-30, -3.0, 8.0, 100.0]])
    a, w, b = torch.full((8,), 0.7), torch.ones(8), torch.zeros(8)
    y = fused_cpu.forward(x, a, w, b, torch.float32, False)
    expected = rational_tanh(0.7 * x)
    assert y[0, 0].isnan() and y[0, 1:3].abs().max() <= 1.0  # saturates within 2 ulps of +-1 (FMA-contracted)
    torch.testing.assert_close(y[0, 1:3], torch.tensor([1.0, -1.0]), rtol=0, atol=3e-7)
    torch.testing.assert_close(y[0, 1:], expected[0, 1:], rtol=1e-6, atol=1e-7)  # the C code contracts to FMAs
    yb = fused_cpu.forward(x.bfloat16(), a, w, b, torch.bfloat16, False)
    assert yb[0, 0].isnan()
    torch.testing.assert_close(yb[0, 1:], expected[0, 1:].bfloat16(), rtol=BF16_ULP, atol=0)



@needs_kernels
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="checks x86 packed divisions")
def test_every_kernel_loop_is_vectorized(tmp_path):
    """Each kernel's tanh loop must compile to packed divisions (``divps``): with gcc's default trapping math
    the input clamp is not if-converted and the loops stay scalar (3x slower on an AVX2 EPYC)."""
    cc = fused_cpu.compiler()
    if "Free Software Foundation" not in fused_cpu._compiler_version(cc):
        pytest.skip("the check reads gcc's assembly")
    flags = [f for f in fused_cpu.info()["flags"].split() if f not in ("-shared",)]
    src = tmp_path / "k.c"
    src.write_text(fused_cpu.SOURCE)
    asm = subprocess.run([cc, *flags, "-S", str(src), "-o", "-"], capture_output=True, text=True, timeout=300,
                         check=True).stdout
    packed, function = {}, None
    for line in asm.splitlines():
        if line.endswith(":") and line.startswith("dyt_"):
            function = line[:-1].split(".")[0]
        elif function and re.search(r"\bv?divps\b", line):
            packed[function] = packed.get(function, 0) + 1
    kernels = ("fwd_last", "fwd_first", "bwd_last", "bwd_first")
    names = [f"dyt_{k}_{i}_{o}" for k in kernels for i in ("f32", "bf16") for o in ("f32", "bf16")]
    assert [n for n in names if not packed.get(n)] == [], "scalar tanh loops: check BASE_FLAGS"

CASES = {
    "tokens": (DyT, (4, 7, 40), {}),
    "threads": (DyT, (300, 130), {}),  # > 32k elements: both threads, per-thread partial sums
    "per_channel_alpha": (DyT, (300, 130), {"alpha_per_channel": True}),
    "wide": (DyT, (40, 2500), {}),  # more columns than one backward tile (1024)
    "no_affine": (DyT, (64, 48), {"elementwise_affine": False}),
    "no_bias": (DyT, (64, 48), {"bias": False}),
    "nchw": (DyT2d, (8, 24, 14, 14), {}),
    "nchw_per_channel_alpha": (DyT2d, (8, 24, 14, 14), {"alpha_per_channel": True}),
    "nc": (DyT2d, (16, 24), {}),
    "ncl": (DyT2d, (8, 24, 33), {}),
}


@needs_kernels
@pytest.mark.parametrize("case", list(CASES))
def test_fused_matches_reference_fp32(case, calls):
    cls, shape, kwargs = CASES[case]
    layer = _layer(cls, shape[1] if cls is DyT2d else shape[-1], **kwargs)
    _compare(layer, 2 * torch.randn(shape), FP32_TOL)
    assert calls == [True]


@needs_kernels
@pytest.mark.parametrize("case", ["threads", "per_channel_alpha", "nchw"])
@pytest.mark.parametrize("param_dtype", [torch.float32, torch.bfloat16])
def test_fused_matches_reference_bf16(case, param_dtype, calls):
    cls, shape, kwargs = CASES[case]
    layer = _layer(cls, shape[1] if cls is DyT2d else shape[-1], dtype=param_dtype, **kwargs)
    x = (2 * torch.randn(shape)).bfloat16()
    errs = _compare(layer, x, BF16_TOL)
    assert calls == [True]
    # the bf16 reference formula rounds after every op; the fused op computes in fp32 and rounds once
    ref_bf16 = copy.deepcopy(layer)
    ref_bf16.fused = False
    y_ref = ref_bf16(x)
    exact = copy.deepcopy(layer).double()(x.double())
    assert errs["y"] <= _rel_err(y_ref, exact) + BF16_ULP


@needs_kernels
def test_non_contiguous_and_channels_last_inputs(calls):
    layer = _layer(DyT, 32)
    base = torch.randn(40, 64)
    _compare(layer, base[:, ::2], FP32_TOL)  # strided view
    _compare(layer, torch.randn(32, 40).t(), FP32_TOL)  # transposed
    layer2d = _layer(DyT2d, 16)
    x = torch.randn(4, 16, 9, 9).to(memory_format=torch.channels_last)
    y = layer2d(x)
    assert y.is_contiguous(memory_format=torch.channels_last)  # as the reference keeps it
    _compare(layer2d, x, FP32_TOL)
    _compare(layer2d, torch.randn(4, 9, 9, 16).permute(0, 3, 1, 2)[:, :, 1:], FP32_TOL)
    assert all(calls)


@needs_kernels
def test_gradient_of_a_sum_and_no_grad_inference(calls):
    layer = _layer(DyT, 24)
    x = torch.randn(10, 24, requires_grad=True)
    layer(x).sum().backward()  # upstream gradient with stride 0
    expected = layer.weight * (1 - torch.tanh(layer.alpha * x) ** 2) * layer.alpha
    torch.testing.assert_close(x.grad, expected.detach(), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), layer.reference(x), rtol=1e-5, atol=1e-6)
    assert calls == [True, True]  # both through the fused path, not the reference


def test_opt_out_and_variants_take_the_reference(calls):
    x = torch.randn(6, 8)
    layer = DyT(8, fused=False)
    torch.testing.assert_close(layer(x), torch.tanh(0.5 * x))
    assert calls == [] and "fused=False" in repr(layer)

    class Hard(DyT):
        def squash(self, z):
            return z.clamp(-1, 1)

    torch.testing.assert_close(Hard(8, alpha_init=2.0)(x), (2.0 * x).clamp(-1, 1))
    assert calls == []


def test_unsupported_inputs_fall_back(calls):
    layer = _layer(DyT, 8)
    for x in (torch.randn(5, 8, dtype=torch.float64), torch.randn(5, 8).half(), torch.randn(8)):
        out = layer.to(x.dtype if x.dtype != torch.float16 else torch.float32)(x)
        assert out.shape == x.shape
    assert calls == [False, False, False]


def test_no_compiler_means_reference(monkeypatch):
    monkeypatch.setattr(fused_cpu, "_state", {"lib": None, "error": "test"})
    layer = _layer(DyT, 8)
    x = torch.randn(5, 8)
    assert fused_mod.dyt_fused(x, layer.alpha, layer.weight, layer.bias) is None
    torch.testing.assert_close(layer(x), layer.reference(x))


@pytest.mark.slow
@needs_cxx
def test_inductor_backend_matches_reference(monkeypatch, calls):
    """The backend CUDA uses (the math through torch.compile), run on CPU; dynamic shapes: one compile."""
    monkeypatch.setenv("DYT_FUSED_BACKEND", "inductor")
    layer = _layer(DyT, 24, alpha_per_channel=True)
    _compare(layer, torch.randn(6, 5, 24), FP32_TOL)
    _compare(layer, torch.randn(11, 24), FP32_TOL)  # another shape: no recompile needed (dynamic)
    assert calls == [True, True]


@pytest.mark.slow
@needs_cxx
@pytest.mark.parametrize("path", [pytest.param("op", marks=needs_kernels), "math"])
def test_torch_compile_of_a_model_with_fused_dyt(path, calls, monkeypatch):
    """CPU: the C kernels as custom ops inside the graph; ``math``: plain torch ops (what CUDA gets)."""
    kernel_calls = []
    for name in ("forward", "backward"):
        original = getattr(fused_cpu, name)
        monkeypatch.setattr(fused_cpu, name, lambda *a, _f=original, _n=name: kernel_calls.append(_n) or _f(*a))
    if path == "math":
        monkeypatch.setattr(fused_cpu, "LOADED", False)
    else:
        assert fused_cpu.LOADED  # DyT's constructor loads the kernels
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3), DyT2d(16, alpha_init=0.7), nn.Flatten(2), nn.Linear(36, 32),
                          DyT(32, alpha_init=1.2), nn.GELU(), nn.Linear(32, 4))
    reference = copy.deepcopy(model)
    for m in reference.modules():
        if isinstance(m, DyT):
            m.fused = False
    compiled = torch.compile(model)
    x = torch.randn(5, 3, 8, 8)
    y, y_ref = compiled(x), reference(x)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    y.square().sum().backward()
    y_ref.square().sum().backward()
    for (name, p), p_ref in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, p_ref.grad, rtol=1e-4, atol=1e-5, msg=name)
    assert calls and all(calls)  # traced through the fused op, not the reference
    assert sorted(set(kernel_calls)) == (["backward", "forward"] if path == "op" else [])


@pytest.mark.parametrize("experiment,fused", [("gpt", False), ("vit", True), ("vit", False)])
def test_norm_fused_config_reaches_every_layer(experiment, fused):
    from tests.conftest import build

    cfg = compose(f"experiment={experiment}", "norm=dyt", f"norm.fused={str(fused).lower()}")
    model = build(cfg, 65 if experiment == "gpt" else None)
    layers = [m for m in model.modules() if isinstance(m, DyT)]
    assert layers and all(m.fused is fused for m in layers)
