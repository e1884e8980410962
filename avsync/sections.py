"""Long videos in sections: the audio-visual analyses run section by section, and their results are merged.

Face tracking keeps mouth and face crops of every frame, and the lip-sync encoders embed every frame,
so analysing a long video at once needs memory in proportion to its length. :class:`~avsync.pipeline.
Detector` therefore cuts a video longer than 1.5 × ``section_s`` into consecutive sections
(:func:`plan_sections`), each read with a margin of :data:`MARGIN_S` on both sides so that lags of the
sync search and windows that straddle a boundary have their context, runs faces → sync → mouth-region
artefacts on each (:class:`MediaSection`: the frames and the mono audio of that span, on a timeline of
its own), shifts the results back onto the clip's timeline, and merges them:

* faces: a track that continues into the next section is recognised on the margin frames both
  sections saw (mean IoU ≥ 0.5) and keeps one id; per-frame boxes come from the section whose core
  holds the frame; crops are not kept;
* sync: per face, the distance-over-lag curve is the mean of the sections' curves weighted by their
  valid frames, and offset, confidence and minimum distance are read from it as for a whole clip;
  timeline windows come from the section whose core holds their centre; a drift is the best line through
  the sections' curves (:func:`avsync.sync.drift.fit_drift`, each curve at its core's middle), reported by the
  same rule as within a clip;
* artefacts: the clip probability is the calibrated mean logit of every scored frame, as for a
  whole clip; windows as for sync.

Only per-window results and the merged numbers are kept from one section to the next. The voice
check reads the whole audio block by block (:class:`~avsync.spoof.SpoofScorer`), not in sections: from the
temporary file into which the sections' audio was decoded (every channel, :class:`MonoAudio` with
``channels=True``), so the audio of a long video is decoded once.
Videos up to 1.5 × ``section_s`` are analysed at once, exactly as before.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Collection, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from avsync.errors import ConfigError
from avsync.media import Media
from avsync.results import Status
from avsync.timebase import seconds_to_samples

if TYPE_CHECKING:  # imported by the methods that build them (the analyses load with them)
    from avsync.artefacts.scorer import ArtefactResult
    from avsync.face.types import FaceTrack, FaceTracks
    from avsync.media.types import FrameChunk
    from avsync.sync.types import FaceSync, SyncResult, WindowSync

__all__ = ["MARGIN_S", "MediaSection", "MonoAudio", "SectionMerger", "plan_sections"]

MARGIN_S = 1.0
"""Seconds read before and after each section's core (covers the ±0.6 s sync search and a 2 s window's half)."""


def plan_sections(duration: float, section_s: float | None) -> list[tuple[float, float]]:
    """Cores ``(start, end)`` in seconds that tile ``[0, duration)``: one when ``section_s`` is ``None`` or
    the clip is at most 1.5 × ``section_s`` long; else sections of ``section_s`` (whole seconds), the last one
    taking the remainder (up to 1.5 × ``section_s``)."""
    if section_s is None or duration <= 1.5 * section_s:
        return [(0.0, float(duration))]
    step = max(1.0, float(round(section_s)))
    n = max(1, int(round(duration / step)))
    if duration - (n - 1) * step > 1.5 * step:
        n += 1
    bounds = [k * step for k in range(n)] + [float(duration)]
    return list(zip(bounds[:-1], bounds[1:]))


class MonoAudio:
    """The mono mix of a media's audio, readable by sample range at a memory that does not grow with its length.

    Audio already decoded is sliced; otherwise it is decoded once, block by block, into a temporary file of
    float32 samples (removed by :meth:`close`), and ranges are read back from it. With ``channels=True`` the file
    keeps every channel (``[n, C]`` rows), and :meth:`blocks` reads the audio back as
    :meth:`Media.audio_blocks <avsync.media.Media.audio_blocks>` gives it, so that a later pass over the audio (the
    voice check of a long video) needs no second decoding.
    """

    def __init__(self, media: Media, *, channels: bool = False):
        self._array: np.ndarray | None = None
        self._file: str | None = None
        self._channels_kept = False
        self.num_samples = 0
        self.num_channels = media.num_channels if media.has_audio else 1
        self.sample_rate = media.sample_rate
        if not media.has_audio:
            return
        if media._audio is not None:
            self._array = media.mono()
            self.num_samples = len(self._array)
            return
        fd, self._file = tempfile.mkstemp(prefix="avsync-audio-", suffix=".f32")
        try:
            with os.fdopen(fd, "wb") as fh:
                for block in media.audio_blocks(60.0):
                    if channels:
                        block.T.tofile(fh)  # rows of num_channels samples (audio_blocks keeps the stream's count)
                    else:
                        block.mean(axis=0, dtype=np.float32).tofile(fh)
                    self.num_samples += block.shape[1]
        except BaseException:  # e.g. the audio cannot be decoded: no file is left behind
            self.close()
            raise
        self._channels_kept = channels

    @property
    def has_channels(self) -> bool:
        """Whether every channel was kept in the file (:meth:`blocks` can replace a decoding)."""
        return self._file is not None and self._channels_kept

    def _rows(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of the file as ``[C, n]`` (only with ``channels=True``)."""
        assert self._file is not None
        c = self.num_channels
        with open(self._file, "rb") as fh:
            fh.seek(4 * c * start)
            rows = np.fromfile(fh, dtype=np.float32, count=(stop - start) * c)
        return rows.reshape(-1, c).T

    def read(self, start: int, stop: int) -> np.ndarray:
        """Mono samples ``[start, stop)`` (clipped to the audio), float32."""
        start, stop = max(0, start), min(self.num_samples, stop)
        if stop <= start:
            return np.zeros(0, np.float32)
        if self._array is not None:
            return self._array[start:stop]
        assert self._file is not None  # audio not decoded in memory: it is in the file
        if self._channels_kept:
            return self._rows(start, stop).mean(axis=0, dtype=np.float32)
        with open(self._file, "rb") as fh:
            fh.seek(4 * start)
            return np.fromfile(fh, dtype=np.float32, count=stop - start)

    def blocks(self, block_s: float) -> Iterator[np.ndarray]:
        """Every channel as consecutive float32 ``[C, n]`` blocks of ``block_s`` seconds, the blocks
        :meth:`Media.audio_blocks <avsync.media.Media.audio_blocks>` yields (only when :attr:`has_channels`)."""
        if not self.has_channels:
            raise ValueError("this audio was not kept with its channels")
        n = max(1, seconds_to_samples(block_s, self.sample_rate))
        for a in range(0, self.num_samples, n):
            yield np.ascontiguousarray(self._rows(a, min(self.num_samples, a + n)))
        if self.num_samples == 0:
            yield np.zeros((self.num_channels, 0), np.float32)

    def close(self) -> None:
        if self._file is not None:
            try:
                os.unlink(self._file)
            except OSError:
                pass
            self._file = None

    def __enter__(self) -> MonoAudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MediaSection(Media):
    """``[start, end)`` s of a parent :class:`Media` as a media of its own: time 0 is the parent's ``start``.

    Frames are decoded from the parent on demand (a seek, then only this span); the audio is the
    parent's mono mix over the span (``audio``, read by the caller). ``start`` must fall on the
    analysis-frame grid.
    """

    def __init__(self, parent: Media, start: float, end: float, audio: np.ndarray | None):
        self.parent, self.offset_s = parent, float(start)
        self.frame_offset = int(round(start * parent.fps))
        if abs(self.frame_offset - start * parent.fps) > 1e-6:
            raise ConfigError(f"a section must start on a frame ({start} s at {parent.fps} fps)")
        length = float(end - start)
        pi = parent.info
        video = audio_info = None
        if pi.video is not None:
            v0 = pi.video.start_s - parent.origin_s
            v1 = v0 + pi.video.duration_s
            a, b = max(v0, start), min(v1, end)
            video = replace(pi.video, start_s=max(0.0, a - start), duration_s=max(0.0, b - a),
                            frames=max(0, int(round((b - a) * pi.video.fps))))
        if pi.audio is not None and audio is not None:
            audio_info = replace(pi.audio, channels=1, layout="mono", start_s=0.0,
                                 duration_s=len(audio) / parent.sample_rate)
        info = replace(pi, duration_s=length, video=video, audio=audio_info)
        super().__init__(info, source=parent._source, sample_rate=parent.sample_rate, fps=parent.fps,
                         audio=None if audio is None else audio[None])
        self.origin_s = 0.0
        self._end = length

    @property
    def duration(self) -> float:
        return self._end

    def frames(
        self,
        *,
        chunk_size: int = 16,
        size: tuple[int, int] | None = None,
        gray: bool | Literal["luma"] = False,
        start: float = 0.0,
        end: float | None = None,
        only: Collection[int] | None = None,
        rgb_on_demand: bool = False,
    ) -> Iterator[FrameChunk]:
        from avsync.media.types import FrameChunk

        stop = self._end if end is None else min(end, self._end)
        only = None if only is None else {int(k) + self.frame_offset for k in only}
        for ch in self.parent.frames(chunk_size=chunk_size, size=size, gray=gray, start=self.offset_s + start,
                                     end=self.offset_s + stop, only=only, rgb_on_demand=rgb_on_demand):
            yield FrameChunk(ch.images, ch.indices - self.frame_offset, ch.times - self.offset_s,
                             ch.source_times - self.offset_s, ch.fps, extra=ch.extra, rgb=ch.rgb)


