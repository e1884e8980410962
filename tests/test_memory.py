"""Streaming: iterating the frames of a long clip keeps resident memory flat (measured)."""

from __future__ import annotations

import numpy as np

from avsync import load_media


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_rss_flat_while_streaming_long_clip(clip):
    # 60 s of 640x360: ~1.0 GB as decoded RGB frames; must never be held at once
    path = clip("long60", preset="mp4", duration=60.0, size=(640, 360), event_period_s=2.0)
    m = load_media(path)
    samples = []
    n = 0
    for chunk in m.frames(chunk_size=32):
        n += len(chunk)
        samples.append(_rss_mb())
    assert n == 1500
    samples = np.asarray(samples)
    warm = samples[: len(samples) // 5].max()  # after the first 12 s
    growth = samples.max() - warm
    assert growth < 40, f"RSS grew by {growth:.0f} MB while streaming (warm {warm:.0f} MB)"
