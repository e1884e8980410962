"""Audio that drifts against the video: an offset that changes linearly over the clip.

Audio played back at a slightly different speed than it was recorded (a resampling or frame-rate conversion
applied to one stream, a re-timed dub, concatenated pieces whose audio runs longer than their video) does not
sit at one offset: the offset grows steadily, e.g. from in sync at the start to 400 ms late after a minute. A
single-offset search then finds no lag at which the lips follow the audio over the whole clip, and says so
("the lips do not follow the audio at any offset"), although they follow it at every moment, at a moving lag.

:func:`fit_drift` searches straight lines through the distance matrix (lag × time) instead of constant
lags: the lag at frame ``k`` is ``offset + rate · (k − centre)``, the distance read between integer lags by
linear interpolation. It returns the best line with its mean distance and confidence (as for a constant lag:
the median over parallel lines minus the best) and ``gain``, how much lower the line's distance is than
the best constant lag's on the same grid. Whether a drift is *reported* is decided by the sync model's
:class:`DriftRule` (:data:`DRIFT_RULES`): the line must change by at least 3 frames over the clip, lower the mean
distance by a share of the constant lag's confidence, and the lips must follow the audio along it; chosen on
calibration clips (``benchmarks/sync_drift.py``, ``docs/sync.md``).

Sign conventions as everywhere (:mod:`avsync.timebase`): offsets are positive when the audio leads the video;
a negative ``rate`` means the audio falls further behind as the clip goes on (it runs slow, i.e. it was
stretched).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from avsync.results import Serializable
from avsync.sync.cue_params import SYNCNET_V2_CUE_PARAMS, WINDOW_MARGIN_MID, SyncCueParams

__all__ = ["DRIFT_RULES", "DriftFit", "DriftRule", "describe_drift", "fit_drift"]

_DEFAULT_CUE = SyncCueParams()  # the default sync model's cue (syncnet-v3), whose tests the default rule applies

MIN_DRIFT_FRAMES = 3.0
"""A line must change by at least this many frames (120 ms at 25 fps) between the clip's ends to be a drift."""
MIN_DRIFT_GAIN = 0.3
"""... and lower the mean distance by at least this share of the best constant lag's confidence ..."""
MIN_FOLLOW_SHARE = 0.6
"""... and the lips must follow the audio along it in at least this share of the timeline's windows."""


@dataclass(frozen=True)
class DriftRule:
    """When a fitted line is reported as a drift (per sync model: distances are in the model's units).

    A line is a drift when its offset changes by at least ``min_frames`` over the clip, it lowers the mean
    distance by at least ``min_gain`` × the constant lags' confidence, and the lips follow the audio along it,
    over the clip and locally:

    * ``sigmoid((distance − follow_distance_mid) / follow_scale + (follow_confidence_mid − confidence) /
      follow_scale) < 0.5``, the sync cue's "lips follow the audio at no offset" test (``SyncCueParams``'
      ``mismatch_*``) applied to the line;
    * at least ``min_follow_share`` of the timeline's windows have a margin above ``follow_window_margin`` (the
      cue's per-window midpoint, ``SyncCueParams.window_margin_mid``) at the line's offset there (checked when
      the windows are given).

    Without these tests, audio of another speaker (dubbed), whose distances are noise over lags, gives chance
    lines that fit better than any constant lag.
    """

    min_frames: float = MIN_DRIFT_FRAMES
    min_gain: float = MIN_DRIFT_GAIN
    follow_distance_mid: float = _DEFAULT_CUE.mismatch_distance_mid
    follow_confidence_mid: float = _DEFAULT_CUE.mismatch_confidence_mid
    follow_scale: float = _DEFAULT_CUE.mismatch_scale
    follow_window_margin: float = WINDOW_MARGIN_MID
    min_follow_share: float = MIN_FOLLOW_SHARE

    @classmethod
    def from_cue(cls, params: SyncCueParams, **kw: float) -> DriftRule:
        """The rule whose "lips follow" tests are those of the sync cue ``params`` (its ``mismatch_*`` numbers and
        window midpoint); ``kw`` sets the other fields."""
        margin = params.window_margin_mid if params.window_margin_mid is not None else WINDOW_MARGIN_MID
        return cls(follow_distance_mid=params.mismatch_distance_mid,
                   follow_confidence_mid=params.mismatch_confidence_mid, follow_scale=params.mismatch_scale,
                   follow_window_margin=margin, **kw)

    def follow_share(self, margins: Sequence[float | None]) -> float | None:
        """Share of the windows (their margins along a line; ``None``: not scored) whose lips follow the audio."""
        m = [x for x in margins if x is not None]
        return float(np.mean([x > self.follow_window_margin for x in m])) if m else None

    def reports(self, fit: DriftFit | None, margins: Sequence[float | None] | None = None) -> bool:
        """Whether ``fit`` is a drift under this rule (``margins``: the windows' margins along it, if known)."""
        if fit is None or not fit.is_drift(min_frames=self.min_frames, min_gain=self.min_gain):
            return False
        z = (fit.distance - self.follow_distance_mid) / self.follow_scale
        z += (self.follow_confidence_mid - fit.confidence) / self.follow_scale
        if z >= 0.0:
            return False
        share = self.follow_share(margins) if margins is not None else None
        return share is None or share >= self.min_follow_share


