"""Every conversion between seconds, audio samples and video frames, and the shared window grid.

Times are in seconds on the media timeline: ``t = 0`` is the earliest start of the file's audio
and video streams (see :mod:`avsync.media`). Audio sample ``i`` at rate ``sr`` covers
``[i / sr, (i + 1) / sr)``; analysis frame ``k`` at rate ``fps`` is shown at ``k / fps``.

Offsets between audio and video are signed: **positive means audio leads video** (the sound
arrives earlier than the lip movement that made it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from avsync.errors import ConfigError

__all__ = [
    "DEFAULT_SAMPLE_RATE",
    "DEFAULT_FPS",
    "seconds_to_samples",
    "samples_to_seconds",
    "seconds_to_frames",
    "frames_to_seconds",
    "frames_to_ms",
    "describe_offset",
    "join_spans",
    "SlidingWindow",
]

DEFAULT_SAMPLE_RATE = 16_000
"""Analysis audio rate in Hz."""
DEFAULT_FPS = 25.0
"""Analysis video rate in frames per second."""


def seconds_to_samples(t: float, sr: int) -> int:
    """Index of the audio sample at time ``t`` (s), rounded to the nearest sample."""
    return int(round(t * sr))


def samples_to_seconds(n: int | float, sr: int) -> float:
    """Time in seconds of sample index ``n`` at rate ``sr`` (Hz)."""
    return float(n) / float(sr)


def seconds_to_frames(t: float, fps: float) -> int:
    """Index of the analysis frame shown at time ``t`` (s): ``floor(t * fps + 1e-6)``."""
    return int(math.floor(t * fps + 1e-6))


def frames_to_seconds(k: int | float, fps: float) -> float:
    """Presentation time (s) of analysis frame ``k`` at ``fps``."""
    return float(k) / float(fps)


def frames_to_ms(k: int | float, fps: float) -> float:
    """Duration of ``k`` frames at ``fps`` in milliseconds (signed)."""
    return 1000.0 * float(k) / float(fps)


_T = TypeVar("_T")


def join_spans(spans: Iterable[tuple[float, float, _T]]) -> list[tuple[float, float, tuple[_T, ...]]]:
    """Join time spans ``(start s, end s, item)``, given in time order, into stretches: a span that starts where the
    last stretch ends, or before, continues it. ``(start s, end s, the items)`` each, in time order."""
    out: list[tuple[float, float, tuple[_T, ...]]] = []
    for a, b, item in spans:
        if out and a <= out[-1][1] + 1e-6:
            a0, b0, items = out[-1]
            out[-1] = (a0, max(b0, b), (*items, item))
        else:
            out.append((a, b, (item,)))
    return out


def describe_offset(offset_ms: float, *, tolerance_ms: float = 20.0) -> str:
    """Plain-language offset: ``"audio leads video by 120 ms"`` (positive = audio leads).

    Offsets within ``tolerance_ms`` read as ``"audio and video are in sync"``.
    """
    if abs(offset_ms) <= tolerance_ms:
        return "audio and video are in sync"
    word = "leads" if offset_ms > 0 else "lags"
    return f"audio {word} video by {abs(offset_ms):.0f} ms"


@dataclass(frozen=True)
class SlidingWindow:
    """A grid of windows ``[start + i * step, start + i * step + duration)`` in seconds.

    One grid is shared by the audio and video features of an analysis, so that window ``i`` means
    the same stretch of time everywhere.

    Parameters
    ----------
    duration
        Window length in seconds (> 0).
    step
        Hop between window starts in seconds (> 0).
    start
        Start of the first window in seconds.
    """

    duration: float
    step: float
    start: float = 0.0

    def __post_init__(self) -> None:
        if not (self.duration > 0 and self.step > 0):
            raise ConfigError(f"window duration and step must be > 0, got {self.duration}, {self.step}")

    def count(self, total_s: float, *, partial: bool = False) -> int:
        """Number of windows that fit in ``[start, total_s)``.

        With ``partial=True`` a last window that runs past the end is counted too, so that every
        instant of the media is covered by at least one window.
        """
        span = total_s - self.start
        if span <= 0:
            return 0
        if span < self.duration:
            return 1 if partial else 0
        n = int(math.floor((span - self.duration) / self.step + 1e-9)) + 1
        if partial and self.start + (n - 1) * self.step + self.duration < total_s - 1e-9:
            n += 1
        return n

    def starts(self, total_s: float, *, partial: bool = False) -> np.ndarray:
        """Start times (s) of the windows, shape ``[W]``."""
        n = self.count(total_s, partial=partial)
        return self.start + self.step * np.arange(n, dtype=np.float64)

    def bounds(self, total_s: float, *, partial: bool = False) -> np.ndarray:
        """``[W, 2]`` array of (start, end) in seconds; ends are clipped to ``total_s``."""
        s = self.starts(total_s, partial=partial)
        e = np.minimum(s + self.duration, total_s)
        return np.stack([s, e], axis=1) if len(s) else np.zeros((0, 2))

    def sample_slices(self, total_s: float, sr: int, *, partial: bool = False) -> list[slice]:
        """Audio sample slices of every window at rate ``sr``."""
        return [
            slice(seconds_to_samples(a, sr), seconds_to_samples(b, sr))
            for a, b in self.bounds(total_s, partial=partial)
        ]

    def frame_slices(self, total_s: float, fps: float, *, partial: bool = False) -> list[slice]:
        """Analysis-frame slices of every window at ``fps``."""
        return [
            slice(seconds_to_frames(a, fps), max(seconds_to_frames(a, fps) + 1, seconds_to_frames(b, fps)))
            for a, b in self.bounds(total_s, partial=partial)
        ]
