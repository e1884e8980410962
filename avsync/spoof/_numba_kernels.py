"""numba kernels behind :mod:`avsync.spoof.cpu_kernels` (imported only when they are used).

Arrays hold bfloat16 values as their int16 bit patterns; arithmetic is float32. Every kernel splits
its output into tasks of up to ``CHUNK`` columns of one row, run in parallel. Buffers are allocated
in each kernel with their views (returning views from a helper made the loops up to 30 % slower).
"""

from typing import Any

import numpy as np
from numba import njit, prange

CHUNK = 1024  # output columns per parallel task
# fastmath "contract" only: fused multiply-adds, no assumptions about infinities or NaN
_OPTS: dict[str, Any] = {"parallel": True, "boundscheck": False, "fastmath": {"contract"}, "cache": True, "nogil": True}


@njit(inline="always")
def to_bf16(v: int):
    """float32 bit pattern (an integer) → bfloat16 bit pattern, rounded to nearest even."""
    return ((v + 0x7FFF + ((v >> 16) & 1)) >> 16) & 0xFFFF


@njit(inline="always")
def widen(h: int):
    """bfloat16 bit pattern (int16) → float32 bit pattern (int32)."""
    return (np.int32(h) & 0xFFFF) << 16


@njit(inline="always")
def split(task: int, nchunk: int, columns: int):
    """Task → (row, first column, end column) for ``nchunk`` chunks of ``columns`` per row."""
    first = (task % nchunk) * CHUNK
    return task // nchunk, first, min(columns, first + CHUNK)


@njit(**_OPTS)
def conv_selu(x: np.ndarray, w: np.ndarray, b: np.ndarray, lut: np.ndarray, out: np.ndarray) -> None:
    # x [B, H, W]; w [6, C] (rows: taps (0,0) (0,1) (0,2) (1,0) (1,1) (1,2)); b [C];
    # out [B, H + 1, W, C] = lut[bf16(conv2d(x, w, b, padding=(1, 1)))]
    nb, h, wd = x.shape
    c = w.shape[1]
    nchunk = (wd + CHUNK - 1) // CHUNK
    for task in prange(nb * (h + 1) * nchunk):
        row, w0, w1 = split(task, nchunk, wd)
        bi, r = row // (h + 1), row % (h + 1)
        top = np.zeros(w1 - w0 + 2, np.int32)  # input rows r - 1 and r, with the zero padding
        bot = np.zeros(w1 - w0 + 2, np.int32)
        tf, bf = top.view(np.float32), bot.view(np.float32)
        for j in range(w1 - w0 + 2):
            col = w0 - 1 + j
            if 0 <= col < wd:
                if r >= 1:
                    top[j] = widen(x[bi, r - 1, col])
                if r < h:
                    bot[j] = widen(x[bi, r, col])
        acc = np.empty(c, np.float32)
        acci = acc.view(np.int32)
        for j in range(w1 - w0):
            t0, t1, t2, u0, u1, u2 = tf[j], tf[j + 1], tf[j + 2], bf[j], bf[j + 1], bf[j + 2]
            for ch in range(c):
                acc[ch] = (b[ch] + w[0, ch] * t0 + w[1, ch] * t1 + w[2, ch] * t2
                           + w[3, ch] * u0 + w[4, ch] * u1 + w[5, ch] * u2)
            for ch in range(c):
                out[bi, r, w0 + j, ch] = lut[to_bf16(acci[ch])]


