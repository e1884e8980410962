"""Face tracks from keyframe detections, with mouth and face crops made in the same decoding pass.

How it works (one pass over the video, bounded memory):

1. Frames are decoded once, in gray when they are larger than 640×480 (the luma plane: 2.5×
   faster than RGB; RGB for small frames, RGB mouth crops and lip landmarks), at a *work* size (longest side ≤ ``work_size``, 1280 px by default;
   never upscaled); crops are cut from these frames. The detector sees a further downscaled copy
   (longest side ≤ ``detector.max_side``).
2. **Keyframes.** The detector runs every ``interval`` frames: on the whole (downscaled) frame at
   least every ``scan_interval_s``, otherwise only on a small region around each known face. The interval adapts between 1 and
   ``keyframe_interval``: it doubles after two consecutive keyframes agree (same number of faces,
   each box overlapping its match with IoU ≥ ``consistent_iou``) and halves when they disagree.
   Keyframes also disagree when a point moved by more than ``max_point_shift`` × face size.
   When two keyframes disagree, the frame halfway between them (still in memory) is detected too,
   recursively, so a face appearing, leaving or moving fast is located to the frame.
3. **Shot changes.** A cut (mean absolute difference of 32×32 thumbnails above ``shot_threshold``
   and well above its recent level) forces a detection on the frame before and the frame of the
   cut, and no track crosses it.
4. **Association.** Detections join existing tracks greedily by IoU (≥ ``iou_threshold``) or,
   failing that, by centre distance (< half the face size); unmatched detections start new
   tracks. A track not seen for more than ``max_gap_s`` ends; within that gap it keeps its
   identity (frames in the gap have ``valid = False`` and hold the last seen box).
5. **Interpolation and smoothing.** Between two sightings boxes and points are linearly
   interpolated, then smoothed with a Gaussian of ``smooth_sigma`` frames inside each run of valid
   frames (never across a gap or a cut). Crops use these smoothed values, so they are steady on a
   steady head and follow motion with a lag of about ``smooth_sigma`` frames at most. RGB context crops
   (``context``: the mouth-region artefact check's input) of every ``step``-th valid frame are cut from the
   same pass: a gray pass converts just the region each of those crops reads to RGB, from the decoded frames
   it still holds.
6. Tracks with fewer than ``min_track_frames`` valid frames are dropped (single false alarms).

The code: :class:`TrackerConfig` holds the tuning options named above, :class:`Tracker` a config, a detector and a
lip-landmark backend; calling it runs one pass (``_TrackingPass``: the frames, keyframes, smoothing and crops) and
assembles the :class:`~avsync.face.types.FaceTracks`. The bookkeeping of tracks (association, gap filling,
smoothing) is in :mod:`avsync.face.association`. :func:`track` is ``Tracker(TrackerConfig(...), ...)(media, ...)``
in one call.
"""

from __future__ import annotations

import math
import numbers
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any, Literal

import numpy as np

from avsync._optional import OPENCV_INSTALL, require
from avsync.errors import ConfigError, MediaError
from avsync.face.association import Associator, TrackState, greedy_match, keyframes_agree, smoothed_at
from avsync.face.crops import CropColor, face_crop, mouth_crop, mouth_crop_reach
from avsync.face.detectors import DetectorName, FaceDetector, get_detector
from avsync.face.geometry import context_geometry, iou_matrix, mouth_geometry, work_frame_size
from avsync.face.landmarks import LandmarkerName, LipLandmarker, get_landmarker
from avsync.face.types import ContextCrops, ContextCropSpec, Detections, FaceTrack, FaceTracks
from avsync.media import Media
from avsync.media.types import RgbSource
from avsync.results import Status

__all__ = ["CropName", "Tracker", "TrackerConfig", "iou_matrix", "track"]

CropName = Literal["mouth", "face"]

#: surround stillness (``FaceTrack.surround_still``) compares a grid of about this many pixels along the shorter
#: side of the work frame; a face's surroundings must cover at least STILL_MIN_CELLS of its points
STILL_GRID = 96
STILL_MIN_CELLS = 40


def _check_number(name: str, value: Any, *, integer: bool = False, low: float | None = None, high: float | None = None,
                  positive: bool = False, finite: bool = True) -> None:
    """Raise a :class:`ConfigError` naming ``TrackerConfig.<name>`` unless ``value`` is a number in range."""
    kind = "an integer" if integer else "a finite number" if finite else "a number"
    ok = isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = not math.isnan(v) and (not finite or math.isfinite(v))
        ok = ok and (low is None or v >= low) and (high is None or v <= high) and (not positive or v > 0)
    if not ok:
        rule = (f" in [{low:g}, {high:g}]" if low is not None and high is not None else " > 0" if positive
                else f" ≥ {low:g}" if low is not None else "")
        raise ConfigError(f"TrackerConfig.{name} must be {kind}{rule}, got {value!r}")


