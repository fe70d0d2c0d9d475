"""DyT's CPU kernels: one C file, compiled once per machine with the system C compiler, called through ctypes.

Why C and not ``torch.compile``: inductor vectorizes the forward well, but it splits the
backward into a column-strided reduction loop (for dalpha, dweight, dbias) and a second
loop for dx, each recomputing tanh, which made fwd+bwd ~3x slower than one pass each way
(measured on 2 AMD EPYC cores, 8192 x 768 fp32). These kernels make one pass each way:

- forward: read x, write y = w * tanh(alpha * x) + b;
- backward: read g and x, recompute tanh, write dx, and accumulate dalpha, dweight and
  dbias per channel in per-thread buffers (summed in blocks of rows for accuracy).

tanh is Eigen's / XLA's fp32 rational approximation (odd 13/6-degree polynomial ratio,
input clamped to +-7.9053, where tanh rounds to +-1 in fp32): max abs error 3e-7 against
float64 tanh (~4 fp32 ulps near 1; torch.tanh: 5e-8), vectorized by the compiler into
multiply-adds and one division (``-fno-trapping-math`` is what lets gcc vectorize the clamp: see
BASE_FLAGS). Where the compiler targets AVX2 with FMA (``-march=native`` on any x86 host of the last
decade), the fp32 channels-last kernels, the training hot path, run the same function written with 8-lane
intrinsics (clamp by min/max instead of gcc's compare-and-blend: ~20% less time in cache); with FMA
contraction tanh saturates at 1 - 2^-22 rather than 1. All arithmetic is fp32; bf16 is loaded and stored with
round-to-nearest-even. fp16 and fp64 are not handled here (the caller falls back).

The shared library is cached under ``$DYT_KERNEL_CACHE`` (default
``$XDG_CACHE_HOME/dyt/kernels`` or ``~/.cache/dyt/kernels``), keyed by the source, the
flags, the compiler and the CPU's feature flags (``-march=native`` code must not run on
another CPU). It needs a C compiler (``$CC``, else ``cc``/``gcc``/``clang``; Debian:
``apt-get install gcc``) with OpenMP (``libgomp``, part of gcc); without OpenMP the
kernels run single-threaded, without a compiler ``load()`` returns None and DyT uses the
reference formula.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import torch

SOURCE = (Path(__file__).with_name("fused_cpu.c")).read_text()  # the kernels, compiled once per machine

DTYPES = {torch.float32: "f32", torch.bfloat16: "bf16"}
# -fno-trapping-math: without it gcc (12, -march=znver3) will not if-convert tanh's input clamp, so the
# loops stay scalar (one vdivss per element: forward 2.9x LayerNorm on an AVX2 EPYC); with it every tanh loop
# is vectorized (vdivps). The kernels never read the FP exception flags; NaN still propagates (a compare
# with NaN is false, the select keeps x).
BASE_FLAGS = ["-O3", "-shared", "-fPIC", "-std=c11", "-ffp-contract=fast", "-fno-math-errno", "-fno-trapping-math"]
# tried in order until one compiles: OpenMP threads and this CPU's vector ISA, then fewer
FLAG_SETS = [["-march=native", "-fopenmp"], ["-fopenmp"], ["-march=native", "-fopenmp-simd"], []]
SMALL = 1 << 15  # elements: below this one thread (OpenMP's fork costs more than it saves)

_lock = threading.Lock()
_state: dict = {}  # "lib": CDLL | None once tried, "error": why not, "path": the .so
LOADED = False  # the library is loaded (a plain bool: torch.compile reads it while tracing)


def compiler() -> str | None:
    """The C compiler used: ``$CC``, else the first of cc, gcc, clang on PATH."""
    if os.environ.get("CC"):
        return shutil.which(os.environ["CC"]) or os.environ["CC"]
    for name in ("cc", "gcc", "clang"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def cache_dir() -> Path:
    if os.environ.get("DYT_KERNEL_CACHE"):
        return Path(os.environ["DYT_KERNEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dyt" / "kernels"


def compiler_target() -> str:
    """The compiler and the CPU target ``-march=native`` means here, e.g. ``gcc 12.2.0, -march=native = znver3``
    (gcc says which; for another compiler its version line)."""
    cc = compiler()
    if cc is None:
        return "no C compiler"
    version = _compiler_version(cc).splitlines()
    name = version[0].strip() if version else os.path.basename(cc)
    try:
        out = subprocess.run([cc, "-march=native", "-Q", "--help=target"], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    march = next((line.split()[-1] for line in out.splitlines() if line.strip().startswith("-march=")
                  and len(line.split()) > 1), None)
    return f"{name}, -march=native = {march}" if march else name


def _cpu_fingerprint() -> str:
    """Machine and CPU feature flags: ``-march=native`` builds are only valid on the same kind of CPU."""
    text = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features", "model name")):
                    text += line
                    if line.startswith(("flags", "Features")):
                        break
    except OSError:
        text += platform.processor()
    return text


def _compiler_version(cc: str) -> str:
    try:
        return subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _build(cc: str, directory: Path) -> tuple[Path, str]:
    """Compile SOURCE into ``directory`` (atomically: other processes may race); return the path and its flags."""
    errors = []
    version, cpu = _compiler_version(cc), _cpu_fingerprint()  # once per process (a subprocess, a file read)
    for extra in FLAG_SETS:
        flags = BASE_FLAGS + extra
        key = hashlib.sha256("\n".join([SOURCE, " ".join(flags), cc, version, cpu]).encode()).hexdigest()[:20]
        path = directory / f"dyt_kernels_{key}.so"
        if path.exists():
            return path, " ".join(flags)
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            src, out = Path(tmp) / "dyt_kernels.c", Path(tmp) / "dyt_kernels.so"
            src.write_text(SOURCE)
            proc = subprocess.run([cc, *flags, str(src), "-o", str(out)], capture_output=True, text=True, timeout=300)
            if proc.returncode == 0:
                os.replace(out, path)
                return path, " ".join(flags)
            errors.append(f"{cc} {' '.join(flags)}: {proc.stderr.strip()[-500:]}")
    raise RuntimeError("could not compile the DyT CPU kernels:\n" + "\n".join(errors))


def _declare(lib: ctypes.CDLL) -> None:
    p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for tin in DTYPES.values():
        for tout in DTYPES.values():
            getattr(lib, f"dyt_fwd_last_{tin}_{tout}").argtypes = [p, p, p, p, p, i64, i64, i32]
            getattr(lib, f"dyt_fwd_first_{tin}_{tout}").argtypes = [p, p, p, p, p, i64, i64, i64, i32]
            getattr(lib, f"dyt_bwd_last_{tin}_{tout}").argtypes = [p, p, p, p, p, p, i64, i64, i32]
            getattr(lib, f"dyt_bwd_first_{tin}_{tout}").argtypes = [p, p, p, p, p, p, i64, i64, i64, i32]


def load() -> ctypes.CDLL | None:
    """The kernel library, built on first use; None (with one warning) where it cannot be built."""
    if "lib" in _state:
        return _state["lib"]
    with _lock:
        if "lib" in _state:
            return _state["lib"]
        lib = None
        try:
            cc = compiler()
            if cc is None:
                raise RuntimeError("no C compiler found (set $CC, or install one: apt-get install gcc)")
            try:
                path, flags = _build(cc, cache_dir())
            except OSError:  # cache dir not writable: build into a temporary one
                path, flags = _build(cc, Path(tempfile.gettempdir()) / "dyt-kernels")
            lib = ctypes.CDLL(str(path))
            _declare(lib)
            _state.update(path=str(path), flags=flags, openmp=bool(lib.dyt_openmp()))
        except (RuntimeError, OSError, subprocess.SubprocessError, AttributeError) as err:
            _state["error"] = str(err)
            warnings.warn(f"DyT: fused CPU kernels unavailable, using the reference formula ({err})", RuntimeWarning,
                          stacklevel=3)
        _state["lib"] = lib
        global LOADED
        LOADED = lib is not None
        return lib


def info() -> dict:
    """What ``load()`` found: the library path and flags, or the error."""
    load()
    return {k: v for k, v in _state.items() if k != "lib"}


_kernels: dict = {}


def _kernel(direction: str, channels_first: bool, tin: torch.dtype, tout: torch.dtype):
    key = (direction, channels_first, tin, tout)
    if key not in _kernels:
        name = f"dyt_{direction}_{'first' if channels_first else 'last'}_{DTYPES[tin]}_{DTYPES[tout]}"
        _kernels[key] = getattr(load(), name)
    return _kernels[key]


def _threads(numel: int) -> int:
    return 1 if numel < SMALL else torch.get_num_threads()


def forward(x: torch.Tensor, alpha: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
            out_dtype: torch.dtype, channels_first: bool) -> torch.Tensor:
    """``y = weight * tanh(alpha * x) + bias`` for a contiguous ``x`` of shape (M, C), or (N, C, L)
    when ``channels_first``; ``alpha``, ``weight``, ``bias``: contiguous fp32 of shape (C,)."""
    y = torch.empty(x.shape, dtype=out_dtype)
    _kernel("fwd", channels_first, x.dtype, out_dtype)(x.data_ptr(), alpha.data_ptr(), weight.data_ptr(),
                                                       bias.data_ptr(), y.data_ptr(), *x.shape, _threads(x.numel()))
    return y


# the kernels as torch ops, for torch.compile: opaque to inductor, which otherwise splits the backward
# into a column-strided reduction loop and a dx loop that both recompute tanh (fwd+bwd ~3x slower)


@torch.library.custom_op("dyt::fused_forward", mutates_args=())
def forward_op(x: torch.Tensor, alpha: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, out_dtype: torch.dtype,
               channels_first: bool) -> torch.Tensor:
    return forward(x.contiguous(), alpha.contiguous(), weight.contiguous(), bias.contiguous(), out_dtype, channels_first)


@forward_op.register_fake
def _(x, alpha, weight, bias, out_dtype, channels_first):
    return x.new_empty(x.shape, dtype=out_dtype)


@torch.library.custom_op("dyt::fused_backward", mutates_args=())
def backward_op(grad: torch.Tensor, x: torch.Tensor, alpha: torch.Tensor, weight: torch.Tensor,
                channels_first: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    dx, da, dw, db = backward(grad.contiguous(), x.contiguous(), alpha.contiguous(), weight.contiguous(), channels_first)
    return dx, da.clone(), dw.clone(), db.clone()  # ops may not return aliases of one another


@backward_op.register_fake
def _(grad, x, alpha, weight, channels_first):
    sums = [x.new_empty(x.shape[1], dtype=torch.float32) for _ in range(3)]
    return (torch.empty_like(x), *sums)


def backward(grad: torch.Tensor, x: torch.Tensor, alpha: torch.Tensor, weight: torch.Tensor,
             channels_first: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(dx, dalpha, dweight, dbias)`` with the per-channel sums in fp32, shape (C,) each;
    ``grad`` and ``x`` contiguous and of ``x``'s shape."""
    nt = _threads(x.numel())
    dx = torch.empty_like(x)
    part = torch.zeros(nt, 3 if channels_first else 6, x.shape[1])
    _kernel("bwd", channels_first, x.dtype, grad.dtype)(grad.data_ptr(), x.data_ptr(), alpha.data_ptr(),
                                                        weight.data_ptr(), dx.data_ptr(), part.data_ptr(), *x.shape, nt)
    sums = part[:, :3].sum(0) if nt > 1 else part[0, :3]
    return dx, sums[0], sums[1], sums[2]