def _shift_track(t: FaceTrack, frames: int) -> FaceTrack:
    """``t`` (a FaceTrack) moved ``frames`` later, without its crops."""
    return replace(t, frames=t.frames + frames, mouth_crops=None, face_crops=None, context=None)


def _core(t: FaceTrack, f0: int, f1: int) -> FaceTrack | None:
    """The part of FaceTrack ``t`` on frames ``[f0, f1)``, or ``None``."""
    sel = (t.frames >= f0) & (t.frames < f1)
    if not sel.any():
        return None
    pick = lambda x: None if x is None else x[sel]
    return replace(t, frames=t.frames[sel], boxes=t.boxes[sel], points=t.points[sel], scores=t.scores[sel],
                   valid=t.valid[sel], lip_landmarks=pick(t.lip_landmarks), mouth_open=pick(t.mouth_open),
                   surround_still=pick(t.surround_still), face_still=pick(t.face_still))


def _core_counts(fs: FaceSync, core: FaceTrack | None) -> tuple[int, int, int]:
    """The frame counts of ``fs`` (one face's sync over a section with its margins) in the section's core only:
    frames and valid frames of the track there, and speech frames in proportion (the margins belong to the
    neighbouring sections' cores, which count them)."""
    n = 0 if core is None else len(core.frames)
    valid = 0 if core is None else int(core.valid.sum())
    return n, valid, int(round(fs.speech_frames * n / fs.num_frames)) if fs.num_frames else 0