@dataclass(frozen=True)
class TrackerConfig:
    """Tuning options of the face tracker (:class:`Tracker`); the defaults are those of :func:`track`.

    Frozen, and checked when made: a value of the wrong type or out of range raises
    :class:`~avsync.errors.ConfigError` naming the field. ``dataclasses.replace(config, keyframe_interval=4)``
    gives a changed copy.
    """

    mouth_size: int = 96
    """Mouth crop side in pixels (e.g. 96 or 112)."""
    mouth_color: CropColor = "gray"
    """``"gray"`` or ``"rgb"``."""
    mouth_scale: float = 0.7
    """Mouth crop side as a fraction of the face-box width."""
    mouth_shift: float = 0.07
    """Mouth crop centre moved this fraction of the side down the face from the corners' midpoint."""
    face_crop_scale: float = 0.40
    """Light-ASD box enlargement (0.40)."""
    keyframe_interval: int = 8
    """Largest number of frames between detections (the interval adapts from 1 up to this)."""
    consistent_iou: float = 0.7
    """Two keyframes agree when every face overlaps its match by at least this IoU."""
    max_point_shift: float = 0.05
    """... and when no point moved by more than this fraction of the face size; otherwise the
    frames between them are detected too (bisection), so interpolation errors stay below it."""
    iou_threshold: float = 0.3
    """Minimum IoU to join a detection to a track (centre distance is the fallback)."""
    max_gap_s: float = 1.0
    """A track unseen for longer than this (seconds) ends; shorter gaps keep its identity."""
    min_track_frames: int = 5
    """Tracks with fewer valid frames are dropped."""
    smooth_sigma: float = 2.0
    """Standard deviation (frames) of the Gaussian smoothing of boxes and points; 0 disables."""
    shot_threshold: float = 30.0
    """Mean absolute thumbnail difference (0–255) above which a frame may be a cut."""
    work_size: int = 1280
    """Longest side (pixels) of the frames crops are cut from; larger frames are downscaled at decode."""
    roi_face: int = 96
    """Where the faces are known (keyframes between full scans, bisection frames between two
    keyframes that see the same faces) the detector runs only on a region around each face
    (its box enlarged by ``roi_margin`` × size on each side), resized so the face is about
    ``roi_face`` pixels. A face lost in its region triggers a full-frame detection."""
    roi_margin: float = 0.25
    """The region around a known face that the detector sees: its box enlarged by ``roi_margin`` × size on each
    side (see ``roi_face``)."""
    scan_interval_s: float = 1.0
    """The whole frame is searched for new faces at least this often (seconds)."""
    min_face: float = 32.0
    """Faces with a median size below this (pixels of the displayed frame) are flagged ``tiny``."""
    chunk_size: int = 32
    """Frames decoded per chunk (memory: about ``chunk_size + 2 × keyframe_interval`` work frames)."""

    def __post_init__(self) -> None:
        if self.mouth_color not in ("gray", "rgb"):
            raise ConfigError(f"TrackerConfig.mouth_color must be 'gray' or 'rgb', got {self.mouth_color!r}")
        for name in ("mouth_size", "keyframe_interval", "work_size", "chunk_size"):
            _check_number(name, getattr(self, name), integer=True, low=1)
        _check_number("min_track_frames", self.min_track_frames, integer=True, low=0)
        for name in ("consistent_iou", "iou_threshold"):
            _check_number(name, getattr(self, name), low=0, high=1)
        for name in ("mouth_scale", "roi_face"):
            _check_number(name, getattr(self, name), positive=True)
        for name in ("face_crop_scale", "max_point_shift", "max_gap_s", "smooth_sigma", "roi_margin",
                     "scan_interval_s", "min_face"):
            _check_number(name, getattr(self, name), low=0)
        _check_number("shot_threshold", self.shot_threshold, low=0, finite=False)  # inf: no cut detection
        _check_number("mouth_shift", self.mouth_shift)


def _opencv() -> ModuleType:
    return require("cv2", "face tracker", OPENCV_INSTALL)


def _require_video(media: Media) -> None:
    if media.info.video is None:
        raise MediaError("the input has no video track", status=Status.NO_VIDEO, hint="face tracking needs video")