DRIFT_RULES: dict[str, DriftRule] = {
    # syncnet-v3 (the default, both names): the shares and gain chosen with syncnet-v2, its own cue's "lips follow" test
    "syncnet": DriftRule(),
    "syncnet-v3": DriftRule(),
    "syncnet-v2": DriftRule.from_cue(SYNCNET_V2_CUE_PARAMS),
}
"""The sync models whose drift rule was chosen on calibration clips (``benchmarks/sync_drift.py``, with
``syncnet-v2``; ``syncnet-v3`` keeps its thresholds with its own cue parameters); the others report no drift."""


@dataclass(frozen=True)
class DriftFit(Serializable):
    """The best straight line through a face's distance matrix (lag over time).

    ``rate``: offset change per frame of video (dimensionless; −0.005 = the audio falls 5 ms further behind
    every second, i.e. it runs 0.5 % slow). ``start_frames`` / ``end_frames``: the line's offset (frames,
    positive = audio leads) at ``start`` / ``end`` (seconds on the media timeline: the first and last scored
    frames). ``distance``: mean distance along the line; ``confidence``: median over parallel lines minus that;
    ``gain``: best constant lag's mean distance minus ``distance`` (same grid, ≥ 0); ``constant_confidence``:
    the constant lags' confidence on that grid (the scale ``gain`` is judged against).
    """

    rate: float
    start_frames: float
    end_frames: float
    start: float
    end: float
    distance: float
    confidence: float
    gain: float
    constant_confidence: float

    @property
    def change_frames(self) -> float:
        """Offset change from ``start`` to ``end`` (frames)."""
        return self.end_frames - self.start_frames

    def offset_at(self, time: float, fps: float) -> float:
        """The line's offset (frames) at ``time`` seconds on the media timeline."""
        return self.start_frames + self.rate * (float(time) - self.start) * float(fps)

    def is_drift(self, *, min_frames: float = MIN_DRIFT_FRAMES, min_gain: float = MIN_DRIFT_GAIN) -> bool:
        """Whether this line is a drift worth reporting (see the module docstring)."""
        scale = max(self.constant_confidence, 1e-6)
        return abs(self.change_frames) >= min_frames and self.gain >= min_gain * scale


def describe_drift(drift: DriftFit, fps: float) -> str:
    """Plain words: ``"audio drifts against video: audio lags video by 120 ms at 5 s and by 465 ms at 66 s
    (the audio runs 0.57 % slow)"``."""
    from avsync.timebase import describe_offset, frames_to_ms

    a, b = frames_to_ms(drift.start_frames, fps), frames_to_ms(drift.end_frames, fps)
    first = describe_offset(a)
    second = describe_offset(b)
    if first.split(" by ")[0] == second.split(" by ")[0] and " by " in second:
        second = "by " + second.split(" by ")[1]
    speed = "slow" if drift.rate < 0 else "fast"
    return (f"audio drifts against video: {first} at {drift.start:.0f} s and {second} at {drift.end:.0f} s "
            f"(the audio runs {100 * abs(drift.rate):.2g} % {speed})")