def _weighted_mean(pairs: list[tuple[float | None, int]]) -> float | None:
    """The sections' mean of a per-face number, each ``(value, frames)`` weighted by its frames (at least 1); the
    sections without the number left out, ``None`` when none has it."""
    have = [(v, n) for v, n in pairs if v is not None]
    return float(np.average([v for v, _ in have], weights=[max(n, 1) for _, n in have])) if have else None


def _join(pieces: list[FaceTrack]) -> FaceTrack:
    """FaceTrack pieces of one face, in time order → one track on a contiguous frame range (gaps invalid)."""
    first, last = int(pieces[0].frames[0]), int(pieces[-1].frames[-1])
    n = last - first + 1
    frames = np.arange(first, last + 1)
    boxes = np.zeros((n, 4), np.float32)
    points = np.zeros((n,) + pieces[0].points.shape[1:], np.float32)
    scores = np.zeros(n, np.float32)
    valid = np.zeros(n, bool)
    have = np.zeros(n, bool)
    still = np.full(n, np.nan, np.float32) if all(p.surround_still is not None for p in pieces) else None
    face = np.full(n, np.nan, np.float32) if all(p.face_still is not None for p in pieces) else None
    for p in pieces:
        i = p.frames - first
        boxes[i], points[i], scores[i], valid[i], have[i] = p.boxes, p.points, p.scores, p.valid, True
        if still is not None:
            still[i] = p.surround_still
        if face is not None:
            face[i] = p.face_still
    if not have.all():  # frames between pieces repeat the last known box, marked invalid
        src = np.maximum.accumulate(np.where(have, np.arange(n), 0))
        boxes, points = boxes[src], points[src]
    return replace(pieces[0], track_id=0, frames=frames, boxes=boxes, points=points, scores=scores, valid=valid,
                   lip_landmarks=None, mouth_open=None, mouth_crops=None, face_crops=None, context=None,
                   surround_still=still, face_still=face)


