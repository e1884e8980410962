"""Fused CPU kernels for bfloat16 inference of the AASIST / RawGAT-ST residual encoders.

At ``precision="bfloat16"`` the convolutions of the residual blocks run in oneDNN's bfloat16 code;
everything between them (the one-channel first convolution, SELU, the residual addition and the
``(1, 3)`` max pooling) is memory-bound elementwise work that eager PyTorch runs as separate passes
over tensors of up to 16 M values (a quarter of a window's time: docs/spoof.md, "Speed"). The
kernels here do that work in one pass each, compiled by numba for the CPU they run on:

* :func:`conv_selu_single_channel` — the ``2 x 3`` convolution of a one-channel input (bias
  included) and SELU, straight into a channels-last bfloat16 tensor;
* :func:`skip_add_pool` — the first block's ``1 x 3`` skip convolution of its one-channel input
  (or the identity), the residual addition and the max pooling;
* :func:`selu_` — SELU in place, by table lookup (a bfloat16 value has 65,536 bit patterns);
* :func:`add_pool` — residual addition and max pooling of two bfloat16 tensors.

Arithmetic is float32 throughout and rounded to bfloat16 (to nearest even) once per output value,
where eager PyTorch rounds after every operation: outputs differ from the eager bfloat16 path by a
unit in the last place here and there and are, if anything, closer to float32 (tests compare
both with float32). float32 inference never uses these kernels.

numba is optional: without it, or with ``AVSYNC_CPU_KERNELS=0`` in the environment, or after
``set_enabled(False)``, bfloat16 inference runs the eager PyTorch layers. Kernels compile on first
use (a few seconds) and numba caches the machine code on disk for later processes. They use as many
threads as ``torch.get_num_threads()``.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import torch
from torch.nn import functional as F

from avsync.errors import ConfigError

__all__ = [
    "abs_pool_bn_selu",
    "add_pool",
    "applies",
    "available",
    "conv_selu_single_channel",
    "enabled",
    "filter_bank",
    "selu_",
    "set_enabled",
    "skip_add_pool",
]

ENV = "AVSYNC_CPU_KERNELS"
_override: bool | None = None
_available: bool | None = None
_kernels = None
_lut: np.ndarray | None = None
_used = False
_forked = False
_lock = threading.Lock()  # one kernel call at a time (numba's workqueue threading layer is not thread-safe)


def _after_fork_in_child() -> None:
    # GNU OpenMP (numba's usual threading layer) aborts a forked child that uses it again after the
    # parent did: such children run the eager layers instead
    global _forked
    _forked = _forked or _used


os.register_at_fork(after_in_child=_after_fork_in_child)


def available() -> bool:
    """Whether numba can be imported (the kernels' only requirement)."""
    global _available
    if _available is None:
        try:
            import numba  # noqa: F401
        except Exception:  # noqa: BLE001 - a broken numba install counts as absent
            _available = False
        else:
            _available = True
    return _available


def enabled() -> bool:
    """Whether bfloat16 CPU inference uses the kernels: numba present and not switched off (``set_enabled``,
    else ``AVSYNC_CPU_KERNELS=0``), and not a process forked from one that used them."""
    if _forked:
        return False
    if _override is not None:
        return _override and available()
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off") and available()


def set_enabled(flag: bool | None) -> None:
    """Switch the kernels on or off for this process (``None``: back to the ``AVSYNC_CPU_KERNELS`` setting)."""
    global _override
    _override = None if flag is None else bool(flag)


def applies(x: torch.Tensor) -> bool:
    """Whether a layer input takes the fused path: a CPU tensor in bfloat16 (or float32 under bfloat16
    autocast), gradients off (the kernels have no backward), kernels enabled."""
    if x.device.type != "cpu" or torch.is_grad_enabled():
        return False
    if x.dtype != torch.bfloat16 and not (x.dtype == torch.float32 and torch.is_autocast_enabled("cpu")
                                          and torch.get_autocast_dtype("cpu") == torch.bfloat16):
        return False
    return enabled()


def _run(name: str, *args: object) -> None:
    """Call kernel ``name`` with as many threads as torch uses (compiling it on first use)."""
    global _kernels, _lut, _used
    with _lock:
        if _kernels is None:
            every = torch.arange(65536, dtype=torch.int32).to(torch.int16).view(torch.bfloat16)
            _lut = F.selu(every.float()).to(torch.bfloat16).view(torch.int16).numpy().copy()
            import avsync.spoof._numba_kernels as _numba_kernels

            _kernels = _numba_kernels
        import numba

        _used = True
        threads = torch.get_num_threads()
        # numba.config sets its options from the environment at import: not in its type information
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
        with torch.profiler.record_function(f"avsync::{name}"):  # visible to torch.profiler
            getattr(_kernels, name)(*(_lut if a is _LUT else a for a in args))
        if torch.get_num_threads() != threads:  # numba's OpenMP pool can be torch's: its start resets the count
            torch.set_num_threads(threads)


_LUT = object()  # placeholder for the SELU table in _run's arguments


def _bits(t: torch.Tensor) -> np.ndarray:
    """A contiguous bfloat16 tensor's storage as an int16 numpy array (no copy)."""
    return t.view(torch.int16).numpy()


def _bf16(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype == torch.bfloat16 else t.to(torch.bfloat16)


def _nhwc(t: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W]`` → ``[B, H, W, C]`` contiguous (a view for channels-last tensors)."""
    return t.permute(0, 2, 3, 1).contiguous()


def _as_nchw(nhwc: torch.Tensor) -> torch.Tensor:
    return nhwc.permute(0, 3, 1, 2)  # channels-last [B, C, H, W] view


def conv_selu_single_channel(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``selu(conv2d(x, weight, bias, padding=(1, 1)))`` of a one-channel bfloat16 input.

    ``x [B, 1, H, W]``, ``weight [C, 1, 2, 3]``, ``bias [C]`` (float32) → ``[B, C, H + 1, W]``
    bfloat16, channels-last.
    """
    if weight.shape[1:] != (1, 2, 3):
        raise ConfigError(f"expected a [C, 1, 2, 3] kernel, got {tuple(weight.shape)}")
    b, _, h, w = x.shape
    c = weight.shape[0]
    out = torch.empty(b, h + 1, w, c, dtype=torch.bfloat16)
    taps = weight.detach().float().reshape(c, 6).t().contiguous().numpy()
    _run("conv_selu", _bits(_bf16(x)[:, 0].contiguous()), taps, bias.detach().float().contiguous().numpy(), _LUT,
         _bits(out))
    return _as_nchw(out)


def skip_add_pool(y: torch.Tensor, x: torch.Tensor, weight: torch.Tensor | None,
                  bias: torch.Tensor | None) -> torch.Tensor:
    """``max_pool2d(y + skip(x), (1, 3))`` with the skip a ``1 x 3`` convolution (padding 1) of the
    one-channel ``x``, or ``x`` itself broadcast over the channels when ``weight`` is None.

    ``y [B, C, H, W]`` bfloat16, ``x [B, 1, H, W]`` bfloat16 → ``[B, C, H, W // 3]`` channels-last.
    """
    b, c, h, w = y.shape
    if weight is None:  # identity: the middle tap only
        taps = np.zeros((3, c), np.float32)
        taps[1] = 1.0
        shift = np.zeros(c, np.float32)
    else:
        if weight.shape != (c, 1, 1, 3):
            raise ConfigError(f"expected a [{c}, 1, 1, 3] skip kernel, got {tuple(weight.shape)}")
        taps = weight.detach().float().reshape(c, 3).t().contiguous().numpy()
        shift = np.zeros(c, np.float32) if bias is None else bias.detach().float().contiguous().numpy()
    out = torch.empty(b, h, w // 3, c, dtype=torch.bfloat16)
    _run("skip_pool", _bits(_nhwc(_bf16(y))), _bits(_bf16(x)[:, 0].contiguous()), taps, shift, _bits(out))
    return _as_nchw(out)


def selu_(x: torch.Tensor) -> torch.Tensor:
    """SELU in place on a bfloat16 tensor that is contiguous in some memory format; returns ``x``."""
    if x.dtype != torch.bfloat16 or not (x.is_contiguous() or (x.dim() == 4 and x.is_contiguous(
            memory_format=torch.channels_last))):
        return F.selu(x, inplace=True)
    storage = x if x.is_contiguous() else x.permute(0, 2, 3, 1)
    _run("lookup", _bits(storage).reshape(-1), _LUT)
    return x


def add_pool(y: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``max_pool2d(y + s, (1, 3))`` of two bfloat16 ``[B, C, H, W]`` tensors → channels-last."""
    b, c, h, w = y.shape
    out = torch.empty(b, h, w // 3, c, dtype=torch.bfloat16)
    _run("add_pool", _bits(_nhwc(_bf16(y))).reshape(b * h, w, c), _bits(_nhwc(_bf16(s))).reshape(b * h, w, c),
         _bits(out).reshape(b * h, w // 3, c))
    return _as_nchw(out)


def filter_bank(x: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """``conv1d`` of waveforms ``x [B, T]`` with ``filters [C, 1, K]`` in bfloat16, as one matrix product
    of the ``K``-sample frames; time-major ``[B, T - K + 1, C]``."""
    k = filters.shape[-1]
    return x.to(torch.bfloat16).unfold(1, k, 1) @ filters[:, 0].t().to(torch.bfloat16)


def abs_pool_bn_selu(y: torch.Tensor, bn: torch.nn.BatchNorm2d) -> torch.Tensor:
    """``selu(bn(max_pool2d(|y|, 3)))`` of a time-major filter-bank output ``y [B, N, C]`` (bfloat16)
    with a one-channel batch norm; → ``[B, 1, C // 3, N // 3]`` bfloat16."""
    if bn.num_features != 1:
        raise ConfigError("expected a one-channel batch norm")
    b, n, c = y.shape
    assert bn.running_var is not None and bn.running_mean is not None  # inference uses the running statistics
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).float()
    shift = (bn.bias - bn.running_mean * scale).float()
    out = torch.empty(b, n // 3, c // 3, dtype=torch.bfloat16)
    _run("abs_pool_affine_lookup", _bits(_bf16(y).contiguous()), np.float32(scale.item()), np.float32(shift.item()),
         _LUT, _bits(out))
    return out.transpose(1, 2).unsqueeze(1).contiguous()
