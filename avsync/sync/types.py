"""Inputs and results of the audio-visual sync analysis.

Sign convention (as everywhere in avsync, see :mod:`avsync.timebase`): a **positive offset means
audio leads video** — the sound of a mouth movement arrives before the movement is shown. At lag
``L`` (frames), video frame ``k`` is compared with the audio of frame ``k - L``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avsync.errors import ConfigError
from avsync.results import Serializable, Status
from avsync.sync.drift import DriftFit

__all__ = ["FaceSync", "SyncResult", "TrackCrops", "WindowSync"]


@dataclass(frozen=True, eq=False)
class TrackCrops:
    """One face track on the media's analysis-frame grid (what the face tracker hands to sync).

    Parameters
    ----------
    track_id
        Identifier of the face track.
    frames
        ``[N]`` increasing analysis-frame indices (frame ``k`` is shown at ``k / fps``).
    valid
        ``[N]`` bool: the face (and its mouth) was found reliably in that frame.
    mouth
        ``[N, S, S]`` gray ``uint8`` mouth crops (for the mouth-motion and SyncNet-style models), or ``None``.
    face
        ``[N, 112, 112]`` gray ``uint8`` Light-ASD face crops, or ``None``.
    fps
        Rate of the analysis-frame grid.
    """

    track_id: int
    frames: np.ndarray
    valid: np.ndarray
    mouth: np.ndarray | None = None
    face: np.ndarray | None = None
    fps: float = 25.0

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames).astype(np.int64).reshape(-1)
        valid = np.asarray(self.valid).astype(bool).reshape(-1)
        if frames.shape != valid.shape:
            raise ConfigError(f"frames {frames.shape} and valid {valid.shape} must have the same length")
        if len(frames) > 1 and np.any(np.diff(frames) <= 0):
            raise ConfigError("track frame indices must be strictly increasing")
        object.__setattr__(self, "frames", frames)
        object.__setattr__(self, "valid", valid)
        for name in ("mouth", "face"):
            arr = getattr(self, name)
            if arr is None:
                continue
            arr = np.asarray(arr)
            if arr.ndim != 3 or arr.shape[0] != len(frames):
                raise ConfigError(f"{name} crops must be [N, S, S] with N = {len(frames)}, got {arr.shape}")
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def start_frame(self) -> int:
        """First analysis frame of the track (0 for an empty track)."""
        return int(self.frames[0]) if len(self.frames) else 0

    @property
    def end_frame(self) -> int:
        """One past the last frame."""
        return int(self.frames[-1]) + 1 if len(self.frames) else 0


@dataclass(frozen=True)
class WindowSync(Serializable):
    """Sync evidence in one window of the timeline (one face).

    ``distance``: mean distance at the face's overall offset (lower = better match; for the
    mouth-motion model ``1 − correlation``). ``confidence``: median − minimum of the window's own
    distance-over-lag curve. ``offset_frames``: the window's own best lag (``None`` when the window
    has no usable frames, no speech, or its best lag is at the edge of the search range). ``margin``: the
    window curve's median over lags minus its value at the face's overall offset — how much better the
    lips match the audio at the clip's offset than at an arbitrary one, in this window (> 0 when they follow
    it there; unlike ``distance``, independent of the clip's overall distance level, which varies with image
    quality and speaker).
    """

    start: float
    end: float
    status: Status
    distance: float | None = None
    confidence: float | None = None
    offset_frames: int | None = None
    valid_frames: int = 0
    margin: float | None = None
    curve: Any = field(default=None, compare=False, repr=False, metadata={"json": False})
    """The window's own distance over the searched lags (``float32 [L]``), kept while a long video's sections are
    merged (the merged offset re-reads ``distance`` and ``margin`` from it); never serialised."""


@dataclass(frozen=True)
class FaceSync(Serializable):
    """Sync of one face track.

    ``offset_frames`` / ``offset_ms``: best lag (positive = audio leads video), ``None`` unless
    ``status`` is ``ok``. ``min_distance`` (LSE-D-like) and ``confidence`` (median − min over lags,
    LSE-C-like) are in the model's distance units. ``lags``/``curve``: the mean distance at every
    lag searched. ``start``/``end``: seconds on the media timeline. ``articulation``: how much the mouth changes
    while speech plays, in the model's embedding units (:func:`avsync.sync.analyze.articulation`; ``None`` for
    models without mouth embeddings, or with too little speech); a face that does not speak, or whose lips the model
    cannot see, reads low.
    """

    track_id: int
    status: Status
    start: float
    end: float
    offset_frames: int | None = None
    offset_ms: float | None = None
    confidence: float | None = None
    min_distance: float | None = None
    num_frames: int = 0
    valid_frames: int = 0
    speech_frames: int = 0
    speaking_score: float | None = None
    articulation: float | None = None
    lags: tuple[int, ...] = ()
    curve: tuple[float | None, ...] = ()
    windows: tuple[WindowSync, ...] = ()
    message: str | None = None
    drift: DriftFit | None = None


@dataclass(frozen=True)
class SyncResult(Serializable):
    """Audio-visual sync of a clip: offset, confidence and a per-window timeline, per face.

    The top-level numbers are those of the active speaker (``active_track_id``: the ``ok`` face with
    the highest confidence; ``evidence`` says why). ``status``: ``ok``; ``out_of_range`` when the best
    lag lies at the edge of the ±``max_lag`` search (the true offset may be larger, no number is
    given); ``no_face`` (no valid face frames); ``no_speech`` (silent audio); ``no_audio``/``no_video``;
    ``too_short``. ``summary`` states the offset in words (positive = audio leads video).
    """

    status: Status
    model: str
    summary: str
    offset_frames: int | None = None
    offset_ms: float | None = None
    confidence: float | None = None
    min_distance: float | None = None
    fps: float = 25.0
    max_lag: int = 15
    active_track_id: int | None = None
    evidence: str | None = None
    faces: tuple[FaceSync, ...] = ()
    windows: tuple[WindowSync, ...] = ()
    message: str | None = None
    drift: DriftFit | None = None

    @property
    def active_face(self) -> FaceSync | None:
        """The face of ``active_track_id`` (``None`` when no face was scored)."""
        return next((f for f in self.faces if f.track_id == self.active_track_id), None)
