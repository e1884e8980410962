"""The main job: one call from a file to a calibrated, explained verdict.

:class:`Detector` wires media → faces → sync → spoof (with speaker evidence) → fusion::

    det = avsync.Detector.from_pretrained()          # shipped models, default fusion config
    verdict = det("clip.mp4")                         # Verdict: label, score, reasons, segments, timeline
    verdict.to_json(); verdict.to_pandas()

Each analysis is turned into a :class:`~avsync.fusion.Cue` by a small adapter in this module (the only
place that knows both an analysis' result type and fusion), then :func:`~avsync.fusion.fuse` decides.
The built-in analyses (audio-visual: faces → sync → artefacts; voice: spoof + speaker) and any plug-in
analyses (:class:`avsync.cues.Analysis`, ``Detector(analyses=)``) run through one loop, :func:`run_analyses`:
each runs on the inputs it needs (video with audio gets both built-ins; audio only gets the voice path, per
channel for stereo calls; video without audio is ``undetermined`` with its reason), and a failure is its
cue's status, never a traceback.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from avsync.cues import Analysis, AnalysisContext, cue_words
from avsync.device import release_free_memory, resolve_device
from avsync.errors import AvsyncError, BundleError, ConfigError, MediaError
from avsync.fusion import Cue, CueWindow, FusionConfig, Label, format_p, fuse, logit, sigmoid
from avsync.media import Media, MediaSource, load_media
from avsync.results import Status
from avsync.sync.cue_params import (  # noqa: F401  # re-exported: avsync.pipeline.SyncCueParams and friends
    MOTION_CUE_PARAMS,
    SYNCNET_V2_CUE_PARAMS,
    SYNCNET_V3_CUE_PARAMS,
    WINDOW_MARGIN_MID,
    WINDOW_MARGIN_SCALE,
    SyncCueParams,
)
from avsync.timebase import describe_offset, frames_to_ms, join_spans
from avsync.verdict import ModelRef, Provenance, Verdict

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from avsync.artefacts.scorer import ArtefactResult
    from avsync.face.detectors import DetectorName
    from avsync.face.types import FaceTrack, FaceTracks
    from avsync.spoof.scorer import SpoofResult
    from avsync.sync.models import ModelName
    from avsync.sync.stretch import OffsetStretch
    from avsync.sync.types import FaceSync, SyncResult, WindowSync

__all__ = ["Detector", "analyze", "run_analyses", "verdict_status", "DEFAULT_FUSION_CONFIG"]

DEFAULT_FUSION_CONFIG = Path(__file__).resolve().parent / "data" / "fusion_default.yaml"
"""Fusion config shipped with the package (weights and thresholds fitted by ``avsync calibrate``)."""

Device = str
"""A torch device name: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``
(:func:`avsync.device.resolve_device` checks it)."""


def _runs(mask: Sequence[bool], starts: Sequence[float], ends: Sequence[float]) -> list[tuple[float, float]]:
    """Merge consecutive flagged windows into ``(start, end)`` runs (:func:`avsync.timebase.join_spans`)."""
    return [(a, b) for a, b, _ in join_spans((a, b, None) for m, a, b in zip(mask, starts, ends) if m)]


def _fmt_span(a: float, b: float) -> str:
    return f"{a:.0f}–{b:.0f} s" if b - a >= 3 else f"{a:.1f}–{b:.1f} s"


# ----------------------------------------------------------------------------------- cue adapters

MIN_OFFSET_S = 2.0
"""Seconds of the speaking face (its track, as the sync analysis read it) under which an offset or a drift is not
evidence: on a second or so of video the best lag of a genuine clip lands anywhere (1-s cuts of real interviews read
240–520 ms off at confidence 0.15, and were called manipulated at p = 0.9999). Every clip of the fusion evaluation
lasts 2.1 s or more (docs/fusion.md)."""


def sync_cue(result: SyncResult, *, duration: float, face_fraction: float | None, params: SyncCueParams,
             speech_s: float | None = None, min_speech_s: float = 1.0, min_offset_s: float = MIN_OFFSET_S) -> Cue:
    """Turn a :class:`~avsync.sync.SyncResult` into the ``sync`` cue.

    ``speech_s``: seconds of speech the voice activity detector found (the most on any channel; ``None``: not
    measured). Under ``min_speech_s`` (``0``: never), lips that follow the audio at no offset are not evidence, in
    the clip or in its windows (at most neutral, 0.5): there is too little speech for them to follow, and the
    sync model's own speech finder goes by energy, which music or noise also has; nor are lips that line up with
    the audio at no offset of the searched range (``out_of_range``). An offset at which the lips do follow the audio
    stays evidence, unless the speaking face was read for less than ``min_offset_s`` seconds (``0``: never): then
    an offset or a drift is at most neutral, too little video to place it."""
    st = Status(result.status)
    if st is Status.NO_FACE:
        frac = "" if face_fraction is None else f" for {100 * (1 - face_fraction):.0f}% of the clip"
        msg = f"no usable face{frac}" if face_fraction is None or face_fraction < 0.99 else "no face track long enough"
        return Cue("sync", st, None, (), (), face_fraction, msg)
    if st is Status.NO_SPEECH:
        return Cue("sync", st, None, (), (), 0.0, "no speech in the audio, so lip sync cannot be checked")
    unread = unreadable_lips(result, params)  # before any reading: lips that cannot be read line up nowhere, too
    if unread is not None:
        return Cue("sync", Status.SKIPPED, None, (), (), 0.0, unread)  # not judged: the speech is there
    drift = result.drift
    little_speech = speech_s is not None and min_speech_s > 0 and speech_s < min_speech_s
    if st is Status.OUT_OF_RANGE and drift is None:  # (a drifting offset may leave every constant one at the edge)
        reason = f"audio and video do not line up within ±{result.max_lag * 1000 / result.fps:.0f} ms"
        if little_speech:  # lips that line up with the audio nowhere in the range: as "at no offset" below
            return Cue("sync", Status.OK, min(params.out_of_range_score, 0.5), (), (), face_fraction,
                       measured=reason + _little_speech_note(speech_s, min_speech_s))
        return Cue("sync", Status.OK, params.out_of_range_score, (), (reason,), face_fraction, measured=reason)
    if st not in (Status.OK, Status.OUT_OF_RANGE) or (result.offset_ms is None and drift is None):
        return Cue("sync", st, None, (), (), face_fraction, result.message or result.summary)
    from avsync.sync.drift import describe_drift  # a SyncResult exists, so avsync.sync is loaded already

    off = float(result.offset_ms or 0.0)
    conf = float(result.confidence or 0.0)
    dist = float(result.min_distance if result.min_distance is not None else params.mismatch_distance_mid)
    if drift is not None:  # the lips follow the audio along a moving offset: judge its worst end, and the line
        ends = (frames_to_ms(drift.start_frames, result.fps), frames_to_ms(drift.end_frames, result.fps))
        off = max(ends, key=abs)
        conf, dist = float(drift.confidence), float(drift.distance)

    def offset_p(ms: float) -> float:
        tol = params.lead_tolerance_ms if ms >= 0 else params.lag_tolerance_ms
        return float(sigmoid((abs(ms) - tol) / params.offset_scale_ms))

    seen = result.active_face
    seen_s = (seen.end - seen.start) if seen is not None else duration
    too_short = min_offset_s > 0 and seen_s < min_offset_s

    def offset_reading(ms: float, confidence: float) -> tuple[float, bool]:
        """An offset's score (its probability scaled towards 0.5 by how sure the reading is) and whether it is
        evidence (beyond the tolerance, sure at least 0.5): the clip's, a drift's at a moment, a stretch's, a face's.
        With too little speech to place an offset: at most neutral, never evidence."""
        p, s = offset_p(ms), params.sureness(confidence)
        if too_short:
            return min(0.5 + s * (p - 0.5), 0.5), False
        return 0.5 + s * (p - 0.5), p > 0.5 and s >= 0.5

    p_offset = offset_p(off)
    offset_score, offset_evidence = offset_reading(off, conf)
    mismatch = sigmoid(
        (dist - params.mismatch_distance_mid) / params.mismatch_scale
        + (params.mismatch_confidence_mid - conf) / params.mismatch_scale
    )
    if little_speech:
        mismatch = min(mismatch, 0.5)
    score = max(offset_score, mismatch)
    reasons: list[str] = []
    face = f" (face {result.active_track_id})" if result.active_track_id is not None and len(result.faces) > 1 else ""
    # an offset exactly at the tolerance is neutral (p = 0.5): no reason, and the windows keep their own evidence
    said = describe_drift(drift, result.fps) if drift is not None else describe_offset(off)
    no_fit = mismatch >= 0.5 and not little_speech  # the lips follow the audio at no offset: the best lag is no fit
    if no_fit:  # said first: a headline "audio leads video by 160 ms" over replaced audio reads as a mere slip
        reasons.append(f"the lips{face} do not follow the audio at any offset within ±{result.max_lag * 1000 / result.fps:.0f} ms")
    if offset_evidence:
        reasons.append(f"the closest fit: {said}{face}" if no_fit else said + face)
    elif p_offset > 0.5 and offset_score > 0.5 and offset_score >= mismatch:
        # an offset read with low confidence: scaled towards 0.5, not evidence of its own, but what raises the cue
        reasons.append(f"{said}{face}, an unsure reading (confidence {conf:.2f})")
    # per-window: does the active face's mouth follow the audio at the clip's offset? An offset that is evidence,
    # or lips that follow the audio at no offset, is a property of the whole clip: every usable window carries
    # it, so the timeline and the segments agree with the headline. A drifting offset is a property of each
    # moment: a window carries the evidence of the line's offset at its middle
    active = result.active_face
    wins: list[CueWindow] = []
    stretch_notes: list[str] = []
    clip_level = [v for v, is_evidence in ((offset_score, offset_evidence and drift is None),
                                           (mismatch, mismatch >= 0.5 and not little_speech)) if is_evidence]
    clip_evidence = max(clip_level) if clip_level else None
    if active is not None:
        # the usable windows' own scores (lips vs audio at the clip's offset), before the clip's evidence
        own = [_window_sync_p(w, params) if Status(w.status) is Status.OK and w.distance is not None else None
               for w in active.windows]
        if little_speech:
            own = [None if p is None else min(p, 0.5) for p in own]
        local = [p for p in own if p is not None]
        # a stretch whose lips follow the audio at an offset of its own (an edit inside an otherwise synced clip)
        # (only where the clip as a whole reads in sync: an offset of the clip's own is its evidence already, and
        # where the lips follow the audio at no offset, a stretch's best lag is as much chance as the clip's)
        in_sync = drift is None and p_offset <= 0.5 and mismatch < 0.5 and not little_speech
        stretches = _offset_stretches(active, own, result.fps, offset_reading) if in_sync else []
        for s, s_score in stretches:
            span = _fmt_span(s.start, s.end)
            reasons.append(f"{describe_offset(frames_to_ms(s.offset_frames, result.fps))} in {span}{face} "
                           f"(elsewhere: {said})")
            score = max(score, s_score)
            stretch_notes.append(f"; in {span}: {describe_offset(frames_to_ms(s.offset_frames, result.fps))}, "
                                 f"confidence {s.confidence:.2f}")
        for w, p in zip(active.windows, own):
            evidence = clip_evidence
            for s, s_score in stretches:  # the stretch's windows carry its offset's evidence
                if p is not None and s.start <= w.start and w.end <= s.end and (evidence is None or s_score > evidence):
                    evidence = s_score
            if p is not None and drift is not None and offset_evidence:
                here = offset_reading(frames_to_ms(drift.offset_at((w.start + w.end) / 2, result.fps), result.fps),
                                      conf)[0]
                evidence = here if here > 0.5 and (evidence is None or here > evidence) else evidence
            wins.append(CueWindow(w.start, w.end, p if (p is None or evidence is None) else max(p, evidence),
                                  p is not None))
        if local and not little_speech:
            share = float(np.mean([p >= 0.5 for p in local]))
            if share >= 0.5:
                reasons.append(f"lips do not follow the audio{face or ' on the main face'} in {100 * share:.0f}% of speech windows")
        # where the active face is not seen (a cut to another shot, another speaker), a face whose own lips follow
        # the audio speaks: its windows, read at its own offset, fill the timeline, and that offset is evidence as
        # the clip's own would be
        if drift is None:
            for other, o_wins, o_score in _other_speakers(result, active, params, offset_reading, little_speech):
                at_start = {round(w.start, 3): i for i, w in enumerate(wins)}
                for ow in o_wins:
                    i = at_start.get(round(ow.start, 3))
                    if i is None:
                        wins.append(ow)
                    elif not wins[i].valid:
                        wins[i] = ow
                if o_score is not None:
                    assert other.offset_ms is not None  # a speaking face has its offset
                    span = _fmt_span(o_wins[0].start, o_wins[-1].end)
                    reasons.append(f"{describe_offset(other.offset_ms)} in {span} (face {other.track_id}; "
                                   f"elsewhere: {said})")
                    stretch_notes.append(f"; in {span} (face {other.track_id}): {describe_offset(other.offset_ms)}, "
                                         f"confidence {other.confidence:.2f}")
                    score = max(score, o_score)
            wins.sort(key=lambda w: w.start)
    coverage = face_fraction
    measured = f"{said}{face}, confidence {conf:.2f}"
    if mismatch >= 0.5 and not little_speech:  # the best lag is no fit: not quoted as if the audio were merely shifted
        measured = f"no offset fits{face} (the closest: {said}, confidence {conf:.2f})"
    measured += "".join(stretch_notes)
    if little_speech:
        measured += _little_speech_note(speech_s, min_speech_s)
    if too_short and p_offset > 0.5:
        measured += (f"; the face was seen for only {math.floor(10 * seen_s) / 10:.1f} s, too little to place an "
                     f"offset (at least {min_offset_s:g} s needed): not judged")
    return Cue("sync", Status.OK, float(score), tuple(wins), tuple(reasons), coverage, measured=measured)


def unreadable_lips(result: SyncResult, params: SyncCueParams) -> str | None:
    """Why lip sync cannot be checked when the active face's mouth articulates less than
    ``params.still_articulation`` while speech plays (it does not speak, or the model cannot see its lips), else
    ``None``."""
    limit = params.still_articulation
    active = result.active_face
    if limit is None or active is None or active.articulation is None or active.articulation >= limit:
        return None
    face = f" (face {active.track_id})" if len(result.faces) > 1 else ""
    shown = math.floor(active.articulation * 100) / 100  # rounded down: never printed as the limit it is under
    return (f"the lips of the face on screen{face} cannot be read (its mouth barely changes while speech plays: "
            f"articulation {shown:.2f}, under {limit:.2f}; a still picture, someone listening, or a face too small or "
            "dark to show its lips), so lip sync cannot be checked")


def _offset_stretches(face: FaceSync, own: Sequence[float | None], fps: float,
                      reading: Callable[[float, float], tuple[float, bool]]) -> list[tuple[OffsetStretch, float]]:
    """The stretches of ``face`` at an offset of their own that are evidence, each with its score: read as the
    clip's own offset is (``reading(ms, confidence)``: score, and whether it is evidence), and evidence when the
    clip's offset would be and the lips follow the stretch's audio at its lag at least as surely as the face's follow
    the clip's at the clip's (its confidence at least the face's): an edit leaves the speaker's lips and voice as clear as elsewhere, while audio the lips
    do not follow at all (a dubbed passage, a face listening to someone off screen) finds a best lag by chance,
    mostly with less confidence (docs/sync.md, "An edited stretch")."""
    from avsync.sync.stretch import local_offsets

    if face.offset_frames is None or not face.lags:
        return []
    out = []
    for s in local_offsets(face.windows, [None if p is None else p >= 0.5 for p in own], face.lags,
                           face.offset_frames):
        score, evidence = reading(frames_to_ms(s.offset_frames, fps), s.confidence)
        if evidence and s.confidence >= (face.confidence or 0.0):
            out.append((s, score))
    return out


def _other_speakers(result: SyncResult, active: FaceSync, params: SyncCueParams,
                    reading: Callable[[float, float], tuple[float, bool]], little_speech: bool,
                    ) -> list[tuple[FaceSync, list[CueWindow], float | None]]:
    """The other faces that speak where ``active`` has no usable window: each with its usable windows at those
    times (scored at its own offset, carrying its offset's evidence) and that evidence's score (``None``: its offset
    is no evidence). A face speaks when its lips follow the audio at an offset read surely (``status`` ok, sureness
    at least 0.5, as the clip's own offset must be to count); it needs at least ``MIN_STRETCH_S`` seconds of such
    windows. The most sure face takes a time first."""
    from avsync.sync.stretch import MIN_STRETCH_S

    taken = {round(w.start, 3) for w in active.windows if Status(w.status) is Status.OK and w.distance is not None}
    speaking = [f for f in result.faces if f is not active and Status(f.status) is Status.OK and f.drift is None
                and f.offset_ms is not None and f.confidence is not None and params.sureness(f.confidence) >= 0.5]
    out: list[tuple[FaceSync, list[CueWindow], float | None]] = []
    for f in sorted(speaking, key=lambda f: -(f.confidence or 0.0)):
        mine = [w for w in f.windows if Status(w.status) is Status.OK and w.distance is not None
                and round(w.start, 3) not in taken]
        covered = sum(b - a for a, b in _runs([True] * len(mine), [w.start for w in mine], [w.end for w in mine]))
        if covered < MIN_STRETCH_S - 1e-6:
            continue
        assert f.offset_ms is not None and f.confidence is not None  # speaking: both read
        score, is_evidence = reading(f.offset_ms, f.confidence)
        evidence = score if is_evidence else None
        o_wins = []
        for w in mine:
            p = _window_sync_p(w, params)
            p = min(p, 0.5) if little_speech else p
            o_wins.append(CueWindow(w.start, w.end, p if evidence is None else max(p, evidence), True))
        taken |= {round(w.start, 3) for w in mine}
        out.append((f, o_wins, evidence))
    return out


def _secs(s: float) -> str:
    """Seconds for reading: one decimal under 10 s ("1.2 s", as the short-speech note prints it), else whole."""
    return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"


def _little_speech_note(speech_s: float | None, min_speech_s: float) -> str:
    return (f"; only {speech_s or 0.0:.2f} s of speech, so lips that follow no offset are not judged "
            f"(at least {min_speech_s:g} s needed)")


def _window_sync_p(w: WindowSync, params: SyncCueParams) -> float:
    """Probability that the lips do not follow the audio in window ``w`` (at the clip's offset)."""
    if params.window_margin_mid is not None and w.margin is not None:
        return sigmoid((params.window_margin_mid - float(w.margin)) / params.window_margin_scale)
    assert w.distance is not None  # called for usable windows only (status ok, with a distance)
    return sigmoid((float(w.distance) - params.distance_mid) / params.distance_scale)


def relative_to_threshold(p: float | None, threshold: float) -> float | None:
    """A voice model's probability re-centred on its own decision threshold, ``sigmoid(logit(p) - logit(thr))``:
    0.5 exactly at the model's calibrated operating point, as for every cue (≥ 0.5 is evidence of manipulation).
    A model calibrated on balanced data scores real speech around 0.2–0.5; unshifted, that alone would hold a
    genuine clip in fusion's inconclusive band."""
    return None if p is None else float(sigmoid(logit(p) - logit(threshold)))


def spoof_cue(result: SpoofResult) -> Cue:
    """Turn a :class:`~avsync.spoof.SpoofResult` into the ``spoof`` cue (scores relative to the model's threshold,
    :func:`relative_to_threshold`; the reasons quote the model's own probabilities)."""
    st = Status(result.status)
    thr = float(result.threshold)
    per_channel = len({w.channel for w in result.windows}) > 1  # a call: one line per channel
    wins = tuple(
        CueWindow(w.start, w.end, relative_to_threshold(w.score, thr), w.score is not None,
                  w.channel if per_channel else None)
        for w in result.windows
    )
    if st is not Status.OK or result.score is None:
        msg = result.message or {
            Status.NO_SPEECH: "no speech found, so the voice cannot be checked",
            Status.TOO_SHORT: "too little audio to check the voice",
        }.get(st, f"voice check: {st}")
        return Cue("spoof", st, None, wins, (), 0.0, msg)
    reasons = []
    carried = list(wins)
    for ch in result.channels:
        who = f" on channel {ch.channel}" if len(result.channels) > 1 else ""
        for a, b, ps in ch.flagged_spans(thr):
            upto = "up to " if len(ps) > 1 else ""  # the stretch's highest window, not each window's score
            reasons.append(f"voice{who} in {_fmt_span(a, b)} looks synthetic (model score {upto}{format_p(max(ps))}, "
                           f"threshold {thr:.2f})")
            if result.run_windows and len(ps) >= result.run_windows:
                # a run counted with its own mean (the scorer's run rule): its windows carry it, so that the
                # timeline flags the stretch the reason names as one
                run_p = relative_to_threshold(float(np.mean(ps)), thr)
                for i, w in enumerate(result.windows):
                    c = carried[i]
                    if (w.channel == ch.channel and c.score is not None and run_p is not None
                            and w.start >= a - 1e-6 and w.end <= b + 1e-6):
                        carried[i] = replace(c, score=max(c.score, run_p))
    wins = tuple(carried)
    notes = ["telephone-band audio: the voice model is less well tested on it"] if result.narrowband else []
    from avsync.media.decode import is_repair_warning
    from avsync.spoof.scorer import SHORT_SPEECH_S, background_words

    short = [ch for ch in result.channels if ch.score is not None and 0 < ch.speech_s < SHORT_SPEECH_S]
    for ch in short:
        who = f"channel {ch.channel} has " if len(result.channels) > 1 else ""
        shown = math.floor(10 * ch.speech_s) / 10  # rounded down: 1.97 s is not "2.0 s ... under 2 s"
        notes.append(f"{who}only {shown:.1f} s of speech: the voice score is less reliable on under {SHORT_SPEECH_S:g} s")
    for ch in result.channels:
        if ch.score is not None and ch.loud_background:
            notes.append((f"on channel {ch.channel}, " if len(result.channels) > 1 else "") + background_words(ch))
    notes += [w for w in result.warnings if is_repair_warning(w)]
    valid = [w for w in wins if w.valid]
    scored = [ch for ch in result.channels if ch.score is not None]
    if len(result.channels) > 1:
        measured = ", ".join(f"channel {ch.channel} model score {format_p(ch.score)} over {_secs(ch.speech_s)} of speech"
                             for ch in scored)
    else:
        measured = f"model score {format_p(float(result.score))} over {_secs(sum(ch.speech_s for ch in scored))} of speech"
    measured += f" (threshold {thr:.2f})"
    return Cue("spoof", Status.OK, relative_to_threshold(float(result.score), thr), wins, tuple(reasons),
               len(valid) / max(1, len(wins)), notes=tuple(notes), measured=measured)


@dataclass(frozen=True)
class SpeakerCueParams:
    """The probabilities the ``speaker`` cue gives each finding (part of the detector's config:
    ``FusionConfig.cue_params["speaker"]``). Hand-set: one steady voice is weak evidence of genuineness (it says
    nothing about the lips); a change of identity within a channel, or a voice unlike the reference, is
    evidence of manipulation."""

    steady: float = 0.1
    identity_change: float = 0.8
    reference_mismatch: float = 0.85
    reference_match: float = 0.1


_Params = TypeVar("_Params", bound="DataclassInstance")  # a cue's parameter dataclass


def with_cue_params(defaults: _Params, overrides: dict[str, float] | None, cue: str) -> _Params:
    """``defaults`` (a cue's parameter dataclass) with the values of ``overrides`` (from
    ``FusionConfig.cue_params[cue]``); an unknown name is a :class:`~avsync.errors.ConfigError` naming the valid ones."""
    if not overrides:
        return defaults
    names = set(defaults.__dataclass_fields__)
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"unknown {cue} cue parameters in the fusion config: {unknown} (valid: {sorted(names)})")
    return replace(defaults, **{k: float(v) for k, v in overrides.items()})


def sync_cue_params(model: str | None, fusion: FusionConfig) -> SyncCueParams:
    """The sync cue's parameters for ``model`` (:meth:`SyncCueParams.for_model`) with ``fusion.cue_params["sync"]``."""
    return with_cue_params(SyncCueParams.for_model(model), fusion.cue_params.get("sync"), "sync")


CHANGE_REACH_S = 1.0
"""Speaker windows within this many seconds of an identity change carry it on the timeline (the change is found
between windows of 1.6 s, to about a second)."""


def speaker_cue(result: SpoofResult, params: SpeakerCueParams = SpeakerCueParams()) -> Cue | None:
    """The ``speaker`` cue from the speaker evidence of each channel (identity change, reference mismatch)."""
    evid = [ch.speaker for ch in getattr(result, "channels", ()) if getattr(ch, "speaker", None) is not None]
    usable = [e for e in evid if Status(e.status) is Status.OK]
    if not evid:
        return None
    if not usable:
        return Cue("speaker", Status(evid[0].status), None, (), (), 0.0, evid[0].message or "too little speech")
    scores, reasons, wins = [], [], []
    said: list[str] = []  # what the comparison with a reference voice found, said whichever way it went
    for e in usable:
        who = f" on channel {e.channel}" if len(usable) > 1 else ""
        if e.reference_match is not None and e.reference_similarity is not None:
            said.append(f"the voice{who} {'matches' if e.reference_match else 'does not match'} the reference "
                        f"(similarity {e.reference_similarity:.2f})")
        change = e.change_time_s if e.identity_change else None
        back = e.change_end_s if change is not None else None  # another voice inside the channel's: where it ends
        if change is not None:
            where = f"at {change:.0f} s" if back is None else f"at {change:.0f} s and back at {back:.0f} s"
            reasons.append(f"the voice{who} changes identity {where} (similarity {e.change_similarity:.2f})")
        base = params.steady  # what holds along the whole channel: its match with the reference, or none
        if e.reference_match is False:
            base = params.reference_mismatch
            reasons.append(f"the voice{who} does not match the reference (similarity {e.reference_similarity:.2f})")
        elif e.reference_match:
            base = min(base, params.reference_match)
        p = base if change is None else max(base, params.identity_change)
        scores.append(p)
        # an identity change is where it happens: the windows around it carry it (around an inserted voice: the
        # whole stretch of it), not the whole channel
        lo, hi = (change, change if back is None else back) if change is not None else (None, None)
        wins += [CueWindow(w.start, w.end, p if lo is not None and hi is not None and w.start - CHANGE_REACH_S <= hi
                           and lo <= w.end + CHANGE_REACH_S else base, True, e.channel if len(usable) > 1 else None)
                 for w in e.windows]
    return Cue("speaker", Status.OK, float(max(scores)), tuple(wins), tuple(reasons), 1.0,
               measured="; ".join(said) or None)


def artefact_cue(result: ArtefactResult) -> Cue:
    """Turn an :class:`~avsync.artefacts.ArtefactResult` into the ``artefact`` cue."""
    st = Status(result.status)
    wins = tuple(CueWindow(w.start, w.end, w.score, w.score is not None) for w in result.windows)
    from avsync.artefacts.scorer import artefact_words

    region, finding = artefact_words(result.model)
    if st is not Status.OK or result.score is None:
        return Cue("artefact", st, None, wins, (), 0.0, f"{region} not checked: {result.message or st.value}")
    thr = float(result.threshold)
    valid = [(w, w.score) for w in wins if w.score is not None]  # the valid windows (valid: scored, above)
    runs = _runs([s >= thr for _, s in valid], [w.start for w, _ in valid], [w.end for w, _ in valid])
    reasons = []
    for a, b in runs:
        ps = [s for w, s in valid if w.start >= a - 1e-6 and w.end <= b + 1e-6]
        reasons.append(f"{region} {finding} in {_fmt_span(a, b)} (p up to {format_p(max(ps))})")
    if result.still_decides:
        # the frozen surroundings carry the clip (its score is theirs): one reason for it, not the mouth-region
        # wording per window
        reasons = [f"{result.still_words()}: it looks animated from a single still image (p = {format_p(result.score)})"]
    if result.score >= thr and not reasons:
        reasons.append(f"{region} {finding} (p = {format_p(result.score)})")
    notes: tuple[str, ...] = ()
    if result.face_px is not None and result.face_px < 96:
        notes = (f"small face ({result.face_px:.0f} px wide): the {region} check is less reliable",)
    return Cue("artefact", Status.OK, float(result.score), wins, tuple(reasons), len(valid) / max(1, len(wins)),
               notes=notes)


# statuses of absence a cue can abstain with, in the order the verdict's status names them
_ABSENCES = (Status.NO_SPEECH, Status.NO_FACE, Status.TOO_SHORT, Status.NO_VIDEO)


def verdict_status(cues: Sequence[Cue], *, has_audio: bool = True, too_short: bool = False) -> Status:
    """The top-level status of a verdict over ``cues``.

    ``ok`` when at least one cue produced evidence (the others' reasons say what was not checked);
    when none did, the absence that stopped them (``no_speech`` before ``no_face``: with neither a face
    nor speech the reasons name both); ``no_audio`` for a video without sound; ``too_short`` when the input
    is shorter than the fusion's ``min_duration_s`` (its verdict says so first, whatever its cues found). Cues
    that could not run for other reasons (a missing model's weights) leave ``ok`` beside a cue that did;
    ``model_error`` when no cue ran and at least one could not for its model (nothing about the input was found:
    a failure, which ``avsync batch --retry-errors`` scores again). ``skipped`` when every cue was turned off or
    not judged (e.g. an audio file with the voice check off).
    """
    if not has_audio:
        return Status.NO_AUDIO
    if too_short:
        return Status.TOO_SHORT
    if any(c.usable for c in cues):
        return Status.OK
    found = {c.status for c in cues}
    if found == {Status.SKIPPED}:  # every check was turned off or not judged (turned faces): nothing was checked
        return Status.SKIPPED
    absence = next((s for s in _ABSENCES if s in found), None)
    if absence is None and Status.MODEL_ERROR in found:  # every check that could run failed on its model
        return Status.MODEL_ERROR
    return absence or Status.OK


def config_sync_note(fusion: FusionConfig, sync_model: object) -> str | None:
    """A note when ``fusion`` was fitted (``avsync calibrate``) on the sync cue of another lip-sync model than
    ``sync_model``: each model's cue has its own scale, so the fitted weights and thresholds may not carry over."""
    from avsync.model_files import sync_model_name

    fitted = fusion.fitted_on.get("sync_model") if isinstance(fusion.fitted_on, dict) else None
    used = sync_model_name(sync_model) if isinstance(sync_model, str) else getattr(sync_model, "name", None)
    if not fitted or not used or fitted == used:
        return None
    return (f"note: the fusion config was fitted on the lip-sync cue of {fitted}, and this run reads {used} "
            f"(refit it with `avsync calibrate --sync-model`)")


# ----------------------------------------------------------------------------------- the detector
@dataclass
class Detector:
    """From a file (or :class:`~avsync.media.Media`) to a :class:`~avsync.verdict.Verdict`.

    Parameters
    ----------
    fusion
        Fusion weights and thresholds (default: the config shipped with the package).
    sync_model
        ``"syncnet"`` (default: avsync's SyncNet-style model, the ``syncnet-v3`` bundle, trained also on generated
        in-sync faces and through recording channels; non-commercial research use; ``"syncnet-v3"`` names it too),
        ``"syncnet-v2"`` (the same network trained on GRID only, no restriction), ``"syncnet-grid"`` (its first
        version), ``"motion"`` (training-free mouth motion vs audio energy) or ``"light-asd"``.
    spoof_model
        Spoof bundle name (``None``: the default model of :mod:`avsync.spoof`); ``False`` turns the voice check off.
    artefacts
        Check the main face for generation / blending artefacts (:mod:`avsync.artefacts`) with the default
        model (``True``) or the artefact bundle named (e.g. ``"artefact-face"``); ``False`` turns it off.
    still
        Add the frozen-surroundings evidence to that check (:func:`avsync.artefacts.with_still`: the picture around
        the face stays bit-identical while the face moves, as in a face animated from one photo; docs/artefacts.md).
    speaker
        Add speaker-consistency evidence (GE2E) to the voice check.
    reference
        A known genuine recording of the expected voice (path), compared with each channel.
    face_detector
        ``"auto"``, ``"yunet"``, ``"haar"`` or ``"blazeface"``.
    check_orientation
        Before the faces are tracked, look whether the picture shows them turned on their side or upside down
        (:func:`avsync.face.orientation.picture_turn`: a wrong rotation flag); if it does, lip sync and the mouth
        region are not judged and the verdict says why (they read turned faces as out of sync and generated).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    models_dir, allow_download
        Where model bundles are looked up first, and whether a missing bundle may be downloaded.
    precision
        Inference precision of the voice model, ``"float32"`` or ``"bfloat16"`` (faster; see
        :class:`avsync.spoof.SpoofScorer`).
    sync_params, speaker_params
        How sync results and speaker evidence become probabilities (default: :meth:`SyncCueParams.for_model` of
        ``sync_model`` and :class:`SpeakerCueParams`, each with the values the fusion config's ``cue_params``
        gives; given here, they are used as they are).
    section_s
        A video longer than 1.5 × this (seconds) is analysed section by section and the results merged
        (:mod:`avsync.sections`), so memory does not grow with its length; ``None`` analyses any video at once.
    analyses
        More analyses to run after the built-in ones (:class:`avsync.cues.Analysis`: ``name``, ``needs``,
        ``run(media, context)`` → cues); their cues are fused with the weights the fusion config gives their
        names (none: reported, not fused). ``context.faces`` holds the face tracking when it ran.
    concurrent
        Run the voice check in a second thread beside faces → sync → artefacts (:func:`run_analyses`) on a video
        analysed in one piece (up to 1.5 × ``section_s``): the same verdict in less wall time on two or more
        cores. A longer video, analysed section by section, runs them in turn, so that its memory does not grow
        (side by side was faster there but held the voice check's memory beside a section's, docs/long-files.md);
        ``False`` runs one analysis after the other always.
    sync_min_speech_s
        Lips that follow the audio at no offset count as evidence only when the voice check's voice activity
        detector found at least this many seconds of speech on some channel (:func:`sync_cue`); ``0`` always. The
        rule needs the voice check's VAD: with ``spoof_model=False``, a voice model that could not run, or the VAD
        off, the sync cue is read without it. The speech is counted over the whole input.
    """

    fusion: FusionConfig | None = None
    sync_model: ModelName = "syncnet"
    spoof_model: str | None | Literal[False] = None
    artefacts: bool | str = True
    still: bool = True
    speaker: bool = True
    reference: str | os.PathLike | None = None
    face_detector: DetectorName = "auto"
    check_orientation: bool = True
    device: str = "auto"
    models_dir: str | os.PathLike | None = None
    allow_download: bool = False
    precision: str = "float32"
    sync_params: SyncCueParams | None = None
    speaker_params: SpeakerCueParams | None = None
    section_s: float | None = 60.0
    analyses: Sequence[Analysis] = ()
    concurrent: bool = True
    sync_min_speech_s: float = 1.0
    _spoof_scorer: Any = field(default=None, init=False, repr=False)
    _artefact_scorer: Any = field(default=None, init=False, repr=False)
    _thumbs: dict = field(default_factory=dict, init=False, repr=False)  # of the last call to finish (thumbnails)

    def __post_init__(self) -> None:
        if self.fusion is None:
            self.fusion = (
                FusionConfig.load(DEFAULT_FUSION_CONFIG) if DEFAULT_FUSION_CONFIG.exists() else FusionConfig()
            )
        self.device = resolve_device(self.device)
        self._check_names()
        if self.sync_params is None:
            self.sync_params = sync_cue_params(self.sync_model, self.fusion)
        if self.speaker_params is None:
            self.speaker_params = with_cue_params(SpeakerCueParams(), self.fusion.cue_params.get("speaker"), "speaker")

    def _check_names(self) -> None:
        """A misspelt model or detector name is a :class:`ConfigError` here, not a verdict that quietly leaves the
        check out (``spoof_model="aasist-hifigan-kokor"`` used to give "genuine" without a voice check)."""
        from avsync.bundles import names_of
        from avsync.model_files import ARTEFACT_ARCHITECTURE, SYNC_MODEL_SPECS

        if isinstance(self.sync_model, str) and self.sync_model not in SYNC_MODEL_SPECS:  # the live table: plug-ins too
            raise ConfigError(f"unknown sync model {self.sync_model!r}",
                              hint=f"choose one of {', '.join(SYNC_MODEL_SPECS)}")
        if isinstance(self.spoof_model, str):
            from avsync.spoof.models import spoof_factory

            try:
                spoof_factory(self.spoof_model)
            except BundleError as e:
                off = " (spoof_model=False turns the voice check off)" if self.spoof_model.lower() == "none" else ""
                raise ConfigError(f"{e}{off}") from e  # its text holds its hint
        if isinstance(self.artefacts, str) and self.artefacts not in (names := names_of(ARTEFACT_ARCHITECTURE)):
            raise ConfigError(f"unknown artefact model {self.artefacts!r}", hint=f"choose one of {', '.join(names)}")
        from avsync.device import check_precision
        from avsync.face.detectors.base import DETECTOR_NAMES

        check_precision(self.precision)  # "float16" once gave every verdict "undetermined" with status ok
        if isinstance(self.face_detector, str) and self.face_detector not in DETECTOR_NAMES:
            raise ConfigError(f"unknown face detector {self.face_detector!r}",
                              hint=f"choose one of {', '.join(DETECTOR_NAMES)}")

    @classmethod
    def from_pretrained(
        cls,
        *,
        config: str | os.PathLike | FusionConfig | None = None,
        device: Device = "auto",
        **kwargs: Any,
    ) -> Detector:
        """A detector with the shipped models and fusion config (or ``config``, a YAML path or object)."""
        fusion = FusionConfig.load(config) if isinstance(config, (str, os.PathLike)) else config
        return cls(fusion=fusion, device=device, **kwargs)

    def to(self, device: Device) -> Detector:
        """Move the models to ``device`` (``"cpu"``, ``"cuda"``, ``"auto"``)."""
        self.device = resolve_device(device)
        self._spoof_scorer = None
        self._artefact_scorer = None
        return self

    def check_reference(self) -> None:
        """Read the ``reference`` recording now (it is read with the voice model on first use otherwise): a
        :class:`~avsync.errors.ConfigError` says why it cannot be used (unreadable, no audio, under 0.5 s of speech),
        before any input is analysed. Nothing to check without a reference or a voice check."""
        if self.reference is not None and self.spoof_model is not False:
            from avsync.errors import BundleError

            try:
                self._scorer()
            except BundleError:  # a voice or speaker model that is not there: each input's voice check says so
                pass

    # ------------------------------------------------------------------ pieces
    def _scorer(self):
        if self._spoof_scorer is None:
            from avsync.spoof import DEFAULT_MODEL, SpoofScorer

            self._spoof_scorer = SpoofScorer(
                self.spoof_model or DEFAULT_MODEL,
                device=self.device,
                speaker=self.speaker,
                reference=self.reference,
                weights=None if self.models_dir is None else os.fspath(self.models_dir),
                allow_download=self.allow_download,
                precision=self.precision,
            )
        return self._spoof_scorer

    def _artefact_model(self):
        if self._artefact_scorer is None:
            from avsync.artefacts import DEFAULT_ARTEFACT_MODEL, ArtefactScorer

            self._artefact_scorer = ArtefactScorer(
                self.artefacts if isinstance(self.artefacts, str) else DEFAULT_ARTEFACT_MODEL,
                weights=None if self.models_dir is None else os.fspath(self.models_dir),
                device=self.device, allow_download=self.allow_download,
            )
        return self._artefact_scorer

    def _av_results(self, media: Media, timings: dict, progress: Callable[[int, int], None] | None):
        """Faces, sync result and artefact result (or the error that stopped it) of a (section of a) video."""
        from avsync.face import track
        from avsync.sync import analyze_sync, tracks_from_faces

        t0 = time.perf_counter()
        art_model, context, art = None, None, None
        if self.artefacts:
            try:
                art_model = self._artefact_model()
                context = art_model.context_spec(media.fps)  # its crops are cut in the tracking pass
            except AvsyncError as e:
                art = e
        from avsync.model_files import sync_crops

        # only the crop the sync model reads: Light-ASD's face crops cost a resize per frame that syncnet never uses;
        # none for a video without sound (no lip sync: the mouth region of the main face)
        faces = track(media, detector=self.face_detector, crops=sync_crops(self.sync_model) if media.has_audio else (),
                      progress=progress, context=context)
        t1 = time.perf_counter()
        sync = analyze_sync(media, tracks_from_faces(faces), model=self.sync_model, device=self.device) \
            if media.has_audio else None
        t2 = time.perf_counter()
        if art_model is not None:
            try:
                # the face lip sync heard speaking: a silent bystander's mouth says nothing of the speech
                art = art_model(media, faces, still=False,  # still: once, in _picture
                                track_id=None if sync is None else sync.active_track_id)
            except AvsyncError as e:
                art = e
        stages = [("faces", t1 - t0)] + ([("sync", t2 - t1)] if sync is not None else [])
        if art is not None and not isinstance(art, AvsyncError):  # timed when it ran, as the other stages
            stages.append(("artefact", time.perf_counter() - t2))
        add_timings(timings, dict(stages))
        return faces, sync, art

    def _run_av(self, media: Media, ctx: AnalysisContext, call: _Call) -> list[Cue]:
        """Sync and artefact cues of a video with audio: at once, or section by section for a long one."""
        turned = self._turned(media, ctx)
        if turned is not None:
            return turned
        faces, sync, art = self._picture(media, ctx, call)
        cues = [self._sync_cue(media, faces, sync, ctx.models, ctx.details, call)]
        if self.artefacts:
            cues.append(self._artefact_cue(art, ctx.models, ctx.details))
        return cues

    def _picture(self, media: Media, ctx: AnalysisContext, call: _Call):
        """Faces, sync result (``None`` for a video without sound) and mouth-region result (or the error that stopped
        it) of a video: at once, or section by section for a long one; the frozen-surroundings evidence added, the
        faces recorded (:meth:`_faces_seen`)."""
        from avsync.sections import plan_sections

        sections = plan_sections(media.duration, self.section_s)
        if len(sections) == 1:
            faces, sync, art = self._av_results(media, ctx.timings, ctx.progress)
            call.thumbs = _thumbnails(faces, media)
        else:
            faces, sync, art = self._av_sections(media, sections, ctx.timings, ctx.progress, call)
        if self.still and art is not None and not isinstance(art, AvsyncError):
            from avsync.artefacts.scorer import with_still

            art = with_still(art, faces)
        self._faces_seen(faces, ctx)
        return faces, sync, art

    def _faces_seen(self, faces: FaceTracks, ctx: AnalysisContext) -> None:
        """What an analysis that tracked the faces records of them: the tracks in ``details``, the face detector in
        the provenance (named as `avsync models list` names it, so its hash can be checked with `avsync models
        verify`), and the tracks for the plug-in analyses only (their crops are big)."""
        from avsync.model_files import model_sha256

        ctx.details["faces"] = faces.to_dict()
        ctx.models.append(ModelRef(faces.detector, sha256=model_sha256(faces.detector), role="face detector"))
        ctx.faces = faces if self.analyses else None

    def _turned(self, media: Media, ctx: AnalysisContext) -> list[Cue] | None:
        """Lip-sync and mouth-region cues that say why they were not judged, when the picture shows the faces turned
        (:func:`~avsync.face.orientation.picture_turn`); ``None`` when it does not (or the check is off)."""
        if not self.check_orientation:
            return None
        from avsync.face.orientation import turned_faces, turned_words

        t0 = time.perf_counter()
        turn = turned_faces(media, self.face_detector)  # its own detector: calls may overlap
        add_timings(ctx.timings, {"orientation": time.perf_counter() - t0})
        if not turn:
            return None
        ctx.details["orientation"] = {"turn_deg": turn}
        why = turned_words(turn)
        cues = [Cue("sync", Status.SKIPPED, None, (), (), 0.0, why)]
        if self.artefacts:
            cues.append(Cue("artefact", Status.SKIPPED, None, (), (), 0.0, "mouth region not checked: the faces are "
                            f"turned by {turn}°"))
        return cues

    def _av_sections(self, media: Media, sections: Sequence[tuple[float, float]], timings: dict,
                     progress: Callable[[int, int], None] | None, call: _Call):
        """:meth:`_av_results` of each section of a long video, merged (:mod:`avsync.sections`)."""
        from avsync.sections import MARGIN_S, MediaSection, MonoAudio, SectionMerger

        cal = None
        if self.artefacts:
            try:
                m = self._artefact_model()
                cal = (m.a, m.b)
            except AvsyncError:
                pass
        merger = SectionMerger(media.fps, artefact_calibration=cal)
        spans = []  # core, read span, frames read
        for a, b in sections:
            ea, eb = max(0.0, a - MARGIN_S), min(media.duration, b + MARGIN_S)
            spans.append((a, b, ea, eb, int(round((eb - ea) * media.fps))))
        total = sum(n for *_, n in spans)
        done, error, art_error = 0, None, None
        thumbs: dict[int, np.ndarray] = {}
        t0 = time.perf_counter()
        keep = self.spoof_model is not False  # the voice check reads every channel again: kept, not decoded twice
        mono = MonoAudio(media, channels=keep) if media.has_audio else None  # None: a silent video's sections
        try:
            if mono is not None:
                timings["audio"] = time.perf_counter() - t0
            sr = media.sample_rate
            for a, b, ea, eb, n in spans:
                audio = None if mono is None else mono.read(int(round(ea * sr)), int(round(eb * sr)))
                section = MediaSection(media, ea, eb, audio)
                report = None if progress is None else (lambda d, _t, base=done: progress(base + d, total))
                try:
                    faces, sync, art = self._av_results(section, timings, report)
                except MediaError as e:  # e.g. the video ends before this section
                    error = e
                    continue
                finally:
                    done += n
                if isinstance(art, AvsyncError):
                    art_error, art = art_error or art, None
                ids = merger.add((a, b), ea, faces, sync, art)
                new = [t for t in faces.tracks if ids[t.track_id] not in thumbs]
                if new and len(thumbs) < 8:  # a picture of each face the first time it is seen
                    for tid, img in _thumbnail_images(replace(faces, tracks=tuple(new)), section).items():
                        thumbs.setdefault(ids[tid], img)
                del faces, sync, art, section
                release_free_memory()  # the section's crops go back to the system, not into fragmented heaps
        finally:
            if mono is not None and keep and mono.has_channels:
                call.audio_spill = mono  # closed by __call__ once the voice check has read it
            elif mono is not None:
                mono.close()
        if not merger.sections:
            raise error or MediaError("no video frame could be decoded", status=Status.EMPTY)
        merged = merger.faces()
        global_id = {f: g for g, f in merger.final_ids().items()}
        call.thumbs = {_thumbnail_label(t): thumbs[global_id[t.track_id]] for t in merged.tracks[:4]
                       if global_id[t.track_id] in thumbs}
        return merged, merger.sync() if mono is not None else None, merger.artefacts() or art_error

    def _sync_cue(self, media: Media, faces: FaceTracks, result: SyncResult, models: list[ModelRef], details: dict,
                  call: _Call) -> Cue:
        details["sync"] = _sync_details(result)
        from avsync.model_files import sync_model_name
        from avsync.sync.models import weights_sha256

        # named as `avsync models list` names it, so that its hash can be checked with `avsync models verify`; the
        # file the model ran: for ``syncnet`` a user checkpoint in $AVSYNC_MODELS_DIR/syncnet/ when there is one
        models.append(ModelRef(sync_model_name(result.model), sha256=weights_sha256(result.model), role="sync"))
        assert self.sync_params is not None  # set by __post_init__
        call.sync_inputs = (result, media.duration, faces.face_fraction)  # read again once the voice check's VAD ran
        return sync_cue(result, duration=media.duration, face_fraction=faces.face_fraction, params=self.sync_params)

    def _sync_with_speech(self, cues: list[Cue], call: _Call) -> list[Cue]:
        """The sync cue read again with the speech the voice check found (it ran beside the sync analysis)."""
        speech, inputs = call.vad_speech_s, call.sync_inputs
        if speech is None or inputs is None or self.sync_min_speech_s <= 0 or speech >= self.sync_min_speech_s:
            return cues
        result, duration, face_fraction = inputs
        assert self.sync_params is not None  # set by __post_init__
        again = sync_cue(result, duration=duration, face_fraction=face_fraction, params=self.sync_params,
                         speech_s=speech, min_speech_s=self.sync_min_speech_s)
        return [again if c.name == "sync" and Status(c.status) is Status.OK else c for c in cues]

    def _artefact_cue(self, result: ArtefactResult | AvsyncError | None, models: list[ModelRef], details: dict) -> Cue:
        if isinstance(result, AvsyncError) or result is None:
            e = result or AvsyncError("no section could be checked", status=Status.NO_FACE)
            details["artefact"] = {"status": str(e.status), "message": str(e)}
            return Cue("artefact", e.status, None, (), (), 0.0, f"mouth-region check unavailable: {e}")
        details["artefact"] = result.to_dict()
        models.append(ModelRef(result.model, sha256=result.model_sha256 or None, role="artefact"))
        return artefact_cue(result)

    def _run_spoof(self, media: Media, ctx: AnalysisContext, call: _Call) -> list[Cue]:
        models, timings, details = ctx.models, ctx.timings, ctx.details
        t0 = time.perf_counter()
        try:
            scorer = self._scorer()
        except AvsyncError as e:
            details["spoof"] = {"status": str(e.status), "message": str(e)}
            return [Cue("spoof", e.status, None, (), (), 0.0, f"voice check unavailable: {e}")] + self._no_speaker()
        spill = call.audio_spill
        if spill is not None:  # a long video: the audio its sections decoded, read back (audio_blocks prefers `audio`)
            media.audio_blocks_from = spill.blocks
        try:
            result = scorer(media, progress=_reporting(_stop_when(ctx.cancelled), call.voice_progress))
        finally:
            media.audio_blocks_from = None
        timings["spoof"] = time.perf_counter() - t0
        details["spoof"] = result.to_dict()
        models.append(ModelRef(result.model, sha256=result.model_sha256 or None, role="spoof"))
        from avsync.bundles import get_bundle
        from avsync.speaker.ge2e import SpeakerEncoder
        from avsync.vad import VAD

        if scorer.use_vad:
            models.append(ModelRef(VAD.bundle_name, sha256=get_bundle(VAD.bundle_name).sha256, role="VAD"))
            if result.channels:  # the most speech any channel holds (a silent channel: 0)
                call.vad_speech_s = max(float(ch.speech_s) for ch in result.channels)
        cues = [spoof_cue(result)]
        assert self.speaker_params is not None  # set by __post_init__
        sp = speaker_cue(result, self.speaker_params)
        if sp is not None:
            cues.append(sp)
            enc = get_bundle(SpeakerEncoder.bundle_name)
            models.append(ModelRef(enc.name, version=enc.version, sha256=enc.sha256, role="speaker"))
        elif Status(result.status) is Status.MODEL_ERROR:  # it runs inside the voice check: said, not left out
            cues += self._no_speaker()
        return cues

    def _no_speaker(self) -> list[Cue]:
        """The speaker cue when the voice check it runs inside could not run (no voice model): not checked, and why."""
        if not self.speaker:
            return []
        return [Cue("speaker", Status.MODEL_ERROR, None, (), (), 0.0,
                    "speaker consistency not checked: it runs with the voice check, which could not run")]

    # ------------------------------------------------------------------ main entry
    def __call__(
        self, src: MediaSource | Media, *, progress: Callable[[int, int], None] | None = None
    ) -> Verdict:
        """Analyse one input; bad input gives an ``undetermined`` verdict with its status, never a traceback."""
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        path = None if isinstance(src, (bytes, bytearray, memoryview, Media)) else os.fspath(src)
        try:
            media = src.at_rates() if isinstance(src, Media) else load_media(src)  # the models read 16 kHz, 25 fps
        except MediaError as e:
            return self._failed(path, None, e.status, str(e), timings, t_start)
        timings["probe"] = time.perf_counter() - t_start
        info = media.info
        kind = info.kind
        details: dict[str, Any] = {"media": info.to_dict()}
        models: list[ModelRef] = []
        call = _Call()  # this call's own state: calls may overlap (threads), so none of it lives on the Detector
        # side by side only for a video analysed in one piece: section by section, in turn keeps the memory flat (10 min
        # of 720p, docs/long-files.md: side by side 0.87x the time but 1.28x the 1-min peak), as the voice blocks and a
        # video section are not in memory at once
        concurrent = self.concurrent and _one_section(media, self.section_s)
        voice_in_turn = self.spoof_model is not False and media.has_audio and not (concurrent and media.has_video)
        plan = _ProgressPlan(progress, media.has_video, voice_in_turn) if progress is not None else None
        call.voice_progress = plan.voice if plan is not None else None
        ctx = AnalysisContext(device=self.device, models=models, details=details, timings=timings,
                              progress=plan.video if plan is not None else None)
        if concurrent and media.has_audio and media.has_video:
            with contextlib.suppress(MediaError):  # a broken audio track: the analyses meet the error as before
                media.audio  # noqa: B018  # decoded once here: the voice check and lip sync then share the samples
        try:
            cues = run_analyses([_AudioVisual(self, call), _Voice(self, call), _SilentVideo(self, call),
                                 *self.analyses], media, ctx,
                                concurrent=concurrent)
        except MediaError as e:  # e.g. decoding broke half-way through
            return self._failed(path or info.path, info.sha256, e.status, str(e), timings, t_start)
        finally:
            ctx.faces = None  # the crops are not kept while the verdict is assembled
            if call.audio_spill is not None:
                call.audio_spill.close()
                call.audio_spill = None
            self._thumbs = call.thumbs
        cues = self._sync_with_speech(cues, call)
        if self.spoof_model is False and media.has_audio and not media.has_video and not cues:  # said, not silent
            cues.append(Cue("spoof", Status.SKIPPED, None, (), (), 0.0,
                            "the voice check is turned off (spoof_model=False, --spoof-model none), and an audio "
                            "recording has nothing else to check"))
        outcome = fuse(cues, duration=media.duration, kind=kind, config=self.fusion)
        assert self.fusion is not None  # set by __post_init__
        details["fusion"] = fusion_details(self.fusion)
        timings["total"] = time.perf_counter() - t_start
        status = verdict_status(cues, has_audio=media.has_audio, too_short=media.duration < self.fusion.min_duration_s)
        prov = self._provenance(path or info.path, info.sha256, models, timings)
        from avsync.media.probe import is_streams_warning, is_truncation_warning

        streams = tuple(f"note: {w}" for w in info.warnings if is_streams_warning(w))  # which audio was heard
        streams += tuple(f"note: the file may be cut off ({w}): only what is there was analysed"
                         for w in info.warnings if is_truncation_warning(w))
        # noticed while the analyses decoded it (a file damaged part-way): what follows the break was not analysed
        streams += tuple(f"note: {w} (the file is damaged there): what follows was not analysed"
                         for w in media.info.warnings if "decoding stopped early" in w)
        fitted_for = config_sync_note(self.fusion, self.sync_model) if media.has_video else None
        streams += (fitted_for,) if fitted_for else ()
        return Verdict(
            label=outcome.label,
            score=outcome.score,
            status=status,
            reasons=outcome.reasons + streams,
            segments=outcome.segments,
            cues=tuple(cues),
            windows=outcome.windows,
            provenance=prov,
            duration_s=float(media.duration),
            kind=kind,
            details=details,
        )

    @property
    def thumbnails(self) -> dict[str, np.ndarray]:
        """Face thumbnails of the last analysed clip (track label → image), for reports. With calls from several
        threads at once: of the call that finished last; the verdicts themselves never mix."""
        return dict(getattr(self, "_thumbs", {}) or {})

    def _provenance(self, path: str | None, sha: str | None, models: Sequence[ModelRef],
                    timings: dict[str, float]) -> Provenance:
        from avsync._version import __version__

        assert self.fusion is not None  # set by __post_init__
        return Provenance(
            input_path=path,
            input_sha256=sha,
            avsync_version=__version__,
            config_hash=self.fusion.config_hash(),
            models=tuple(models),
            timings={k: round(v, 4) for k, v in timings.items()},
            device=self.device,
        )

    def _failed(self, path: str | None, sha: str | None, status: Status, message: str, timings: dict[str, float],
                t_start: float) -> Verdict:
        timings["total"] = time.perf_counter() - t_start
        if sha is None and path is not None and status is not Status.NOT_FOUND:  # an empty file has a hash too
            try:
                from avsync.media import file_sha256

                sha = file_sha256(path)
            except OSError:
                sha = None
        return Verdict(
            label=Label.UNDETERMINED,
            score=None,
            status=status,
            reasons=(f"undetermined: {message}",),
            segments=(),
            cues=(),
            windows=(),
            provenance=self._provenance(path, sha, [], timings),
            duration_s=0.0,
            kind="none",
        )


@dataclass
class _Call:
    """What one call of :class:`Detector` carries from one of its analyses to another and to the verdict."""

    thumbs: dict = field(default_factory=dict)  # face thumbnails (Detector.thumbnails)
    audio_spill: Any = None  # avsync.sections.MonoAudio of a long video, read again by the voice check
    vad_speech_s: float | None = None  # seconds of speech the voice check's VAD found (most on any channel)
    sync_inputs: Any = None  # (SyncResult, duration, face fraction): the sync cue, read again with that speech
    voice_progress: Callable[[float, float], None] | None = None  # the voice check's part of the call's progress


VOICE_PROGRESS_SHARE = 0.5
"""The voice check's part of a video's progress when it runs after the video analysis (section by section, or
``concurrent=False``), as a share of the video's frames: about its share of the time on 720p with every default cue
(docs/long-files.md: voice check 21 s beside 47 s of faces, lip sync and mouth region for ten minutes)."""


class _ProgressPlan:
    """One progress report over a call's analyses, ``progress(done, total)`` in video frames: the video analysis's
    frames, then (when the voice check runs after it) :data:`VOICE_PROGRESS_SHARE` of them more for the voice check;
    an input without video counts its audio in 25 fps frames. A voice check beside the video analysis reports
    nothing (the frames are the call's progress)."""

    def __init__(self, progress: Callable[[int, int], None], has_video: bool, voice_in_turn: bool):
        self.progress, self.has_video, self.voice_in_turn = progress, has_video, voice_in_turn
        self.frames: int | None = None  # the video analysis's total, once it reported

    def _extra(self, frames: int) -> int:
        return int(round(VOICE_PROGRESS_SHARE * frames)) if self.voice_in_turn else 0

    def video(self, done: int, total: int) -> None:
        self.frames = int(total)
        self.progress(int(done), self.frames + self._extra(self.frames))

    @property
    def voice(self) -> Callable[[float, float], None] | None:
        if not self.voice_in_turn:
            return None
        return self._voice

    def _voice(self, done_s: float, total_s: float) -> None:
        if not self.has_video or self.frames is None:  # audio only (or no frame was reported): the audio's own clock
            self.progress(int(round(done_s * 25)), int(round(total_s * 25)))
            return
        extra = self._extra(self.frames)
        part = 0 if total_s <= 0 else int(round(extra * min(1.0, done_s / total_s)))
        self.progress(self.frames + part, self.frames + extra)


class _AudioVisual:
    """The built-in audio-visual analysis: faces → lip sync → mouth-region artefacts (in sections when long)."""

    name = "sync"  # the cue it must give; a failure is reported under it
    needs = frozenset({"audio", "video"})
    records_timings = True  # per stage: faces, sync, artefact

    def __init__(self, detector: Detector, call: _Call):
        self.detector, self.call = detector, call

    def run(self, media: Media, context: AnalysisContext) -> list[Cue]:
        cues = self.detector._run_av(media, context, self.call)
        release_free_memory()  # the crops are gone: their memory is not held while the verdict is assembled
        return cues


class _Voice:
    """The built-in voice analysis: spoof score per channel, with speaker evidence."""

    name = "spoof"
    needs = frozenset({"audio"})
    records_timings = True
    independent = True  # reads only the audio: runs beside the audio-visual analysis (run_analyses)

    def __init__(self, detector: Detector, call: _Call):
        self.detector, self.call = detector, call

    def run(self, media: Media, context: AnalysisContext) -> list[Cue]:
        det = self.detector
        if det.spoof_model is False:
            return []
        return det._run_spoof(media, context, self.call)


class _SilentVideo:
    """The built-in check of a video without sound: the mouth region alone (lip sync and the voice need audio), after
    the orientation check, on faces tracked with the detector's face detector: :meth:`Detector._picture`, the
    audio-visual path without lip sync (in one piece up to 1.5 × ``section_s``, a longer one section by section, so
    its memory does not grow with its length)."""

    name = "artefact"
    needs = frozenset({"video"})
    records_timings = True

    def __init__(self, detector: Detector, call: _Call):
        self.detector, self.call = detector, call

    def run(self, media: Media, context: AnalysisContext) -> list[Cue]:
        det = self.detector
        if media.has_audio or not det.artefacts:
            return []
        turned = det._turned(media, context)
        if turned is not None:
            return [c for c in turned if c.name == "artefact"]
        try:
            det._artefact_model()
        except AvsyncError as e:  # said without tracking faces for nothing
            return [det._artefact_cue(e, context.models, context.details)]
        _, _, art = det._picture(media, context, self.call)  # the audio-visual path without lip sync
        return [det._artefact_cue(art, context.models, context.details)]


def _one_section(media: Media, section_s: float | None) -> bool:
    """Whether ``media`` is analysed in one piece (not section by section: its audio is decoded whole anyway)."""
    from avsync.sections import plan_sections

    return len(plan_sections(media.duration, section_s)) == 1


def _stop_when(cancelled: Callable[[], bool] | None) -> Callable[[float, float], None] | None:
    """A progress callback that raises :class:`AnalysisCancelled` once ``cancelled()`` (``None`` without one)."""
    if cancelled is None:
        return None

    def check(_done: float, _total: float) -> None:
        if cancelled():
            raise AnalysisCancelled("the verdict no longer needs this analysis")

    return check


def _reporting(*callbacks: Callable[[float, float], None] | None) -> Callable[[float, float], None] | None:
    """One progress callback calling each of ``callbacks`` that is set (``None`` when none is)."""
    given = [c for c in callbacks if c is not None]
    if not given:
        return None

    def report(done: float, total: float) -> None:
        for c in given:
            c(done, total)

    return report


def run_analyses(
    analyses: Sequence[Analysis], media: Media, context: AnalysisContext, *, concurrent: bool = True
) -> list[Cue]:
    """Cues of each analysis whose ``needs`` the media has; one that raises gives an ``error`` cue, not a traceback.

    Each analysis's seconds go into ``context.timings`` under its name, except for the built-ins, which record
    their own stages (faces, sync, artefact, spoof: ``records_timings``).

    An analysis that declares ``independent = True`` reads nothing but the media and its device (no faces, no
    other analysis's details, no progress callback): with ``concurrent``, it starts at once in a worker thread,
    beside the analyses before it, with a context of its own whose models, details and timings are added to
    ``context`` when the loop reaches it. Cues, models, details and their order are the same as one after the
    other; only the wall time changes (the built-in voice check overlaps faces, sync and artefacts), so the
    stage timings of analyses that ran side by side overlap and may add up to more than the total.
    """
    have = {k for k, ok in (("audio", media.has_audio), ("video", media.has_video)) if ok}
    todo = []
    for a in analyses:
        if not isinstance(a, Analysis):
            raise ConfigError(f"{a!r} is not an analysis (it needs a name, needs and run(media, context))")
        if set(a.needs) <= have:
            todo.append(a)
    side = [i for i, a in enumerate(todo) if getattr(a, "independent", False) and i > 0] if concurrent else []
    cues: list[Cue] = []
    pool = futures = None
    stop = threading.Event()
    if side:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="avsync-analysis")
        futures = {i: pool.submit(_run_analysis, todo[i], media,
                                  AnalysisContext(device=context.device, cancelled=stop.is_set)) for i in side}
    try:
        for i, a in enumerate(todo):
            if futures and i in futures:
                out, part = futures.pop(i).result()
                context.models.extend(part.models)
                context.details.update(part.details)
                add_timings(context.timings, part.timings)
            else:
                out, _ = _run_analysis(a, media, context)
            cues += out
    finally:
        if pool is not None:  # after a failure above: the side analyses are told to stop, and end before we return
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
    return cues


def add_timings(timings: dict[str, float], seconds: dict[str, float]) -> None:
    """Add ``seconds`` per stage to ``timings`` (a stage met again, e.g. in every section, accumulates)."""
    for k, v in seconds.items():
        timings[k] = timings.get(k, 0.0) + v


class AnalysisCancelled(Exception):
    """Raised inside an analysis whose result is no longer wanted (``AnalysisContext.cancelled``)."""


def _run_analysis(a: Analysis, media: Media, context: AnalysisContext) -> tuple[list[Cue], AnalysisContext]:
    t0 = time.perf_counter()
    try:
        out = list(a.run(media, context))
    except (MediaError, AnalysisCancelled):
        raise
    except Exception as e:  # noqa: BLE001  # a plug-in's failure is its cue's status, not the verdict's
        status = e.status if isinstance(e, AvsyncError) else Status.ERROR
        out = [Cue(a.name, status, None, message=f"{cue_words(a.name)} check failed: {e}")]
    if not getattr(a, "records_timings", False):
        add_timings(context.timings, {a.name: time.perf_counter() - t0})
    for c in out:
        if not isinstance(c, Cue):
            raise ConfigError(f"analysis {a.name!r} returned {type(c).__name__}, not a Cue")
    return out, context


def fusion_details(cfg: FusionConfig) -> dict:
    """The decision rule a verdict was made with (method, thresholds, version): what reports draw."""
    return {"method": cfg.method, "version": cfg.version, "manipulated_threshold": cfg.manipulated_threshold,
            "genuine_threshold": cfg.genuine_threshold, "segment_threshold": cfg.segment_threshold}


def _sync_details(result: SyncResult) -> dict:
    d = result.to_dict()
    active = result.active_face
    if active is not None and active.lags:
        d["offset_curve"] = {
            "lags_ms": [1000.0 * lag / result.fps for lag in active.lags],
            "values": [np.nan if v is None else float(v) for v in active.curve],
            "label": "mean distance",
            "lower_is_better": True,
        }
    return d


def _thumbnails(faces: FaceTracks, media: Media | None = None, limit: int = 4) -> dict[str, np.ndarray]:
    """One face picture per track (up to ``limit``): a colour crop of the frame in the middle of the track's
    sightings, read back from ``media``; the gray analysis crop when the frame cannot be read."""
    images = _thumbnail_images(faces, media, limit)
    return {_thumbnail_label(t): images[t.track_id] for t in faces.tracks[:limit] if t.track_id in images}


def _thumbnail_label(t: FaceTrack) -> str:
    return f"face {t.track_id} ({t.start_s:.0f}–{t.end_s:.0f} s)"


def _thumbnail_images(faces: FaceTracks, media: Media | None = None, limit: int = 4) -> dict[int, np.ndarray]:
    """Track id → face picture for the first ``limit`` tracks (see :func:`_thumbnails`)."""
    picks = []
    for t in faces.tracks[:limit]:
        if t.num_valid:
            i = int(np.flatnonzero(t.valid)[t.num_valid // 2])
            picks.append((t, i))
    colour: dict[int, np.ndarray] = {}
    if media is not None and media.has_video and picks:
        from avsync.face.crops import face_thumbnail

        wanted: dict[int, list[tuple[Any, int]]] = {}  # frame -> every track pictured there (faces side by side)
        for t, i in picks:
            wanted.setdefault(int(t.frames[i]), []).append((t, i))
        try:
            # a seek to the first picture wanted, not a decode of the whole clip up to it
            for chunk in media.frames(chunk_size=4, only=set(wanted), start=min(wanted) / media.fps,
                                      end=(max(wanted) + 1) / media.fps):
                for img, k in zip(chunk.images, chunk.indices):
                    for t, i in wanted.get(int(k), ()):
                        colour[t.track_id] = face_thumbnail(img, t.boxes[i])
        except (MediaError, OSError, ValueError):  # a thumbnail is decoration: never fail the report for it
            colour = {}
    out = {}
    for t, i in picks:
        img = colour.get(t.track_id)
        if img is None and t.face_crops is not None:
            img = t.face_crops[i]
        if img is not None:
            out[t.track_id] = img
    return out


def analyze(src: MediaSource | Media, **kwargs: Any) -> Verdict:
    """Analyse one file with a default :class:`Detector` (``kwargs`` go to the detector)."""
    return Detector.from_pretrained(**kwargs)(src)


def eval_task(model: str | None = None, device: Device | None = None, precision: str = "float32", *,
              sync_model: ModelName | None = None, artefacts: bool | str | None = None, speaker: bool | None = None,
              spoof: bool = True):
    """Scorer for ``avsync eval --task analyze`` / ``avsync batch --task analyze``: builds one detector.

    ``model`` is the voice model; the options (``--option KEY=VALUE``) set the detector's ``sync_model``,
    ``artefacts`` (``false``, or an artefact model's name) and ``speaker``; ``spoof=false`` leaves the voice
    check out. Options left unset keep the detector's defaults.
    """
    kwargs: dict[str, Any] = {"spoof_model": model} if model else {}
    if not spoof:
        kwargs["spoof_model"] = False
    for name, value in (("sync_model", sync_model), ("artefacts", artefacts), ("speaker", speaker)):
        if value is not None:
            kwargs[name] = value
    det = Detector.from_pretrained(device=device or "auto", precision=precision, **kwargs)

    def score(path: str, progress: Callable[[float, float], None] | None = None) -> dict:
        v = det(path, progress=progress)
        d = v.to_dict()
        d.pop("schema_version", None)
        d["status"] = str(v.status)
        d["score"] = v.score
        d["label"] = v.label.value
        sync = (v.details.get("sync") or {})
        d["offset_frames"] = sync.get("offset_frames")
        d["model"] = next((m.name for m in v.provenance.models if m.role == "spoof"), None)  # the voice model
        if v.status.is_failure and v.reasons:  # why the file could not be analysed, for the batch line
            d["message"] = v.reasons[0].removeprefix("undetermined: ")
        return d

    return score