def _blocks(dist: np.ndarray, frames: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average ``dist`` ``[L, N]`` over runs of ``block`` consecutive columns: (means ``[L, M]``, centres, counts)."""
    n = dist.shape[1]
    m = -(-n // block)
    pad = m * block - n
    d = np.pad(dist, ((0, 0), (0, pad)), constant_values=np.nan).reshape(dist.shape[0], m, block)
    f = np.pad(frames.astype(np.float64), (0, pad), constant_values=np.nan).reshape(m, block)
    ok = np.isfinite(d)
    cnt = ok.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, d, 0.0).sum(axis=2) / cnt
    mean[cnt == 0] = np.nan
    col_ok = np.isfinite(f)
    centre = np.where(col_ok, f, 0.0).sum(axis=1) / np.maximum(col_ok.sum(axis=1), 1)
    weight = cnt.max(axis=0).astype(np.float64)  # frames scored in the block (at its best-covered lag)
    return mean, centre, weight


def _line_costs(d: np.ndarray, t: np.ndarray, w: np.ndarray, lags: np.ndarray, offsets: np.ndarray, rate: float,
                min_coverage: float) -> np.ndarray:
    """Weighted mean distance ``[A]`` along the lines ``offset + rate · t`` (NaN where too little is covered)."""
    pos = (offsets[:, None] + rate * t[None, :]) - float(lags[0])  # fractional row index into d
    i0 = np.floor(pos).astype(np.int64)
    frac = pos - i0
    inside = (i0 >= 0) & (i0 < d.shape[0]) & ((i0 < d.shape[0] - 1) | (frac < 1e-9))
    i0c = np.clip(i0, 0, d.shape[0] - 1)
    i1c = np.clip(i0 + 1, 0, d.shape[0] - 1)
    cols = np.arange(d.shape[1])[None, :]
    v0, v1 = d[i0c, cols], d[i1c, cols]
    val = np.where(frac < 1e-9, v0, (1.0 - frac) * v0 + frac * v1)
    ok = inside & np.isfinite(val)
    ww = np.where(ok, w[None, :], 0.0)
    tot = ww.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cost = (np.where(ok, val, 0.0) * ww).sum(axis=1) / tot
    cost[tot < min_coverage * w.sum()] = np.nan
    return cost


def fit_drift(
    dist: np.ndarray,
    frames: np.ndarray,
    lags: np.ndarray,
    *,
    fps: float = 25.0,
    max_rate: float = 0.1,
    step: float = 0.25,
    block: int = 5,
    min_coverage: float = 0.8,
    min_blocks: int = 10,
) -> DriftFit | None:
    """The best straight line through a distance matrix.

    Parameters
    ----------
    dist
        ``[L, N]`` distance per lag and frame (NaN where undefined), as the lag scorers give it.
    frames
        ``[N]`` analysis-frame index of each column.
    lags
        ``[L]`` consecutive integer lags of the rows.
    fps
        Analysis frame rate (for ``start`` / ``end`` in seconds).
    max_rate
        Largest |rate| searched (0.1: 10 % speed difference); lines whose change over the clip exceeds the lag
        range are not searched either (they cannot stay inside it).
    step
        Grid step of the line's offset, and of its change over the clip, in frames.
    block
        Columns averaged together first (5 frames: the line moves at most 0.1 frame within a block).
    min_coverage
        A line counts only where it stays inside the lag range for this share of the scored frames.
    min_blocks
        Fewer scored blocks: ``None`` (too short to tell a drift).

    Returns
    -------
    DriftFit or None
    """
    dist = np.asarray(dist, np.float64)
    frames = np.asarray(frames, np.int64)
    lags = np.asarray(lags, np.int64)
    keep = np.isfinite(dist).any(axis=0)
    if keep.sum() < 2:
        return None
    d, centre, w = _blocks(dist[:, keep], frames[keep], max(1, int(block)))
    use = w > 0
    d, centre, w = d[:, use], centre[use], w[use]
    if d.shape[1] < min_blocks:
        return None
    c = float(np.average(centre, weights=w))
    t = centre - c
    span = float(centre.max() - centre.min())
    if span <= 0:
        return None
    offsets = np.arange(float(lags[0]), float(lags[-1]) + step / 2, step)
    n_rates = int(np.floor(min(max_rate * span, float(lags[-1] - lags[0])) / step))
    rates = np.arange(-n_rates, n_rates + 1) * (step / span)

    best: tuple[float, float, int, np.ndarray] | None = None  # (cost, rate, offset index, the rate's costs)
    const: np.ndarray | None = None  # the constant lags' costs (rate 0)
    for r in rates:
        cost = _line_costs(d, t, w, lags, offsets, float(r), min_coverage)
        if r == 0.0:
            const = cost
        if not np.isfinite(cost).any():
            continue
        j = int(np.nanargmin(cost))
        if best is None or cost[j] < best[0] - 1e-12:
            best = (float(cost[j]), float(r), j, cost)
    if best is None or const is None or not np.isfinite(const).any():
        return None
    best_cost, rate, j, line = best
    const_min = float(np.nanmin(const))
    off = float(offsets[j])
    first, last = float(frames[keep].min()), float(frames[keep].max())  # the line's ends: first and last scored frame
    return DriftFit(
        rate=rate, start_frames=off + rate * (first - c), end_frames=off + rate * (last - c),
        start=first / fps, end=last / fps,
        distance=best_cost, confidence=float(np.nanmedian(line) - best_cost), gain=max(0.0, const_min - best_cost),
        constant_confidence=float(np.nanmedian(const) - const_min),
    )