class SectionMerger:
    """Collects each section's faces, sync and artefact results (on the section's own timeline) and merges them.

    ``add(core, ext_start, faces, sync, artefact)`` per section in time order; then :meth:`faces`,
    :meth:`sync` and :meth:`artefacts` give the whole clip's results (track ids renumbered like the
    tracker's: most valid frames first).
    """

    def __init__(self, fps: float, artefact_calibration: tuple[float, float] | None = None):
        self.fps = float(fps)
        self.calibration = artefact_calibration
        self._next_id = 0
        self._prev: list[tuple[int, FaceTrack]] = []  # (global id, shifted full track) of the previous section
        self._pieces: dict[int, list[FaceTrack]] = {}
        # (global id, shifted FaceSync, core a, core b, its frame counts in the core: frames, valid, speech)
        self._syncs: list[tuple[int, FaceSync, float, float, tuple[int, int, int]]] = []
        self._sync_meta: dict[str, Any] | None = None
        self._sync_statuses: list[SyncResult] = []
        self._artefacts: list[tuple[ArtefactResult, float, float, dict[int, int]]] = []
        self._faces_meta: list[tuple[FaceTracks, int]] = []  # (the section's FaceTracks without tracks, its frames)
        self._final: dict[int, int] | None = None
        self._shot_frames: list[int] = []

    @property
    def sections(self) -> int:
        """Sections added so far."""
        return len(self._faces_meta)

    # ------------------------------------------------------------------ collect
    def add(self, core: tuple[float, float], ext_start: float, faces: FaceTracks, sync: SyncResult | None,
            artefact: ArtefactResult | None) -> dict[int, int]:
        """Add one section's results (on its own timeline, starting at ``ext_start`` s); returns its track ids → global ids."""
        a, b = core
        shift_f = int(round(ext_start * self.fps))
        f0, f1 = int(round(a * self.fps)), int(round(b * self.fps))
        tracks = [_shift_track(t, shift_f) for t in faces.tracks]
        ids = self._link(tracks)
        for t, g in zip(tracks, ids):
            piece = _core(t, f0, f1)
            if piece is not None:
                self._pieces.setdefault(g, []).append(piece)
        self._prev = list(zip(ids, tracks))
        self._faces_meta.append((replace(faces, tracks=()), f1 - f0))  # the counts and notes, not the crops
        self._shot_frames += [int(x) + shift_f for x in faces.shot_changes if f0 <= int(x) + shift_f < f1]
        local = {t.track_id: g for t, g in zip(faces.tracks, ids)}
        if sync is not None:
            self._sync_meta = self._sync_meta or dict(model=sync.model, fps=sync.fps, max_lag=sync.max_lag)
            self._sync_statuses.append(sync)
            shifted = {t.track_id: t for t in tracks}
            for fs in sync.faces:
                gid = local.get(fs.track_id)
                if gid is not None:
                    counts = _core_counts(fs, _core(shifted[fs.track_id], f0, f1))  # margins: in their own core
                    self._syncs.append((gid, _shift_face_sync(fs, ext_start), a, b, counts))
        if artefact is not None:
            self._artefacts.append((_shift_artefact(artefact, ext_start), a, b, local))
        return local

    def final_ids(self) -> dict[int, int]:
        """Global id (as returned by :meth:`add`) → track id in the merged results."""
        if self._final is None:
            self._final = self._order()
        return dict(self._final)

    def _link(self, tracks: Sequence[FaceTrack]) -> list[int]:
        """Global ids: a track overlapping a previous section's track on shared frames (mean IoU ≥ 0.5) continues it."""
        from avsync.face.geometry import iou_matrix

        ids, taken = [], set()
        for t in tracks:
            best, best_iou = None, 0.5
            for g, p in self._prev:
                if g in taken:
                    continue
                common, ia, ib = np.intersect1d(t.frames, p.frames, return_indices=True)
                ok = t.valid[ia] & p.valid[ib]
                if ok.sum() < 3:
                    continue
                iou = float(np.diag(iou_matrix(t.boxes[ia][ok], p.boxes[ib][ok])).mean())  # frame by frame
                if iou >= best_iou:
                    best, best_iou = g, iou
            if best is None:
                best = self._next_id
                self._next_id += 1
            taken.add(best)
            ids.append(best)
        return ids

    # ------------------------------------------------------------------ merge
    def _order(self) -> dict[int, int]:
        """Global id → final id (most valid frames first, then earliest), as the tracker numbers tracks."""
        joined = {g: _join(p) for g, p in self._pieces.items()}
        order = sorted(joined, key=lambda g: (-int(joined[g].valid.sum()), int(joined[g].frames[0])))
        self._joined = joined
        return {g: i for i, g in enumerate(order)}

    def faces(self) -> FaceTracks:
        from avsync.face.types import FaceTracks

        final = self.final_ids()
        tracks = tuple(replace(self._joined[g], track_id=final[g]) for g in sorted(final, key=final.__getitem__))
        metas = [m for m, _ in self._faces_meta]
        frames = sum(n for _, n in self._faces_meta)
        face_fraction = sum(m.face_fraction * n for m, n in self._faces_meta) / max(frames, 1)
        first = metas[0]
        usable = [t for t in tracks if t.num_valid >= min(int(round(self.fps)), max(1, frames // 2))]
        status = Status.OK if usable else Status.NO_FACE
        message = None if usable else next((m.message for m in metas if m.message), "no face was seen")
        warnings = tuple(dict.fromkeys(w for m in metas for w in m.warnings))
        shots = tuple(sorted(set(self._shot_frames)))
        return FaceTracks(status=status, tracks=tracks, num_frames=frames, fps=self.fps, frame_size=first.frame_size,
                          face_fraction=face_fraction, detector=first.detector,
                          keyframes=sum(m.keyframes for m in metas), shot_changes=shots, min_face=first.min_face,
                          path=first.path, message=message, warnings=warnings, landmarker=first.landmarker)

    def sync(self) -> SyncResult | None:
        from avsync.sync.analyze import _combine, _summarize
        from avsync.sync.drift import DRIFT_RULES, fit_drift
        from avsync.sync.types import FaceSync, SyncResult
        from avsync.timebase import frames_to_ms

        if self._sync_meta is None:
            return None
        final = self.final_ids()
        meta = self._sync_meta
        by_face: dict[int, list] = {}
        counted: dict[int, list[tuple[int, int, int]]] = {}
        for g, fs, a, b, counts in self._syncs:
            if g in final:
                by_face.setdefault(final[g], []).append((fs, a, b))
                counted.setdefault(final[g], []).append(counts)
        faces = []
        for tid in sorted(by_face):
            parts = by_face[tid]
            scored_parts = [(fs, a, b) for fs, a, b in parts if fs.curve and fs.status in (Status.OK, Status.OUT_OF_RANGE)]
            scored = [fs for fs, _, _ in scored_parts]
            windows = tuple(w for fs, a, b in parts for w in fs.windows if a <= (w.start + w.end) / 2 < b)
            base = dict(track_id=tid, start=min(fs.start for fs, _, _ in parts), end=max(fs.end for fs, _, _ in parts),
                        num_frames=sum(c[0] for c in counted[tid]), valid_frames=sum(c[1] for c in counted[tid]),
                        speech_frames=sum(c[2] for c in counted[tid]), lags=parts[0][0].lags)
            if not scored:
                st = _first_status([fs.status for fs, _, _ in parts])
                msg = next((fs.message for fs, _, _ in parts if fs.status is st), None)
                faces.append(FaceSync(status=st, message=msg, windows=windows, **base))
                continue
            curves = np.array([[np.nan if c is None else c for c in fs.curve] for fs in scored], float)
            w = np.array([max(fs.valid_frames, 1) for fs in scored], float)[:, None] * np.isfinite(curves)
            with np.errstate(invalid="ignore", divide="ignore"):
                curve = np.where(w.sum(0) > 0, np.nansum(curves * w, axis=0) / w.sum(0), np.nan)
            lags = np.array(base["lags"])
            # a drift across sections: the best line through the sections' curves (each at its core's middle)
            mids = np.array([round((a + b) / 2 * meta["fps"]) for _, a, b in scored_parts], np.int64)
            fit, rule = None, DRIFT_RULES.get(meta["model"])
            if rule is not None and len(scored) >= 2 and np.all(np.diff(mids) > 0):
                fit = fit_drift(curves.T, mids, lags, fps=meta["fps"], block=1, min_blocks=2)
            base["drift"] = fit if rule is not None and rule.reports(fit) else None
            summ = _summarize(curve, lags)
            assert summ is not None  # the scored faces' curves have finite values, so their mean has
            best, dmin, conf, at_edge = summ
            if base["drift"] is None and not at_edge:  # each window read at the merged offset, as in one piece:
                windows = tuple(_at_lag(w, best) for w in windows)  # a section off by itself is then visible
            speaking = _weighted_mean([(fs.speaking_score, fs.valid_frames) for fs in scored])
            art = _weighted_mean([(fs.articulation, fs.speech_frames) for fs in scored])
            base.update(curve=tuple(None if not np.isfinite(c) else float(c) for c in curve), speaking_score=speaking,
                        articulation=art, confidence=conf, min_distance=dmin, windows=windows)
            if at_edge:
                faces.append(FaceSync(status=Status.OUT_OF_RANGE, message=scored[0].message or
                                      f"best match at the edge of the ±{meta['max_lag']}-frame search", **base))
            else:
                off = int(lags[best])
                faces.append(FaceSync(status=Status.OK, offset_frames=off, offset_ms=frames_to_ms(off, meta["fps"]),
                                      **base))
        if not faces:
            first = self._sync_statuses[0]
            st = _first_status([s.status for s in self._sync_statuses])
            src = next(s for s in self._sync_statuses if s.status is st) if st else first
            return SyncResult(status=src.status, summary=src.summary, message=src.message, **meta)
        return _combine(tuple(faces), meta)

    def artefacts(self) -> ArtefactResult | None:
        from avsync.artefacts.scorer import ArtefactResult

        if not self._artefacts:
            return None
        final = self.final_ids()
        ok = [(r, a, b, local) for r, a, b, local in self._artefacts if r.status is Status.OK and r.score is not None]
        if not ok:
            return self._artefacts[0][0]
        first = ok[0][0]
        n = np.array([r.n_frames for r, *_ in ok], float)
        if self.calibration is not None:
            sa, sb = self.calibration
            p = np.clip([r.score for r, *_ in ok], 1e-12, 1 - 1e-12)
            mean_logit = float(np.sum(n * (np.log(p / (1 - p)) - sb) / sa) / n.sum())
            score = float(1.0 / (1.0 + math.exp(-(sa * mean_logit + sb))))
        else:
            score = float(np.average([r.score for r, *_ in ok], weights=n))
        windows = tuple(w for r, a, b, _ in ok for w in r.windows if a <= (w.start + w.end) / 2 < b)
        main = max(ok, key=lambda x: x[0].n_frames)
        g = main[3].get(main[0].track_id) if main[0].track_id is not None else None
        tid = final.get(g) if g is not None else None
        face_px = float(np.average([r.face_px for r, *_ in ok], weights=n)) if all(r.face_px for r, *_ in ok) else None
        return ArtefactResult(Status.OK, score, first.threshold, windows, tid, first.model, first.model_sha256,
                              int(n.sum()), face_px)


def _at_lag(w: WindowSync, at: int) -> WindowSync:
    """Window ``w`` with its distance and margin read at lag index ``at`` from its own curve (unchanged without one):
    a section's windows are scored at the section's own best lag, which hides a section whose audio alone is off."""
    from avsync.sync.analyze import read_at_lag

    if w.curve is None or w.status is not Status.OK:
        return w
    distance, margin = read_at_lag(w.curve, at)
    return w if distance is None else replace(w, distance=distance, margin=margin)


def _first_status(statuses: Sequence[Status]) -> Status:
    for st in (Status.NO_SPEECH, Status.TOO_SHORT, Status.NO_FACE):
        if st in statuses:
            return st
    return statuses[0] if statuses else Status.NO_FACE


def _shift_face_sync(fs: FaceSync, dt: float) -> FaceSync:
    return replace(fs, start=fs.start + dt, end=fs.end + dt,
                   windows=tuple(replace(w, start=w.start + dt, end=w.end + dt) for w in fs.windows))


def _shift_artefact(r: ArtefactResult, dt: float) -> ArtefactResult:
    return replace(r, windows=tuple(replace(w, start=round(w.start + dt, 3), end=round(w.end + dt, 3))
                                    for w in r.windows))
