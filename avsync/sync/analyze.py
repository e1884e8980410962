"""Offset search, LSE-style scores, per-window timeline and active-speaker choice."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from avsync.errors import ConfigError
from avsync.features.audio import frame_energy
from avsync.media.decode import resample_audio
from avsync.results import Status
from avsync.sync.drift import DRIFT_RULES, DriftFit, describe_drift, fit_drift
from avsync.sync.models import DEFAULT_SYNC_MODEL, LagScorer, ModelName, audio_frame_count, make_scorer
from avsync.sync.types import FaceSync, SyncResult, TrackCrops, WindowSync
from avsync.timebase import (
    DEFAULT_FPS,
    DEFAULT_SAMPLE_RATE,
    SlidingWindow,
    describe_offset,
    frames_to_ms,
    frames_to_seconds,
)

if TYPE_CHECKING:
    from avsync.face.detectors import DetectorName, FaceDetector
    from avsync.face.tracking import CropName
    from avsync.face.types import FaceTracks
    from avsync.media import Media

__all__ = [
    "DEFAULT_WINDOW",
    "OFFSET_BIAS_FRAMES",
    "analyze_sync",
    "analyze_track",
    "articulation",
    "lag_curve",
    "speech_columns",
    "speech_frames",
    "sync_tracks",
]

OFFSET_BIAS_FRAMES: dict[str, int] = {}
"""Per sync model name (both names of a model, as in ``DRIFT_RULES``: ``syncnet`` and ``syncnet-v3``), a lag
(frames) at which it reads genuine clips, subtracted from its readings. None is set: for
``syncnet-v3`` its median on the 23 genuine clips of its cue fit (+1) failed its rule (models/syncnet-v3/MODEL_CARD.md,
"Probe: reading offsets from the model's own zero"); ``offset_bias_frames=`` and ``eval_sync_models.py --offset-bias``
reproduce it."""

DEFAULT_WINDOW = SlidingWindow(duration=2.0, step=0.5)
"""Timeline grid of the per-window distance/confidence (seconds, relative to the media start)."""


def speech_frames(
    audio: np.ndarray, sample_rate: int, *, fps: float = DEFAULT_FPS, floor_dbfs: float = -50.0, range_db: float = 35.0
) -> np.ndarray:
    """Energy-based voice activity per video frame ``[M]`` bool.

    A frame is active when its RMS is above ``floor_dbfs`` and within ``range_db`` of the loudest
    frame. Digital silence and low hiss give no active frames.
    """
    m = audio_frame_count(len(audio), sample_rate, fps)
    e = frame_energy(np.asarray(audio, np.float32), sample_rate, fps=fps, num_frames=m, align="center").numpy()
    if e.size == 0:
        return np.zeros(0, bool)
    return (e > floor_dbfs) & (e > e.max() - range_db)


MIN_ARTICULATION_FRAMES = 25
"""Fewest speech frames with a mouth embedding (a second at 25 fps) for :func:`articulation` to be read."""


def articulation(mouths: np.ndarray, frames: np.ndarray) -> float | None:
    """How much a face's mouth changes while speech plays, as the sync model sees it: the mean distance of the mouth
    embeddings of ``frames`` (a ``bool`` mask over the rows of ``mouths``, ``[n, D]``, NaN rows unusable) from their
    mean. Lips that articulate move the embedding from syllable to syllable; a face that does not speak (a still
    picture, a slow zoom on one, someone listening), or whose lips the model cannot see (too small, too dark), keeps
    it near one place, moved only by the tracker's small jitter. ``None`` under :data:`MIN_ARTICULATION_FRAMES` usable frames."""
    if mouths.ndim != 2 or mouths.shape[1] == 0:
        return None
    use = np.asarray(frames, bool)[: len(mouths)] & np.isfinite(mouths).all(axis=1)[: len(frames)]
    if int(use.sum()) < MIN_ARTICULATION_FRAMES:
        return None
    x = mouths[use].astype(np.float64)
    return float(np.linalg.norm(x - x.mean(axis=0), axis=1).mean())


