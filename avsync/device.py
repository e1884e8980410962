"""Where and how the networks run: torch device names, inference precisions, the CPU memory allocator.

Device names: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (and any other torch device). Every
place that moves a network to a device resolves the name here first, so that asking for a GPU on a
machine without one is a :class:`~avsync.errors.ConfigError` with a hint, not an internal error.

:func:`tune_cpu_allocator` keeps large freed tensors for reuse (glibc), and :func:`limit_omp_spinning`
stops idle OpenMP threads from spinning, which the ``avsync`` command and its batch workers apply at start.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable
from typing import Literal

from avsync.errors import ConfigError

__all__ = [
    "ALLOCATOR_ENV", "ALLOCATOR_KEEP_BYTES", "PRECISIONS", "Precision", "allocator_tuning_enabled", "check_precision",
    "limit_omp_spinning", "release_free_memory", "resolve_device", "tune_cpu_allocator",
]

Precision = Literal["float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")
"""Inference precisions of the spoof networks. ``bfloat16`` is about 2x faster than float32 on CPUs
with AVX-512 BF16 or AMX (bfloat16 convolutions plus the fused kernels of
:mod:`avsync.spoof.cpu_kernels`), but it moves scores near the decision boundary: over the 605 files
of the evaluation set the default model's file scores changed by a median 4e-6 but up to 0.35 (99th
percentile 0.13), and 2 files changed side of 0.5 (docs/spoof.md, "Speed")."""

#: Environment variable: ``0`` (or ``false``/``no``/``off``) turns :func:`tune_cpu_allocator` into a no-op.
ALLOCATOR_ENV = "AVSYNC_ALLOCATOR_TUNING"
#: Allocations up to this size come from the heap, and up to this much freed memory is kept there.
ALLOCATOR_KEEP_BYTES = 256 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
_GLIBC_MMAP_CAP = 32 << 20  # the largest mmap threshold some glibc versions accept on 64-bit


def resolve_device(device: object = "cpu") -> str:
    """The torch device to use for ``device``.

    ``"auto"`` (or ``None``) is ``"cuda"`` when a CUDA device is available, else ``"cpu"``; a CUDA
    device that is not there, or a name torch does not know (``"gpu"``), raises :class:`ConfigError`; any other
    torch device (``"mps"``, ``"xpu"``) is returned as a string.
    """
    name = "auto" if device is None else str(device)
    if name == "cpu":
        return name
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was asked for but no CUDA device is available",
                              hint="use --device cpu (or auto)")
        index = name.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)",
                              hint="use cuda:0 … or --device cpu")
        return name
    try:
        torch.device(name)
    except (RuntimeError, ValueError) as e:
        raise ConfigError(f"unknown device {name!r}", hint="use auto, cpu, cuda or cuda:N") from e
    return name


def native_bfloat16(device: str) -> bool:
    """Whether bfloat16 inference runs natively on ``device``: any CUDA device, or a CPU on which oneDNN runs it
    (AVX-512 or AMX). Elsewhere (e.g. a CPU with AVX2 only) it is emulated and several times slower than float32
    (a 2-core AMD EPYC without AVX-512: whole-file RTF 0.37 against 0.046, ``benchmarks/bench_spoof.py``)."""
    if not str(device).startswith("cpu"):
        return True
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (ImportError, AttributeError, RuntimeError):  # an unknown build: no claim either way
        return True


def check_precision(precision: str) -> None:
    """Raise ``ValueError`` unless ``precision`` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def allocator_tuning_enabled() -> bool:
    """``False`` when the environment variable :data:`ALLOCATOR_ENV` says ``0``/``false``/``no``/``off``."""
    return os.environ.get(ALLOCATOR_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _set_thresholds(mallopt: Callable[[int, int], int]) -> int:
    """Raise glibc's mmap and trim thresholds; the size applied (bytes), 0 if glibc refused.

    glibc versions that cap the mmap threshold at 32 MiB (64-bit) refuse the larger value: then 32 MiB.
    """
    for size in (ALLOCATOR_KEEP_BYTES, _GLIBC_MMAP_CAP):
        if mallopt(_M_MMAP_THRESHOLD, size):
            mallopt(_M_TRIM_THRESHOLD, size)
            return size
    return 0


OMP_SPINCOUNT = "2000"
"""``GOMP_SPINCOUNT`` set by :func:`limit_omp_spinning` (libgomp's default spins about 300,000 times)."""


def limit_omp_spinning() -> bool:
    """Let idle OpenMP threads (torch's libgomp, shared by OpenCV once torch is loaded) sleep almost at once.

    By default a libgomp thread that finishes its share of a parallel loop spins for a while before it
    sleeps. On a machine where another process keeps a core busy, the spinning threads take the CPU from
    the one still working, and every parallel region waits for it: on 2 cores with one core busy,
    ``avsync analyze`` of a 61 s 720p clip took 87.9 s with the default spinning, 25.5 s with
    ``GOMP_SPINCOUNT=2000`` (OMP_WAIT_POLICY=PASSIVE: 23.3 s), and 14.9 s vs 14.6 s on an idle machine
    (PASSIVE: 16.6 s); docs/long-files.md.

    Sets ``GOMP_SPINCOUNT`` unless the environment already does; it only takes effect before torch is
    first imported (libgomp reads it when it is loaded), so the ``avsync`` command and its worker
    processes call it at start, and a notebook or service can call it before importing torch. Returns
    whether it set it (``False``: the environment has a setting of its own, or torch is already loaded).
    """
    if "GOMP_SPINCOUNT" in os.environ or "OMP_WAIT_POLICY" in os.environ or "torch" in sys.modules:
        return False
    os.environ["GOMP_SPINCOUNT"] = OMP_SPINCOUNT
    return True


def release_free_memory() -> bool:
    """Give the memory freed inside the process back to the system (glibc ``malloc_trim``; a no-op elsewhere).

    The section-by-section analysis of a long video frees the crops of each section before the next;
    glibc keeps much of it in fragmented heaps of several threads, and the resident memory of a 60-minute
    720p ``analyze`` climbed by about 20 MiB a section. Trimming after each section (a few milliseconds)
    keeps it flat (docs/long-files.md). The voice check of a long recording trims after each block it reads for
    the same reason. Returns whether the trim ran.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)
    return True


def tune_cpu_allocator(enabled: bool | None = None) -> bool:
    """Let glibc serve tensors up to 256 MiB from the heap and keep freed memory for reuse.

    By default glibc maps every allocation above 32 MiB (often above 128 KiB) freshly from the
    kernel and returns it when freed, so each forward pass of a raw-waveform network page-faults
    and zeroes its large intermediate tensors again. With this setting freed memory stays in the
    process (up to :data:`ALLOCATOR_KEEP_BYTES` at the top of the heap; 32 MiB on glibc versions
    that refuse more) and is reused: the float32 ``avsync spoof`` of a minute of speech ran
    1.27–1.38x faster on a 2-core CPU; the price is memory held between files, about 150 MiB more
    resident over a long batch run, once 865 MiB in all (``benchmarks/bench_allocator.py``;
    docs/spoof.md, "Speed").

    Process-wide and not undone, so the library never calls it on import: the ``avsync`` command,
    its batch worker processes and Ray actors apply it at start; call it yourself in a long-running
    notebook or service that scores on CPU. A no-op (``False``) off glibc (macOS, Windows, musl),
    and when ``enabled`` is ``False`` or, with ``enabled=None``, the environment variable
    :data:`ALLOCATOR_ENV` is ``0``. Returns whether it was applied.
    """
    if not (allocator_tuning_enabled() if enabled is None else enabled):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # glibc only: other C libraries' mallopt differs  # noqa: B018
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return _set_thresholds(mallopt) > 0