class Tracker:
    """Detect and follow every face of a video; optionally cut mouth and face crops in the same pass.

    A tracker holds what stays the same from one video to the next: its :class:`TrackerConfig`, its face
    detector and its lip-landmark backend (made here, once: a missing package raises
    :class:`~avsync.errors.ConfigError`, a missing checkpoint :class:`~avsync.errors.BundleError`, before any
    video is read). Calling it tracks one video; what belongs to that call (which crops, the time range, a progress
    callback) are the call's arguments. :func:`track` does both in one call, with the same options and results.
    How tracking works: :mod:`avsync.face.tracking`.

    Parameters
    ----------
    config
        Tuning options (``None``: ``TrackerConfig()``, the defaults of :func:`track`).
    detector
        ``"auto"`` (default: ``"yunet"`` when the ``yuface`` wheel is installed, else ``"haar"``),
        ``"yunet"``, ``"haar"`` (OpenCV), ``"blazeface"`` (PyTorch, checkpoint), or a
        :class:`~avsync.face.detectors.FaceDetector` instance. ``FaceTracks.detector`` names the one used.
    landmarks
        Lip-landmark backend (``None``: none): ``"facemesh"``, ``"mediapipe"``, ``"face-alignment"`` or a backend
        object, as for :func:`track`; adds ``FaceTrack.lip_landmarks`` and ``FaceTrack.mouth_open``.

    Example::

        tracker = Tracker(TrackerConfig(keyframe_interval=4, mouth_size=112), detector="yunet")
        faces = [tracker(avsync.load_media(p), crops=("mouth",)) for p in paths]
    """

    def __init__(
        self,
        config: TrackerConfig | None = None,
        *,
        detector: DetectorName | FaceDetector = "auto",
        landmarks: LandmarkerName | LipLandmarker | None = None,
    ):
        if config is None:
            config = TrackerConfig()
        elif not isinstance(config, TrackerConfig):
            raise ConfigError(f"config must be a TrackerConfig, got {type(config).__name__}")
        self.config = config
        self.detector: FaceDetector = get_detector(detector)
        self.landmarker: LipLandmarker | None = None if landmarks is None else get_landmarker(landmarks)
        self._auto_detector = isinstance(detector, str) and detector == "auto"

    def __repr__(self) -> str:
        landmarker = None if self.landmarker is None else getattr(self.landmarker, "name", "?")
        return f"Tracker({self.config!r}, detector={self.detector.name!r}, landmarks={landmarker!r})"

    def __call__(
        self,
        media: Media,
        *,
        crops: Sequence[CropName] = (),
        start: float = 0.0,
        end: float | None = None,
        progress: Callable[[int, int], None] | None = None,
        context: ContextCropSpec | None = None,
    ) -> FaceTracks:
        """Track the faces of ``media``.

        Parameters
        ----------
        media
            A :class:`~avsync.media.Media` with video (from :func:`avsync.load_media` or ``from_arrays``).
        crops
            Which crops to produce per track frame: ``"mouth"`` → ``FaceTrack.mouth_crops``
            ``uint8 [N, mouth_size, mouth_size]`` (``[..., 3]`` if ``mouth_color="rgb"``);
            ``"face"`` → ``FaceTrack.face_crops`` ``uint8 [N, 112, 112]`` gray Light-ASD crops.
        start, end
            Time range in seconds.
        progress
            Called with ``(frames_done, frames_total)`` after each chunk.
        context
            Also cut RGB context crops as this :class:`~avsync.face.types.ContextCropSpec` says →
            ``FaceTrack.context`` (the crops :func:`avsync.artefacts.artefact_crops` cuts in a second pass).

        Returns
        -------
        FaceTracks
            Status ``ok`` with tracks, or ``no_face`` (``face_fraction`` tells how many frames had one).

        Raises
        ------
        MediaError
            The input has no video (status ``no_video``) or cannot be decoded.
        ConfigError
            An unknown crop name, or OpenCV is missing.
        """
        cv2 = _opencv()
        _require_video(media)
        crops = tuple(crops)
        for c in crops:
            if c not in ("mouth", "face"):
                raise ConfigError(f"unknown crop {c!r}; choose from 'mouth', 'face'")
        if context is not None and not isinstance(context, ContextCropSpec):
            raise ConfigError(f"context must be a ContextCropSpec, got {type(context).__name__}")
        run = _TrackingPass(self, media, crops, cv2, context)
        run.scan(start=start, end=end, progress=progress)
        return self._result(run, run.face_tracks())

    def _result(self, run: _TrackingPass, tracks: list[FaceTrack]) -> FaceTracks:
        """The :class:`FaceTracks` of a finished pass: coverage, status, warnings."""
        assert run.first_frame is not None and run.last_frame is not None  # a finished pass saw frames
        first_frame, num_frames, fps = run.first_frame, run.last_frame - run.first_frame + 1, run.fps
        min_face = self.config.min_face
        cov = np.zeros(num_frames, bool)
        for t in tracks:
            cov[t.frames[t.valid] - first_frame] = True
        face_fraction = float(cov.mean()) if num_frames else 0.0
        need = min(int(round(fps)), max(1, num_frames // 2))
        usable = [t for t in tracks if t.num_valid >= need]
        warnings: list[str] = []
        if self._auto_detector and self.detector.name != "yunet":
            warnings.append("the yuface wheel (YuNet) is not installed: faces found with the Haar fallback; pip install yuface")
        if usable and all(t.median_size < min_face for t in usable):
            warnings.append(f"every face is smaller than {min_face:g} px; lip analysis will be unreliable")
        if usable:
            status, message = Status.OK, None
        else:
            status = Status.NO_FACE
            message = (
                f"no face was seen for {need / fps:.2f} s or more (a face in {100 * face_fraction:.1f} % of frames)"
            )
        landmarker = self.landmarker
        return FaceTracks(
            status=status,
            tracks=tuple(tracks),
            num_frames=num_frames,
            fps=fps,
            frame_size=(run.width, run.height),
            face_fraction=face_fraction,
            detector=self.detector.name,
            keyframes=run.n_keyframes,
            shot_changes=tuple(run.shot_changes),
            min_face=min_face,
            path=run.media.path,
            message=message,
            warnings=tuple(warnings),
            landmarker=None if landmarker is None else str(getattr(landmarker, "name", type(landmarker).__name__)),
        )


def _read_region(centre: np.ndarray, reach: float, width: int, height: int,
                 *, even: bool = False) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)``: the pixels within ``reach`` of ``centre`` (what a crop there reads, from
    :func:`~avsync.face.crops.mouth_crop_reach`), clipped to a ``width × height`` picture; on even coordinates with
    ``even`` (whole chroma samples of 4:2:0 video); ``None`` when fewer than 2 × 2 of them lie in the picture."""
    m = ~1 if even else -1  # x & -1 == x
    cx, cy = float(centre[0]), float(centre[1])
    x0, y0 = (max(0, int(math.floor(v - reach)) & m) for v in (cx, cy))
    x1 = min(width, int(math.ceil(cx + reach)) + 1 & m)
    y1 = min(height, int(math.ceil(cy + reach)) + 1 & m)
    return (x0, y0, x1, y1) if x1 - x0 >= 2 and y1 - y0 >= 2 else None


class _TrackingPass:
    """One :class:`Tracker` call: the single decoding pass over one video and everything it keeps meanwhile
    (buffered work frames, detections, the adaptive keyframe interval, the tracks being built)."""

    def __init__(self, tracker: Tracker, media: Media, crops: tuple[str, ...], cv2: ModuleType,
                 context: ContextCropSpec | None = None):
        c = self.config = tracker.config
        self.detector = tracker.detector
        self.gray_detector = bool(getattr(self.detector, "accepts_gray", False))  # gray frames go in as they are
        self.landmarker = tracker.landmarker
        self.media, self.crops, self.cv2 = media, crops, cv2
        vi = media.info.video
        assert vi is not None  # checked by the caller
        # sizes: displayed (coordinates of the results, after rotation), work (decoded; crops), detector input
        self.width, self.height = width, height = vi.width, vi.height
        self.ww, self.wh = ww, wh = work_frame_size(width, height, c.work_size)
        self.to_disp = np.array([width / ww, height / wh], np.float32)  # work → displayed pixels
        ds = min(1.0, self.detector.max_side / max(ww, wh))
        self.dw, self.dh = dw, dh = max(2, int(round(ww * ds))), max(2, int(round(wh * ds)))
        self.det_scale = (width / dw, height / dh)  # detector input → displayed pixels

        self.fps = float(media.fps)
        self.radius = int(math.ceil(3 * c.smooth_sigma))  # smoothing reach: frames finalized this far behind
        self.scan_every = max(1, int(round(c.scan_interval_s * media.fps)))
        self.associator = Associator(iou_threshold=c.iou_threshold, max_gap=max(1, int(round(c.max_gap_s * media.fps))))
        self.buffer: dict[int, np.ndarray] = {}  # work frames still needed (keyframes, smoothing, crops)
        # gray frames kept as their luma plane: the range table that makes each the gray picture (`work`)
        self.tables: dict[int, np.ndarray] = {}
        self.context = context
        self.rgb_of: dict[int, RgbSource] = {}  # gray pass with context crops: deferred RGB frames
        self.context_state: dict[int, list] = {}  # track id → [valid frames seen, crops, their frames]
        self.detected: dict[int, Detections] = {}
        self.n_keyframes = 0
        self.estimated = False  # some detection had estimated (not detected) points
        self.last_scan = -(10**9)  # last frame the whole picture was searched for faces
        self.shot_changes: list[int] = []
        self.shot = 0
        self.interval = 2
        self.last_key: int | None = None
        self.prev_thumb: np.ndarray | None = None
        # surround stillness: per buffered frame, which pixels of a subsampled grid are bit-identical to the previous
        # frame's (see surround_still)
        self.still_step = max(1, min(ww, wh) // STILL_GRID)
        self.to_still = np.array([width / ww, height / wh] * 2, np.float32) * self.still_step  # displayed → grid
        self.prev_sub: tuple[int, np.ndarray] | None = None
        self.same: dict[int, np.ndarray] = {}
        self.recent_d: deque = deque(maxlen=25)
        self.first_frame: int | None = None
        self.last_frame: int | None = None

    # -- the pass over the frames -----------------------------------------------------------------------------

    def scan(self, *, start: float, end: float | None, progress: Callable[[int, int], None] | None) -> None:
        """Decode the frames of ``[start, end)`` once, chunk by chunk: find cuts, detect on keyframes, join the
        detections to tracks, and finalize (smooth, crop) every frame the later keyframes can no longer change."""
        c, media = self.config, self.media
        ww, wh = self.ww, self.wh
        # gray decoding is ~2.5x faster than RGB (the Y plane, no colour conversion); RGB only for RGB crops
        # (YuNet finds faces less reliably in gray on small frames, where RGB decoding is cheap anyway)
        gray = (ww * wh > 640 * 480 and not ("mouth" in self.crops and c.mouth_color == "rgb")
                and self.landmarker is None)
        size = None if (ww, wh) == (self.width, self.height) else (ww, wh)
        done, total = 0, media.num_frames
        self.gray = gray
        deferred = gray and self.context is not None
        # gray: the luma planes as decoded, range-mapped only where they are read (`work`): a region check, a mouth
        # crop or a thumbnail for cuts reads a small part of the frame, a full scan (about once a second) all of it
        for chunk in media.frames(chunk_size=c.chunk_size, size=size, gray="luma" if gray else False, start=start,
                                  end=end, rgb_on_demand=deferred):
            if deferred:
                assert chunk.rgb is not None  # asked for
                self.rgb_of.update(zip((int(f) for f in chunk.indices), chunk.rgb))
            tables = chunk.extra.get("gray_tables") if gray else None
            for i, (img, f) in enumerate(zip(chunk.images, chunk.indices)):
                self.add_frame(int(f), np.ascontiguousarray(img), None if tables is None else tables[i])
            if self.last_key is not None:
                self.finalize(self.last_key - self.radius)
            done += len(chunk)
            del chunk  # its frames that finalize released go now, not after the next chunk is decoded
            if progress is not None:
                progress(done, total)
        if self.last_frame is None:
            raise MediaError("no video frame could be decoded in the requested range", status=Status.EMPTY)
        if self.last_key != self.last_frame:
            self.process_keyframe(self.last_frame, False)
        for tr in self.associator.active():
            tr.trim()
        self.finalize(self.last_frame + 1)
        self.buffer.clear()
        self.same.clear()
        self.tables.clear()
        self.rgb_of.clear()

    def add_frame(self, f: int, img: np.ndarray, table: np.ndarray | None = None) -> None:
        """Buffer work frame ``f`` (``table``: the range table that maps it to the gray picture, see :meth:`work`);
        a cut or a due keyframe is processed at once."""
        if self.first_frame is None:
            self.first_frame = f
        self.buffer[f] = img
        if table is not None:
            self.tables[f] = table
        self.last_frame = f
        self.note_unchanged(f, img)
        cut = self.is_cut(img, table)
        if cut:
            self.shot_changes.append(f)
        if self.last_key is None or cut or f - self.last_key >= self.interval:
            self.process_keyframe(f, cut)

    def note_unchanged(self, f: int, img: np.ndarray) -> None:
        """Record which pixels of a subsampled grid of frame ``f`` are bit-identical to frame ``f - 1`` (as decoded:
        luma planes compare before their range mapping, which is the same table for both)."""
        s = self.still_step
        sub = img[::s, ::s].copy()
        prev = self.prev_sub
        if prev is not None and prev[0] == f - 1 and prev[1].shape == sub.shape:
            eq = sub == prev[1]
            self.same[f] = eq.all(axis=2) if eq.ndim == 3 else eq
        self.prev_sub = (f, sub)

    def stillness(self, t: int, box: np.ndarray) -> tuple[float, float]:
        """``(surround, face)``: the shares of the pixels around a face (smoothed ``box`` in displayed pixels at frame
        ``t``) and of its inner face box unchanged since the previous frame. The surroundings are a band of about two
        face widths either side and down to the shoulders, without the head itself; the inner face box is the
        central 70 % of the box's width, from 0.40 of its height above its centre to 0.45 below. Both NaN when it
        cannot be told: the first frame, a surrounding smaller than half the face (the face fills the picture), or a
        frame whose head did not change either (a repeated frame: the source had fewer frames than the analysis
        rate)."""
        nan = (math.nan, math.nan)
        same = self.same.get(t)
        if same is None:
            return nan
        x0, y0, x1, y1 = (np.asarray(box, np.float32) / self.to_still).tolist()
        w, h = x1 - x0, y1 - y0
        if w <= 0 or h <= 0:
            return nan
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        rows, cols = same.shape

        def rect(a: float, b: float, c: float, d: float) -> tuple[int, int]:
            xa, xb = min(cols, max(0, int(math.floor(a)))), min(cols, max(0, int(math.ceil(c))))
            ya, yb = min(rows, max(0, int(math.floor(b)))), min(rows, max(0, int(math.ceil(d))))
            if xb <= xa or yb <= ya:
                return 0, 0
            return (xb - xa) * (yb - ya), int(np.count_nonzero(same[ya:yb, xa:xb]))

        head_area, head_same = rect(cx - 0.9 * w, cy - 1.0 * h, cx + 0.9 * w, cy + 0.9 * h)
        ring_area, ring_same = rect(cx - 2.0 * w, cy - 1.5 * h, cx + 2.0 * w, cy + 3.0 * h)
        area = ring_area - head_area
        if area < max(STILL_MIN_CELLS, 0.5 * w * h) or (head_area and head_same >= head_area):
            return nan
        face_area, face_same = rect(cx - 0.35 * w, cy - 0.40 * h, cx + 0.35 * w, cy + 0.45 * h)
        return (ring_same - head_same) / area, (face_same / face_area if face_area else math.nan)

    def is_cut(self, img: np.ndarray, table: np.ndarray | None = None) -> bool:
        """Whether ``img`` starts a new shot: its 32×32 thumbnail differs from the previous frame's by more than
        ``shot_threshold`` and well above the recent level."""
        cv2 = self.cv2
        step = max(1, min(img.shape[0], img.shape[1]) // 64)  # subsample first: INTER_AREA on a 720p frame is slow
        sub = img[::step, ::step] if table is None else table[img[::step, ::step]]  # only the pixels read, mapped
        thumb = cv2.resize(sub if sub.ndim == 2 else cv2.cvtColor(sub, cv2.COLOR_RGB2GRAY), (32, 32),
                           interpolation=cv2.INTER_AREA)
        thumb = thumb.astype(np.float32)
        cut = False
        if self.prev_thumb is not None:
            d = float(np.abs(thumb - self.prev_thumb).mean())
            base = float(np.median(self.recent_d)) if self.recent_d else 0.0
            cut = d > self.config.shot_threshold and d > 3 * base + 5
            self.recent_d.append(d)
        self.prev_thumb = thumb
        return cut

    # -- keyframes ----------------------------------------------------------------------------------------------

    def process_keyframe(self, k: int, cut: bool) -> None:
        """Detect at keyframe ``k`` (bisecting back to the previous keyframe while they disagree), join the
        detections of every frame detected to the tracks, and adapt the keyframe interval."""
        if cut:
            last_key = self.last_key
            if last_key is not None and k - 1 > last_key and (k - 1) in self.buffer:
                for f in self.refine(last_key, k - 1):
                    self.associator.update(f, self.detected[f], self.shot)
            self.associator.close_shot()
            self.shot += 1
            self.detect(k)
            frames_todo = [k]
        elif self.last_key is None:
            self.detect(k)
            frames_todo = [k]
        else:
            prev = self.detected[self.last_key]
            if len(prev) and k - self.last_scan < self.scan_every and k not in self.detected:
                self.detect_near(k, prev, prev)  # known faces only; the whole frame is searched every scan_interval_s
            frames_todo = self.refine(self.last_key, k)
            self.interval = (min(self.config.keyframe_interval, self.interval * 2) if len(frames_todo) == 1
                             else max(1, self.interval // 2))
        for f in frames_todo:
            self.associator.update(f, self.detected[f], self.shot)
        self.last_key = k

    def refine(self, p: int, k: int) -> list[int]:
        """Keyframes to process in (p, k]: bisect while neighbours disagree."""
        c = self.config
        a, b = self.detect(p), self.detect(k)
        if k - p <= 1 or keyframes_agree(a, b, c.consistent_iou, c.max_point_shift, 2.0 * self.det_scale[0]):
            return [k]
        m = (p + k) // 2
        if m not in self.detected:
            self.detect_near(m, a, b)
        return self.refine(p, m) + self.refine(m, k)

    def work(self, f: int, region: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """Work frame ``f`` as the tracker reads it (gray range-mapped), or only its ``region`` ``(x0, y0, x1, y1)``:
        the pixels of the mapped frame, mapping only those (a table maps each pixel on its own)."""
        img = self.buffer[f]
        if region is not None:
            img = img[region[1] : region[3], region[0] : region[2]]
        table = self.tables.get(f)
        return img if table is None else self.cv2.LUT(img, table)

    def detect(self, f: int) -> Detections:
        """Detections of frame ``f`` (the whole frame, at the detector's size), run once."""
        if f not in self.detected:
            cv2 = self.cv2
            img = self.work(f)
            dw, dh = self.dw, self.dh
            small = img if (dw, dh) == (self.ww, self.wh) else cv2.resize(img, (dw, dh), interpolation=cv2.INTER_AREA)
            if small.ndim == 2 and not self.gray_detector:
                small = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
            self.detected[f] = self.detector.detect(small).scaled(*self.det_scale)
            self.last_scan = max(self.last_scan, f)
            self.estimated = self.estimated or self.detected[f].points_estimated
            self.n_keyframes += 1
        return self.detected[f]

    def detect_near(self, f: int, a: Detections, b: Detections) -> None:
        """Detect at ``f`` only around the faces seen at the two neighbouring keyframes.

        Each region (union of the two boxes, enlarged by half the face size) is resized so the face
        is about ``roi_face`` pixels: much cheaper than a full frame. Falls back to the full frame
        when a face is not found again.
        """
        cv2, c, to_disp = self.cv2, self.config, self.to_disp
        pairs = greedy_match(a.boxes, b.boxes, 0.0)
        if len(pairs) != len(a) or len(a) != len(b) or not len(a):
            self.detect(f)
            return
        out_b, out_p, out_s = [], [], []
        for i, j, _ in pairs:
            u = np.concatenate([np.minimum(a.boxes[i, :2], b.boxes[j, :2]), np.maximum(a.boxes[i, 2:], b.boxes[j, 2:])])
            size = float(max(u[2] - u[0], u[3] - u[1]))
            u = u + np.array([-1, -1, 1, 1], np.float32) * (c.roi_margin * size)
            x1, y1 = int(max(0, u[0] / to_disp[0])), int(max(0, u[1] / to_disp[1]))
            x2, y2 = int(min(self.ww, u[2] / to_disp[0])), int(min(self.wh, u[3] / to_disp[1]))
            if x2 - x1 < 8 or y2 - y1 < 8:
                self.detect(f)
                return
            roi = self.work(f, (x1, y1, x2, y2))
            z = min(1.0, c.roi_face / max(size / to_disp[0], 1.0))
            rw, rh = max(8, int(round((x2 - x1) * z))), max(8, int(round((y2 - y1) * z)))
            small = cv2.resize(roi, (rw, rh), interpolation=cv2.INTER_AREA) if z < 1.0 else np.ascontiguousarray(roi)
            if small.ndim == 2 and not self.gray_detector:
                small = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
            d = self.detector.detect(small)
            self.n_keyframes += 1
            if not len(d):
                self.detect(f)
                return
            d = d.scaled((x2 - x1) / rw * to_disp[0], (y2 - y1) / rh * to_disp[1])
            off = np.array([x1 * to_disp[0], y1 * to_disp[1]], np.float32)
            k = int(np.argmax(d.scores))
            out_b.append(d.boxes[k] + np.concatenate([off, off]))
            out_p.append(d.points[k] + off)
            out_s.append(d.scores[k])
        self.detected[f] = Detections(np.stack(out_b), np.stack(out_p), np.asarray(out_s, np.float32),
                                      a.points_estimated)

    # -- finalized frames: smoothing, crops, lip landmarks -------------------------------------------------------

    def finalize(self, upto: int) -> None:
        """Smooth and crop every track frame < ``upto``; free buffered frames no longer needed."""
        c, to_disp = self.config, self.to_disp
        lips_todo = []  # (track, position, work image, work box, work points) for the landmarker
        for tr in self.associator.tracks:
            stop = min(upto, tr.known_end)
            for t in range(tr.finalized_end, stop):
                box, pts = smoothed_at(tr, t, c.smooth_sigma, self.radius)
                tr.sm_box.append(box)
                tr.sm_pts.append(pts)
                ring, face = self.stillness(t, box)
                tr.still.append(ring)
                tr.face_still.append(face)
                if self.landmarker is None and not self.crops and self.context is None:
                    continue
                s4 = np.array([1 / to_disp[0], 1 / to_disp[1]] * 2, np.float32)
                wbox, wpts = box * s4, pts / to_disp  # in work-frame pixels
                if self.landmarker is not None:
                    tr.lips.append(np.full((40, 2), np.nan, np.float32))
                    tr.mopen.append(np.nan)
                    if tr.valid[t - tr.first]:
                        lips_todo.append((tr, t - tr.first, self.work(t), wbox, wpts))
                if self.crops:
                    self.cut_crops(tr, t, wbox, wpts)
                if self.context is not None and tr.valid[t - tr.first]:
                    self.cut_context(tr, t, box, pts)
        self.add_lip_landmarks(lips_todo)
        self.release_frames(upto)

    def cut_crops(self, tr: TrackState, t: int, wbox: np.ndarray, wpts: np.ndarray) -> None:
        """Append the mouth and/or face crop of one track frame (work frame ``t``, smoothed box and points)."""
        c = self.config
        if "mouth" in self.crops:
            centre, side, ang = mouth_geometry(wbox[None], wpts[None], scale=c.mouth_scale, shift=c.mouth_shift)
            img, at = self.around(t, centre[0], float(side[0]), float(ang[0]), c.mouth_size)
            tr.mouth.append(mouth_crop(img, at, float(side[0]), float(ang[0]), size=c.mouth_size,
                                       color=c.mouth_color))
        if "face" in self.crops:
            tr.face.append(face_crop(self.work(t), wbox, crop_scale=c.face_crop_scale))

    def around(self, t: int, centre: np.ndarray, side: float, angle: float, size: int) -> tuple[np.ndarray, np.ndarray]:
        """What :func:`mouth_crop` needs of work frame ``t`` for a crop at ``centre``: the whole frame, or, for a
        frame mapped on reading, only the pixels the crop reads (``mouth_crop_reach``) with the centre moved to
        them: the same crop for a fraction of the mapping."""
        if t not in self.tables:
            return self.buffer[t], centre
        region = _read_region(centre, mouth_crop_reach(side, angle, size=size), self.ww, self.wh)
        if region is None:  # the crop lies outside the picture: the whole frame, as before
            return self.work(t), centre
        return self.work(t, region), centre - np.array(region[:2], np.float32)

    def cut_context(self, tr: TrackState, t: int, box: np.ndarray, pts: np.ndarray) -> None:
        """Count valid frame ``t`` of ``tr`` and, at every ``step``-th, cut its RGB context crop (smoothed box and
        points in displayed pixels; the arithmetic of :func:`avsync.artefacts.artefact_crops`). A gray pass
        converts only the region the crop reads (with the blur's and the interpolation's reach) to RGB."""
        spec = self.context
        assert spec is not None  # called only with a spec
        state = self.context_state.setdefault(tr.id, [0, [], []])
        rank = state[0]
        state[0] += 1
        if rank % spec.step:
            return
        centre, side, angle = context_geometry(box[None], pts[None], scale=spec.scale, centre_at=spec.centre_at)
        sx, sy = self.ww / self.width, self.wh / self.height
        c = centre[0] * np.array([sx, sy], np.float32)
        side_w, ang = float(side[0] * sx), float(angle[0])
        if self.gray:
            region = _read_region(c, mouth_crop_reach(side_w, ang, size=spec.size), self.ww, self.wh, even=True)
            if region is not None:
                img = self.rgb_of[t](region)
                c = c - np.array(region[:2], np.float32)
            else:  # the crop lies outside the picture: cut it from the whole frame as the second pass would
                img = self.rgb_of[t]()
        else:
            img = self.buffer[t]
        state[1].append(mouth_crop(img, c, side_w, ang, size=spec.size, color="rgb"))
        state[2].append(t)

    def add_lip_landmarks(self, todo: list) -> None:
        """Run the landmarker on ``todo`` (valid finalized frames), 64 faces per batch; store displayed pixels."""
        for a in range(0, len(todo), 64):
            assert self.landmarker is not None  # `todo` is only filled when there is a landmarker
            part = todo[a : a + 64]
            lips, mo = self.landmarker.lip_landmarks([p[2] for p in part], np.stack([p[3] for p in part]),
                                                     np.stack([p[4] for p in part]))
            lips = lips * self.to_disp
            for (tr, i, *_), lp, m in zip(part, lips, mo):
                tr.lips[i] = lp
                tr.mopen[i] = float(m)

    def release_frames(self, upto: int) -> None:
        """Drop buffered frames (and their detections) that no keyframe, smoothing or crop needs any more."""
        tracks = self.associator.tracks
        keep_from = min([upto] + [tr.finalized_end for tr in tracks if tr.finalized_end < tr.known_end])
        if self.last_key is not None:
            keep_from = min(keep_from, self.last_key)
        for f in [f for f in self.same if f < keep_from]:
            del self.same[f]
        for f in [f for f in self.buffer if f < keep_from]:
            del self.buffer[f]
            self.tables.pop(f, None)
            self.detected.pop(f, None)
            self.rgb_of.pop(f, None)

    # -- track assembly -----------------------------------------------------------------------------------------

    def context_crops(self, tr: TrackState, n: int) -> ContextCrops | None:
        """The context crops of ``tr``'s first ``n`` frames (``None`` without a spec)."""
        spec = self.context
        if spec is None:
            return None
        _, imgs, frames = self.context_state.get(tr.id, (0, [], []))
        m = int(np.searchsorted(np.asarray(frames, np.int64), tr.first + n))
        images = np.stack(imgs[:m]) if m else np.zeros((0, spec.size, spec.size, 3), np.uint8)
        return ContextCrops(spec, images, np.asarray(frames[:m], np.int64))

    def face_tracks(self) -> list[FaceTrack]:
        """The finished tracks with at least ``min_track_frames`` valid frames, as :class:`FaceTrack`s: most
        valid frames first, numbered in that order."""
        landmarks = self.landmarker is not None
        out: list[FaceTrack] = []
        for tr in self.associator.tracks:
            n = tr.finalized_end - tr.first
            valid = np.asarray(tr.valid[:n], bool)
            if valid.sum() < self.config.min_track_frames:
                continue
            out.append(
                FaceTrack(
                    track_id=0,
                    frames=np.arange(tr.first, tr.first + n, dtype=np.int64),
                    boxes=np.stack(tr.sm_box[:n]).astype(np.float32),
                    points=np.stack(tr.sm_pts[:n]).astype(np.float32),
                    scores=np.asarray(tr.score[:n], np.float32),
                    valid=valid,
                    fps=self.fps,
                    points_estimated=self.estimated,
                    mouth_crops=np.stack(tr.mouth[:n]) if "mouth" in self.crops else None,
                    face_crops=np.stack(tr.face[:n]) if "face" in self.crops else None,
                    lip_landmarks=np.stack(tr.lips[:n]).astype(np.float32) if landmarks else None,
                    mouth_open=np.asarray(tr.mopen[:n], np.float32) if landmarks else None,
                    context=self.context_crops(tr, n),
                    surround_still=np.asarray(tr.still[:n], np.float32),
                    face_still=np.asarray(tr.face_still[:n], np.float32),
                )
            )
        out.sort(key=lambda t: (-t.num_valid, t.start_frame))
        self.context_state.clear()
        return [replace(t, track_id=i) for i, t in enumerate(out)]


def track(
    media: Media,
    *,
    detector: DetectorName | FaceDetector = "auto",
    crops: Sequence[CropName] = (),
    mouth_size: int = 96,
    mouth_color: CropColor = "gray",
    mouth_scale: float = 0.7,
    mouth_shift: float = 0.07,
    face_crop_scale: float = 0.40,
    keyframe_interval: int = 8,
    consistent_iou: float = 0.7,
    max_point_shift: float = 0.05,
    iou_threshold: float = 0.3,
    max_gap_s: float = 1.0,
    min_track_frames: int = 5,
    smooth_sigma: float = 2.0,
    shot_threshold: float = 30.0,
    work_size: int = 1280,
    roi_face: int = 96,
    roi_margin: float = 0.25,
    scan_interval_s: float = 1.0,
    min_face: float = 32.0,
    start: float = 0.0,
    end: float | None = None,
    chunk_size: int = 32,
    landmarks: LandmarkerName | LipLandmarker | None = None,
    progress: Callable[[int, int], None] | None = None,
    context: ContextCropSpec | None = None,
) -> FaceTracks:
    """Detect and follow every face of a video; optionally cut mouth and face crops in the same pass.

    Parameters
    ----------
    media
        A :class:`~avsync.media.Media` with video (from :func:`avsync.load_media` or ``from_arrays``).
    detector
        ``"auto"`` (default: ``"yunet"`` when the ``yuface`` wheel is installed, else ``"haar"``),
        ``"yunet"``, ``"haar"`` (OpenCV), ``"blazeface"`` (PyTorch, checkpoint), or a
        :class:`~avsync.face.detectors.FaceDetector` instance. ``FaceTracks.detector`` names the one used.
    crops
        Which crops to produce per track frame: ``"mouth"`` → ``FaceTrack.mouth_crops``
        ``uint8 [N, mouth_size, mouth_size]`` (``[..., 3]`` if ``mouth_color="rgb"``);
        ``"face"`` → ``FaceTrack.face_crops`` ``uint8 [N, 112, 112]`` gray Light-ASD crops.
    mouth_size ... chunk_size
        The tuning options (``mouth_size``, ``mouth_color``, ``mouth_scale``, ``mouth_shift``, ``face_crop_scale``,
        ``keyframe_interval``, ``consistent_iou``, ``max_point_shift``, ``iou_threshold``, ``max_gap_s``,
        ``min_track_frames``, ``smooth_sigma``, ``shot_threshold``, ``work_size``, ``roi_face``, ``roi_margin``,
        ``scan_interval_s``, ``min_face``, ``chunk_size``): the fields of :class:`TrackerConfig`, with the same
        defaults; each is described there. ``track(media, **options)`` is ``Tracker(TrackerConfig(**options),
        detector=..., landmarks=...)(media, crops=..., start=..., end=..., progress=...)``.
    start, end
        Time range in seconds.
    landmarks
        Lip-landmark backend: ``"facemesh"`` (own PyTorch face mesh, checkpoint from
        ``$AVSYNC_MODELS_DIR``), ``"mediapipe"`` (the ``mediapipe`` package), ``"face-alignment"``
        (2D-FAN, pre-placed checkpoint), or a backend object (e.g.
        ``FaceMeshLandmarker(weights=..., device="cuda")``; see :mod:`avsync.face.landmarks`).
        Adds ``FaceTrack.lip_landmarks`` ``[N, 40, 2]`` (displayed-frame pixels, the common
        40-point layout; NaN where invalid or not found) and ``FaceTrack.mouth_open`` ``[N]``
        (inner-lip gap / mouth width), computed in batches from the smoothed boxes.
        ``FaceTracks.landmarker`` names the backend. A missing package raises
        :class:`~avsync.errors.ConfigError`, a missing checkpoint :class:`~avsync.errors.BundleError`
        (both with an install/placement hint), before any decoding.
    progress
        Called with ``(frames_done, frames_total)`` after each chunk.
    context
        Also cut the RGB context crops this :class:`~avsync.face.types.ContextCropSpec` describes
        (``FaceTrack.context``; the input of the mouth-region artefact check) in the same pass.

    Returns
    -------
    FaceTracks
        Status ``ok`` with tracks, or ``no_face`` (``face_fraction`` tells how many frames had one).

    Raises
    ------
    MediaError
        The input has no video (status ``no_video``) or cannot be decoded.
    """
    config = TrackerConfig(
        mouth_size=mouth_size,
        mouth_color=mouth_color,
        mouth_scale=mouth_scale,
        mouth_shift=mouth_shift,
        face_crop_scale=face_crop_scale,
        keyframe_interval=keyframe_interval,
        consistent_iou=consistent_iou,
        max_point_shift=max_point_shift,
        iou_threshold=iou_threshold,
        max_gap_s=max_gap_s,
        min_track_frames=min_track_frames,
        smooth_sigma=smooth_sigma,
        shot_threshold=shot_threshold,
        work_size=work_size,
        roi_face=roi_face,
        roi_margin=roi_margin,
        scan_interval_s=scan_interval_s,
        min_face=min_face,
        chunk_size=chunk_size,
    )
    # checked in the order track() has always checked them: OpenCV, the video, then the detector and landmarker
    _opencv()
    _require_video(media)
    tracker = Tracker(config, detector=detector, landmarks=landmarks)
    return tracker(media, crops=crops, start=start, end=end, progress=progress, context=context)