def speech_columns(frames: np.ndarray, speech: np.ndarray, pad: int) -> np.ndarray:
    """``[N]`` bool per media frame index in ``frames``: an active frame of ``speech`` (per media frame) lies within
    ``pad`` frames of it."""
    pad = max(0, int(pad))
    frames = np.asarray(frames, np.int64)
    out = np.zeros(len(frames), bool)
    if len(speech) == 0:
        return out
    # active frames within ±pad of each frame (the full convolution, centred: "same" changes length when 2·pad ≥ len)
    covered = np.convolve(np.asarray(speech, np.int64), np.ones(2 * pad + 1, np.int64))[pad : pad + len(speech)] > 0
    ok = (frames >= 0) & (frames < len(speech))
    out[ok] = covered[frames[ok]]
    return out


def lag_curve(dist: np.ndarray, *, min_frames: int = 1) -> np.ndarray:
    """Mean distance per lag ``[L]`` over the frames where it is defined (NaN with fewer than ``min_frames``)."""
    ok = np.isfinite(dist)
    cnt = ok.sum(axis=1)
    s = np.where(ok, dist, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = s / cnt
    out[cnt < max(1, min_frames)] = np.nan
    return out


def _summarize(curve: np.ndarray, lags: np.ndarray) -> tuple[int, float, float, bool] | None:
    """(best index, min, confidence, at_edge) of a curve; ``None`` when no lag is defined."""
    if not np.isfinite(curve).any():
        return None
    best = int(np.nanargmin(curve))
    dmin = float(curve[best])
    conf = float(np.nanmedian(curve) - dmin)
    at_edge = best in (0, len(lags) - 1)
    return best, dmin, conf, at_edge


def analyze_track(
    audio: np.ndarray,
    sample_rate: int,
    track: TrackCrops,
    scorer: LagScorer,
    *,
    max_lag: int = 15,
    window: SlidingWindow = DEFAULT_WINDOW,
    min_valid_frames: int = 10,
    min_speech_frames: int = 5,
    speech: np.ndarray | None = None,
    detect_drift: bool = True,
    curve_speech_pad: int | None = None,
    offset_bias_frames: int | None = None,
) -> FaceSync:
    """Sync of one face track.

    Parameters
    ----------
    audio
        ``[T]`` mono waveform at ``sample_rate`` (t = 0 at sample 0, the media origin).
    track
        Crops of one face on the analysis-frame grid.
    scorer
        Lag scorer (:func:`avsync.sync.models.make_scorer`).
    max_lag
        Lags ``-max_lag..max_lag`` frames are searched (default ±15 frames = ±0.6 s at 25 fps);
        a best lag on the edge gives status ``out_of_range`` and no offset.
    window
        Timeline grid in seconds.
    min_valid_frames
        Fewer valid face frames: ``no_face`` (none) or ``too_short``.
    min_speech_frames
        Fewer active audio frames within the track's span (± ``max_lag``): ``no_speech``.
    speech
        Precomputed :func:`speech_frames` (shared by all tracks of a file).
    detect_drift
        Also fit a drifting offset (:func:`avsync.sync.drift.fit_drift`) when the scorer's model has a drift rule
        (:data:`avsync.sync.drift.DRIFT_RULES`); a drift the rule reports sets ``FaceSync.drift`` and the windows'
        margins are read along it.
    curve_speech_pad
        ``None`` (default): the clip's lag curve averages every valid face frame. A number ``P``: only the face
        frames within ``P`` frames of an active speech frame (the same frames at every lag), when at least
        ``min_valid_frames`` are; silent stretches, where the lips carry no timing, then do not dilute or move
        the offset. The windows keep their own frames (they already skip windows without speech), but their
        distance and margin are read at the clip's offset, so they move with it.
    offset_bias_frames
        The lag at which the model reads genuine clips (``None``: the model's :data:`OFFSET_BIAS_FRAMES`, else 0):
        the model's lag ``L`` is reported as offset ``L - bias``, and ``lags`` (``±max_lag``) are such offsets.

    Returns
    -------
    FaceSync
    """
    fps = track.fps
    lags = np.arange(-int(max_lag), int(max_lag) + 1)
    t0, t1 = frames_to_seconds(track.start_frame, fps), frames_to_seconds(track.end_frame, fps)
    base: dict[str, Any] = dict(
        track_id=int(track.track_id), start=t0, end=t1, num_frames=len(track), valid_frames=int(track.valid.sum()),
        lags=tuple(int(x) for x in lags),
    )
    if speech is None:
        speech = speech_frames(audio, sample_rate, fps=fps)
    a, b = max(0, track.start_frame - max_lag), min(len(speech), track.end_frame + max_lag)
    n_speech = int(speech[a:b].sum()) if b > a else 0
    base["speech_frames"] = n_speech
    if len(track) == 0 or not track.valid.any():
        return FaceSync(status=Status.NO_FACE, message="no valid face frames in this track", **base)
    if track.valid.sum() < min_valid_frames:
        return FaceSync(status=Status.TOO_SHORT, message=f"only {int(track.valid.sum())} valid face frames", **base)
    if n_speech < min_speech_frames:
        return FaceSync(status=Status.NO_SPEECH, message="the audio is silent while this face is visible", **base)

    bias = OFFSET_BIAS_FRAMES.get(getattr(scorer, "name", ""), 0) if offset_bias_frames is None else int(offset_bias_frames)
    with_mouths = getattr(scorer, "distances_and_mouths", None)  # a model with mouth embeddings (SyncNet-style)
    if with_mouths is not None:
        dist, mouths = with_mouths(audio, sample_rate, track, lags + bias)  # row i: the model's lag lags[i] + bias
    else:
        dist, mouths = scorer.distances(audio, sample_rate, track, lags + bias), None
    # the scorer's columns are the track's dense frame span [start_frame, end_frame), gaps included (NaN there)
    dense = track.start_frame + np.arange(dist.shape[1])
    if mouths is not None:
        base["articulation"] = articulation(mouths, speech_columns(dense, speech, 0))
    cols = speech_columns(dense, speech, curve_speech_pad) if curve_speech_pad is not None else None
    if cols is not None and int(np.isfinite(dist[:, cols]).any(axis=0).sum()) >= min_valid_frames:
        curve = lag_curve(dist[:, cols], min_frames=min_valid_frames // 2)
    else:
        curve = lag_curve(dist, min_frames=min_valid_frames // 2)
    summ = _summarize(curve, lags)
    speaking = getattr(scorer, "last_speaking_score", {}).get(track.track_id)
    base.update(curve=tuple(None if not np.isfinite(c) else float(c) for c in curve), speaking_score=speaking)
    if summ is None:
        return FaceSync(status=Status.TOO_SHORT, message="no lag could be scored", **base)
    best, dmin, conf, at_edge = summ
    rule = DRIFT_RULES.get(getattr(scorer, "name", "")) if detect_drift else None
    fit = fit_drift(dist, track.frames, lags, fps=fps) if rule is not None else None
    drift, windows = None, None
    if rule is not None and fit is not None and fit.is_drift(min_frames=rule.min_frames, min_gain=rule.min_gain):
        along = _timeline(dist, lags, best, track, speech, window, min_frames=max(3, min_valid_frames // 2), drift=fit)
        if rule.reports(fit, [w.margin if w.status is Status.OK else None for w in along]):
            drift, windows = fit, along
    if windows is None:
        windows = _timeline(dist, lags, best, track, speech, window, min_frames=max(3, min_valid_frames // 2))
    base["drift"] = drift
    if at_edge:
        return FaceSync(
            status=Status.OUT_OF_RANGE, confidence=conf, min_distance=dmin, windows=windows,
            message=f"best match at the edge of the ±{max_lag}-frame search; the offset may be larger (raise max_lag)",
            **base,
        )
    off = int(lags[best])
    return FaceSync(
        status=Status.OK, offset_frames=off, offset_ms=frames_to_ms(off, fps), confidence=conf, min_distance=dmin,
        windows=windows, **base,
    )


def read_at_lag(curve: np.ndarray, at: int) -> tuple[float | None, float | None]:
    """A window's ``(distance, margin)`` at lag index ``at`` of its distance-over-lag ``curve``: the distance there,
    and the curve's median over lags minus it (``(None, None)`` where the curve has no value at ``at``)."""
    if not np.isfinite(curve[at]):
        return None, None
    return float(curve[at]), float(np.nanmedian(curve) - curve[at])


def _timeline(dist: np.ndarray, lags: np.ndarray, best: int, track: TrackCrops, speech: np.ndarray,
              window: SlidingWindow, *, min_frames: int, drift: DriftFit | None = None) -> tuple[WindowSync, ...]:
    """Per-window distance, confidence and margin at the face's offset: ``best`` (a lag index), or with a
    ``drift`` the line's offset at the window's middle (rounded to a searched lag)."""
    fps = track.fps
    k0 = track.start_frame
    n = dist.shape[1]
    out = []
    # windows on the media grid that overlap the track
    end_s = frames_to_seconds(track.end_frame, fps)
    for s, e in window.bounds(end_s, partial=True):
        if e <= frames_to_seconds(k0, fps):
            continue
        a = max(0, int(round(s * fps)) - k0)
        b = min(n, int(round(e * fps)) - k0)
        if b <= a:
            continue
        d = dist[:, a:b]
        nvalid = int(np.isfinite(d[best]).sum())
        sp = speech[k0 + a : k0 + b] if k0 + a < len(speech) else np.zeros(0, bool)
        if nvalid < min_frames:
            out.append(WindowSync(start=float(s), end=float(e), status=Status.NO_FACE, valid_frames=nvalid))
            continue
        if sp.sum() < 2:
            out.append(WindowSync(start=float(s), end=float(e), status=Status.NO_SPEECH, valid_frames=nvalid))
            continue
        c = lag_curve(d, min_frames=min_frames)
        summ = _summarize(c, lags)
        at = best
        if drift is not None:
            at = int(np.clip(round(drift.offset_at((s + e) / 2, fps)) - int(lags[0]), 0, len(lags) - 1))
        if summ is None:
            out.append(WindowSync(start=float(s), end=float(e), status=Status.TOO_SHORT, valid_frames=nvalid))
            continue
        wb, _, wconf, edge = summ
        dist_at, margin = read_at_lag(c, at)
        out.append(
            WindowSync(
                start=float(s), end=float(e), status=Status.OUT_OF_RANGE if edge else Status.OK, distance=dist_at,
                confidence=wconf, offset_frames=None if edge else int(lags[wb]), valid_frames=nvalid, margin=margin,
                curve=np.asarray(c, np.float32),
            )
        )
    return tuple(out)


def sync_tracks(
    audio: np.ndarray,
    sample_rate: int,
    tracks: Sequence[TrackCrops],
    *,
    model: ModelName | LagScorer = "motion",
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    max_lag: int = 15,
    window: SlidingWindow = DEFAULT_WINDOW,
    fps: float = DEFAULT_FPS,
    min_valid_frames: int = 10,
    curve_speech_pad: int | None = None,
    offset_bias_frames: int | None = None,
) -> SyncResult:
    """Sync of every face track against one audio signal, with the active speaker chosen.

    Parameters
    ----------
    audio
        ``[T]`` mono waveform at ``sample_rate`` (or ``[C, T]``: channels are averaged).
    tracks
        Face tracks (crops + frame indices + valid mask), e.g. from the face tracker.
    model
        ``"motion"`` (training-free; the default of this low-level function), ``"syncnet"`` (our dual encoder;
        default weights: the shipped ``syncnet-v3`` bundle; the default of :func:`analyze_sync` and the CLI),
        ``"syncnet-v3"`` (the same model by name), ``"syncnet-v2"`` and ``"syncnet-grid"`` (the older bundles),
        ``"light-asd"`` (public Light-ASD checkpoint; needs face crops),
        or a scorer object.
    max_lag
        Search range in frames (±).
    curve_speech_pad
        Read each clip's lag curve only from the face frames near speech (:func:`analyze_track`); default: every
        frame.
    offset_bias_frames
        The lag at which the model reads genuine clips, subtracted from its readings (default: the model's
        :data:`OFFSET_BIAS_FRAMES`).

    Returns
    -------
    SyncResult
        Offsets are positive when audio leads video.
    """
    audio = np.asarray(audio, np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=0)
    if sample_rate != DEFAULT_SAMPLE_RATE:  # every model's audio features are set for 16 kHz
        audio, sample_rate = resample_audio(audio, sample_rate, DEFAULT_SAMPLE_RATE), DEFAULT_SAMPLE_RATE
    scorer = make_scorer(model, weights=weights, device=device)
    name = scorer.name
    off_grid = sorted({float(t.fps) for t in tracks if float(t.fps) != DEFAULT_FPS})
    if off_grid and name != "motion":
        raise ConfigError(f"the {name} sync model reads faces at {DEFAULT_FPS:g} fps, these tracks are at "
                          f"{off_grid[0]:g} fps", hint="track the faces of a Media at 25 fps (load_media's default, or "
                          "media.at_rates()), or use model='motion'")
    common: dict[str, Any] = dict(model=name, fps=float(fps), max_lag=int(max_lag))
    speech = speech_frames(audio, sample_rate, fps=fps)
    if not tracks:
        return SyncResult(status=Status.NO_FACE, summary="no face was found", message="no face tracks", **common)
    if not speech.any() or speech.sum() < 5:
        faces = tuple(
            FaceSync(
                track_id=int(t.track_id), status=Status.NO_SPEECH, start=frames_to_seconds(t.start_frame, t.fps),
                end=frames_to_seconds(t.end_frame, t.fps), num_frames=len(t), valid_frames=int(t.valid.sum()),
            )
            for t in tracks
        )
        return SyncResult(status=Status.NO_SPEECH, summary="no speech in the audio", faces=faces, **common)
    faces = tuple(
        analyze_track(audio, sample_rate, t, scorer, max_lag=max_lag, window=window, speech=speech,
                      min_valid_frames=min_valid_frames, curve_speech_pad=curve_speech_pad,
                      offset_bias_frames=offset_bias_frames)
        for t in tracks
    )
    return _combine(faces, common)


def _combine(faces: tuple[FaceSync, ...], common: dict[str, Any]) -> SyncResult:
    scored = [f for f in faces if f.status in (Status.OK, Status.OUT_OF_RANGE) and f.confidence is not None]
    if not scored:
        statuses = {f.status for f in faces}
        for st, words in (
            (Status.NO_SPEECH, "no speech while a face is visible"),
            (Status.TOO_SHORT, "face tracks too short to measure sync"),
            (Status.NO_FACE, "no usable face"),
        ):
            if st in statuses:
                return SyncResult(status=st, summary=words, faces=faces, **common)
        return SyncResult(status=Status.NO_FACE, summary="no usable face", faces=faces, **common)
    ranked = sorted(scored, key=lambda f: -(f.confidence or 0.0))
    top = ranked[0]
    evidence = f"track {top.track_id}: confidence {top.confidence:.3f}, min distance {top.min_distance:.3f}"
    if top.speaking_score is not None:
        evidence += f", speaking score {top.speaking_score:.2f}"
    if len(ranked) > 1:
        nxt = ranked[1]
        evidence += f"; next best track {nxt.track_id}: confidence {nxt.confidence:.3f}"
    if top.status == Status.OUT_OF_RANGE:
        summary = f"offset outside the ±{common['max_lag']}-frame search range (track {top.track_id})"
        if top.drift is not None:
            summary += "; " + describe_drift(top.drift, common["fps"])
        return SyncResult(
            status=Status.OUT_OF_RANGE, summary=summary, confidence=top.confidence, min_distance=top.min_distance,
            active_track_id=top.track_id, evidence=evidence, faces=faces, windows=top.windows, message=top.message,
            drift=top.drift, **common,
        )
    assert top.offset_ms is not None and top.offset_frames is not None  # status ok: the offset is set
    if top.drift is not None:
        summary = describe_drift(top.drift, common["fps"]) + f" (confidence {top.drift.confidence:.2f})"
    else:
        unit = "frame" if abs(top.offset_frames) == 1 else "frames"
        summary = describe_offset(top.offset_ms) + f" ({top.offset_frames:+d} {unit}, confidence {top.confidence:.2f})"
    return SyncResult(
        status=Status.OK, summary=summary, offset_frames=top.offset_frames, offset_ms=top.offset_ms,
        confidence=top.confidence, min_distance=top.min_distance, active_track_id=top.track_id, evidence=evidence,
        faces=faces, windows=top.windows, drift=top.drift, **common,
    )


def tracks_from_faces(faces: FaceTracks, *, min_duration_s: float = 1.0) -> list[TrackCrops]:
    """Sync inputs from a :class:`~avsync.face.FaceTracks`: its usable tracks (≥ ``min_duration_s``, not tiny)."""
    return [
        TrackCrops(t.track_id, t.frames, t.valid, t.mouth_crops, t.face_crops, t.fps)
        for t in faces.usable(min_duration_s=min_duration_s)
    ]


def default_tracks(media: Media, *, detector: DetectorName | FaceDetector = "auto",
                   crops: Sequence[CropName] = ("mouth", "face"),
                   progress: Callable[[int, int], None] | None = None) -> list[TrackCrops]:
    """Face tracks of ``media`` from :func:`avsync.face.track`, with mouth and Light-ASD face crops (``crops``: only
    those; :func:`avsync.model_files.sync_crops` names the one a sync model reads); ``progress(done, total)`` in
    frames as they are tracked."""
    from avsync.face import track

    return tracks_from_faces(track(media, detector=detector, crops=tuple(crops), progress=progress))


def analyze_sync(
    media: Media,
    tracks: Sequence[TrackCrops] | None = None,
    *,
    model: ModelName | LagScorer = DEFAULT_SYNC_MODEL,
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    max_lag: int = 15,
    window: SlidingWindow = DEFAULT_WINDOW,
    check_orientation: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> SyncResult:
    """Audio-visual sync of a :class:`~avsync.media.Media`: offset, confidence and timeline per face.

    Parameters
    ----------
    media
        Loaded media (:func:`avsync.load_media`).
    tracks
        Face tracks; ``None`` runs the face tracker (:func:`default_tracks`).
    model, weights, device, max_lag, window
        See :func:`sync_tracks`.
    check_orientation
        When the faces are tracked here: first look whether the picture shows them turned on their side or upside
        down (:func:`avsync.face.orientation.turned_faces`, as ``avsync analyze`` does); turned faces read as out of
        sync, so they are not judged (status ``skipped``, the turn in ``message``).
    progress
        ``progress(done, total)`` in video frames while the faces are tracked here (the longest part).

    Returns
    -------
    SyncResult
        ``no_audio`` / ``no_video`` for single-stream media; ``skipped`` for faces shown turned; offsets positive
        when audio leads video.
    """
    if tracks is None:  # the sync models read 16 kHz audio and 25 fps faces; given tracks keep their own grid
        media = media.at_rates()
    elif media.sample_rate != DEFAULT_SAMPLE_RATE:
        media = media.at_rates(fps=media.fps)
    common: dict[str, Any] = dict(model=model if isinstance(model, str) else getattr(model, "name", "custom"),
                                  fps=float(media.fps), max_lag=int(max_lag))
    if not media.has_audio:
        return SyncResult(status=Status.NO_AUDIO, summary="the input has no audio track", **common)
    if not media.has_video:
        return SyncResult(status=Status.NO_VIDEO, summary="the input has no video track", **common)
    if tracks is None:
        from avsync.model_files import sync_crops

        if check_orientation:
            from avsync.face.orientation import turned_faces, turned_words

            turn = turned_faces(media)
            if turn:
                return SyncResult(status=Status.SKIPPED, summary=f"not judged: the faces are turned by {turn}°",
                                  message=turned_words(turn), **common)
        tracks = default_tracks(media, crops=sync_crops(model), progress=progress)
    return sync_tracks(
        media.mono(), media.sample_rate, tracks, model=model, weights=weights, device=device, max_lag=max_lag,
        window=window, fps=media.fps,
    )