@njit(**_OPTS)
def skip_pool(y: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    # y [B, H, W, C]; x [B, H, W]; w [3, C], b [C]: the skip conv (1 x 3, padding 1);
    # out [B, H, W // 3, C] = max over 3 columns of y + skip
    nb, h, wd, c = y.shape
    wo_n = wd // 3
    nchunk = (wo_n + CHUNK - 1) // CHUNK
    for task in prange(nb * h * nchunk):
        row, o0, o1 = split(task, nchunk, wo_n)
        bi, r = row // h, row % h
        xs = np.zeros(3 * (o1 - o0) + 2, np.int32)
        xf = xs.view(np.float32)
        for j in range(3 * (o1 - o0) + 2):
            col = 3 * o0 - 1 + j
            if 0 <= col < wd:
                xs[j] = widen(x[bi, r, col])
        yb = np.empty(3 * c, np.int32)
        yf = yb.view(np.float32)
        m = np.empty(c, np.float32)
        mi = m.view(np.int32)
        for o in range(o0, o1):
            for q in range(3):
                for ch in range(c):
                    yb[q * c + ch] = widen(y[bi, r, 3 * o + q, ch])
            j = 3 * (o - o0)
            for ch in range(c):
                m[ch] = yf[ch] + b[ch] + w[0, ch] * xf[j] + w[1, ch] * xf[j + 1] + w[2, ch] * xf[j + 2]
            for q in range(1, 3):
                x0, x1, x2 = xf[j + q], xf[j + q + 1], xf[j + q + 2]
                for ch in range(c):
                    m[ch] = max(m[ch], yf[q * c + ch] + b[ch] + w[0, ch] * x0 + w[1, ch] * x1 + w[2, ch] * x2)
            for ch in range(c):
                out[bi, r, o, ch] = np.int16(to_bf16(mi[ch]))


@njit(**_OPTS)
def add_pool(y: np.ndarray, s: np.ndarray, out: np.ndarray) -> None:
    # y, s [R, W, C]; out [R, W // 3, C] = max over 3 columns of y + s
    rows, wd, c = y.shape
    wo_n = wd // 3
    nchunk = (wo_n + CHUNK - 1) // CHUNK
    for task in prange(rows * nchunk):
        r, o0, o1 = split(task, nchunk, wo_n)
        yb, sb = np.empty(3 * c, np.int32), np.empty(3 * c, np.int32)
        yf, sf = yb.view(np.float32), sb.view(np.float32)
        m = np.empty(c, np.float32)
        mi = m.view(np.int32)
        for o in range(o0, o1):
            for q in range(3):
                for ch in range(c):
                    yb[q * c + ch] = widen(y[r, 3 * o + q, ch])
                    sb[q * c + ch] = widen(s[r, 3 * o + q, ch])
            for ch in range(c):
                m[ch] = max(max(yf[ch] + sf[ch], yf[c + ch] + sf[c + ch]), yf[2 * c + ch] + sf[2 * c + ch])
            for ch in range(c):
                out[r, o, ch] = np.int16(to_bf16(mi[ch]))


@njit(**_OPTS)
def lookup(a: np.ndarray, lut: np.ndarray) -> None:
    # a [N] in place: a = lut[a]
    n = a.size
    step = 1 << 16
    for k in prange((n + step - 1) // step):
        for i in range(k * step, min(n, (k + 1) * step)):
            a[i] = lut[a[i] & 0xFFFF]


@njit(**_OPTS)
def abs_pool_affine_lookup(y: np.ndarray, scale: np.float32, shift: np.float32, lut: np.ndarray, out: np.ndarray) -> None:
    # y [B, N, C] (filter bank output, time-major); out [B, N // 3, C // 3] =
    # lut[bf16(scale * max over 3 x 3 of |y| + shift)]
    nb, n, c = y.shape
    groups = c // 3
    wo_n = n // 3
    nchunk = (wo_n + CHUNK - 1) // CHUNK
    for task in prange(nb * nchunk):
        bi, o0, o1 = split(task, nchunk, wo_n)
        rb = np.empty(3 * groups, np.int32)
        rf = rb.view(np.float32)
        m = np.empty(3 * groups, np.float32)
        g = np.empty(groups, np.float32)
        gi = g.view(np.int32)
        for o in range(o0, o1):
            for i in range(3 * groups):
                m[i] = 0.0
            for q in range(3):
                for i in range(3 * groups):
                    rb[i] = widen(y[bi, 3 * o + q, i] & 0x7FFF)  # sign bit cleared: |y|
                for i in range(3 * groups):
                    m[i] = max(m[i], rf[i])
            for j in range(groups):
                g[j] = scale * max(max(m[3 * j], m[3 * j + 1]), m[3 * j + 2]) + shift
            for j in range(groups):
                out[bi, o, j] = lut[to_bf16(gi[j])]
