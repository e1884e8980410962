"""Whole-clip artefact scoring: face track → aligned crops → per-frame logits → windows and a clip score.

Frames are sampled at ``sample_fps`` (5 per second by default) from the dominant face track; each
crop gets a logit from :class:`~avsync.artefacts.model.ArtefactNet`; a window's (and the clip's)
probability is the calibrated mean logit of its frames: ``sigmoid(a · mean + b)`` with ``a, b`` fitted
on held-out clips at training time (stored in the checkpoint).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avsync.artefacts.crops import ArtefactCrops, artefact_crops
from avsync.artefacts.still import StillEvidence, still_evidence
from avsync.device import resolve_device
from avsync.errors import AvsyncError, BundleError, ConfigError
from avsync.face.types import ContextCropSpec
from avsync.inference import check_batch_size, run_batched
from avsync.model_files import ARTEFACT_ARCHITECTURE  # noqa: F401  (the artefact bundles' architecture)
from avsync.results import Serializable, Status
from avsync.timebase import SlidingWindow

if TYPE_CHECKING:
    from avsync.face.types import FaceTrack, FaceTracks
    from avsync.media import Media

__all__ = ["DEFAULT_ARTEFACT_MODEL", "ArtefactResult", "ArtefactScorer", "ArtefactWindow", "artefact_words", "with_still"]

DEFAULT_ARTEFACT_MODEL = "artefact-mouth"

_WORDS = {"artefact-face": ("face", "looks generated or re-rendered")}


def artefact_words(model: str | None) -> tuple[str, str]:
    """What an artefact model looks at and what its high score means, in the words of reasons and summaries."""
    return _WORDS.get(model or "", ("mouth region", "shows generation or blending artefacts"))


MIN_FACE_PX = 48.0
"""Faces narrower than this (pixels) carry too little detail: status ``no_face`` with a message."""


@dataclass(frozen=True)
class ArtefactWindow(Serializable):
    """One window ``[start, end)`` s: probability that the mouth region was generated (``None``: no face)."""

    start: float
    end: float
    score: float | None
    n_frames: int = 0


@dataclass(frozen=True)
class ArtefactResult(Serializable):
    """Mouth-region artefact evidence of one clip.

    Attributes
    ----------
    status
        ``ok``, ``no_face`` (no usable track, or a face too small), ``no_video``.
    score
        Clip probability that the mouth region of the main face was generated or pasted.
    threshold
        Probability above which a window or the clip is reported as showing artefacts.
    windows
        Per-window probabilities (``window_s`` long, every ``hop_s``).
    track_id
        The face track scored (the dominant one).
    model, model_sha256
        Checkpoint name and the sha256 of its file.
    n_frames
        Number of crops scored.
    face_px
        Median face width in pixels.
    still
        Frozen-surroundings evidence of the same face (:func:`with_still`), or ``None``.
        When it is set, ``score`` and the window scores are the larger of the model's and that evidence's.
    model_score
        The model's own clip probability whenever ``still`` was measured (``score`` may then be higher); ``None``
        otherwise (``score`` is the model's).
    """

    status: Status
    score: float | None = None
    threshold: float = 0.5
    windows: tuple[ArtefactWindow, ...] = ()
    track_id: int | None = None
    model: str = DEFAULT_ARTEFACT_MODEL
    model_sha256: str | None = None
    n_frames: int = 0
    face_px: float | None = None
    message: str | None = None
    still: StillEvidence | None = None
    model_score: float | None = None

    @property
    def flagged(self) -> bool:
        """Whether the clip shows artefacts: ``score >= threshold`` (``False`` when unscored)."""
        return self.score is not None and self.score >= self.threshold

    @property
    def still_decides(self) -> bool:
        """Whether the frozen-surroundings evidence (``still``) carries the clip: :func:`with_still` lifted the clip
        score above the model's own, and the lifted score reaches the threshold."""
        return (self.still is not None and self.model_score is not None and self.score is not None
                and self.score > self.model_score and self.score >= self.threshold)

    def still_words(self) -> str:
        """The frozen-surroundings finding in words (meaningful when :attr:`still_decides`)."""
        share = 0.0 if self.still is None else (self.still.share or 0.0)
        return f"the picture around the face stays frozen in {100 * share:.0f} % of frames while the face moves"

    @property
    def summary(self) -> str:
        """One line for reports: the verdict and clip probability, or the status and its message when unscored."""
        region, _ = artefact_words(self.model)
        if self.status is not Status.OK or self.score is None:
            return f"{region} artefacts: {self.status.value}" + (f" ({self.message})" if self.message else "")
        verdict = "artefacts found" if self.flagged else "no artefacts found"
        why = f"; {self.still_words()}" if self.still_decides else ""
        return f"{region}: {verdict} (p = {self.score:.2f}{why})"


class ArtefactScorer:
    """Score the mouth region of a video's main face for generation artefacts.

    Parameters
    ----------
    model
        Bundle name (default ``"artefact-mouth"``, shipped in ``models/``).
    weights
        Explicit checkpoint file or models directory. A ``.safetensors`` file is loaded as given (reported with
        its own sha256); a directory is searched for the bundle's file, which must match its registered sha256.
    device
        ``"cpu"`` or ``"cuda"``.
    sample_fps
        Crops scored per second of video.
    window_s, hop_s
        Window grid of the per-window scores (seconds).
    threshold
        Probability above which windows and the clip are reported.
    batch
        Crops per forward pass (``None``: 8 on the CPU, where larger batches are no faster and hold more memory —
        about 80 MiB more at 32 — and 32 on a GPU).
    """

    def __init__(
        self,
        model: str = DEFAULT_ARTEFACT_MODEL,
        *,
        weights: str | os.PathLike | None = None,
        device: str = "auto",
        sample_fps: float = 5.0,
        window_s: float = 2.0,
        hop_s: float = 1.0,
        threshold: float = 0.5,
        batch: int | None = None,
        allow_download: bool = False,
    ) -> None:
        if not (sample_fps > 0 and window_s > 0 and hop_s > 0):  # before any weights are read
            raise ConfigError(f"sample_fps, window_s and hop_s must be positive, got {sample_fps}, {window_s}, {hop_s}")
        if batch is not None:
            batch = check_batch_size(batch, "batch")

        from avsync.artefacts.effnet import EffNetLite0
        from avsync.artefacts.model import ArtefactNet
        from avsync.bundles import get_bundle, load_state_dict

        self.model = model
        bundle = get_bundle(model)
        if weights is not None and Path(weights).is_file() and Path(weights).suffix == ".safetensors":
            # an explicit checkpoint (e.g. one trained with `avsync train artefacts`): safetensors (no code runs),
            # identified by its own sha256 rather than checked against the bundle's
            from avsync.bundles import sha256_file
            from avsync.checkpoint import read_checkpoint

            try:
                sd = read_checkpoint(weights)[0]
            except Exception as e:
                raise BundleError(f"cannot load artefact weights {weights}: {e}") from None
            self.model_sha256 = sha256_file(weights)
        else:
            sd = load_state_dict(bundle, path=weights, allow_download=allow_download)  # resolved and sha256-verified
            self.model_sha256 = bundle.sha256
        calib = sd.pop("calibration", None)
        if calib is None:
            raise BundleError(f"bundle {model!r}: no calibration tensor in the artefact checkpoint")
        self.a, self.b = (float(v) for v in calib)
        self.net: ArtefactNet | EffNetLite0
        if "backbone._conv_stem.weight" in sd:  # EfficientNet-Lite0 fine-tuned by the recipe (`--arch effnet-lite0`)
            self.net = EffNetLite0()
        elif "blocks.0.weight" in sd:
            width, in_ch = (int(v) for v in sd["blocks.0.weight"].shape[:2])
            self.net = ArtefactNet(width=width, frames=2 if in_ch == 9 else 1)
        else:
            raise BundleError(f"bundle {model!r}: not an artefact network's weights")
        try:
            self.net.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            raise BundleError(f"bundle {model!r} does not fit {type(self.net).__name__}: {e}") from None
        self.crop_size = int(bundle.input.crop_size[0]) if bundle.input.crop_size else 128
        self.device = resolve_device(device)
        if batch is None:
            batch = 8 if str(self.device).startswith("cpu") else 32
        self.net.to(self.device).eval()
        self.sample_fps = float(sample_fps)
        self.pairs = self.net.frames == 2  # the model looks at each sampled frame and the next one
        self.window_s, self.hop_s = float(window_s), float(hop_s)
        self.threshold = float(threshold)
        self.batch = batch

    # ------------------------------------------------------------------ tensors
    def logits(self, images: np.ndarray) -> np.ndarray:
        """Raw logits ``float32 [M]`` of aligned crops ``uint8 [M, S, S, 3]`` (``[M, S, S, 6]``: frame pairs)."""
        net = self.net
        return run_batched(lambda x: net(x.permute(0, 3, 1, 2).float().div_(255.0)).float(), images,
                           batch_size=self.batch, device=self.device, empty=np.zeros(0, np.float32))

    def probability(self, logits: np.ndarray) -> float:
        """Calibrated probability of a set of frame logits (their mean)."""
        z = self.a * float(np.mean(logits)) + self.b
        return float(1.0 / (1.0 + np.exp(-z)))

    def score_crops(self, crops: ArtefactCrops, *, duration: float | None = None, track_id: int | None = None) -> ArtefactResult:
        """Score already-cut crops (see :func:`~avsync.artefacts.artefact_crops`)."""
        if len(crops) == 0:
            return ArtefactResult(Status.NO_FACE, threshold=self.threshold, model=self.model,
                                  model_sha256=self.model_sha256, message="no face frames to score")
        face_px = float(np.median(crops.face_px))
        if face_px < MIN_FACE_PX:
            return ArtefactResult(Status.NO_FACE, threshold=self.threshold, track_id=track_id, model=self.model,
                                  model_sha256=self.model_sha256, face_px=face_px,
                                  message=f"the face is too small ({face_px:.0f} px wide) to judge its mouth region")
        lg = self.logits(crops.images)
        t = crops.times
        end = float(duration) if duration is not None else float(t[-1] + 1.0 / crops.fps)
        grid = SlidingWindow(self.window_s, self.hop_s)
        wins = []
        for a, b in grid.bounds(end, partial=True):
            sel = (t >= a) & (t < b)
            wins.append(ArtefactWindow(round(float(a), 3), round(float(b), 3),
                                       self.probability(lg[sel]) if sel.any() else None, int(sel.sum())))
        return ArtefactResult(Status.OK, self.probability(lg), self.threshold, tuple(wins), track_id, self.model,
                              self.model_sha256, len(lg), face_px)

    # ------------------------------------------------------------------ media
    @staticmethod
    def main_track(faces: FaceTracks, prefer: int | None = None) -> FaceTrack | None:
        """The track scored: ``prefer`` when it is one of the usable tracks (1 s or more), else of those the one with
        most valid frames × face size."""
        usable = faces.usable()
        chosen = next((tr for tr in usable if tr.track_id == prefer), None) if prefer is not None else None
        return chosen or (max(usable, key=lambda tr: tr.num_valid * tr.median_size) if usable else None)

    def context_spec(self, fps: float) -> ContextCropSpec | None:
        """The context crops the tracker can cut for this model in its own pass at analysis rate ``fps`` (see
        :func:`avsync.face.track`), or ``None`` when the model wants frame pairs (cut by a second pass)."""
        if self.pairs:
            return None
        return ContextCropSpec(size=self.crop_size, step=self._step(fps))

    def _step(self, fps: float) -> int:
        """Every how many valid frames a crop is scored (``sample_fps`` per second at analysis rate ``fps``)."""
        return max(1, round(fps / self.sample_fps))

    def crops_of(self, media: Media, track: FaceTrack) -> ArtefactCrops:
        """The crops this model scores of ``track``: ``sample_fps`` per second, frame pairs if it wants them. Taken
        from ``track.context`` when the tracker cut them (one decoding pass), else cut by decoding again."""
        ctx = track.context
        if ctx is not None and ctx.spec == self.context_spec(track.fps):
            pos = ctx.frames - track.start_frame
            face_px = (track.boxes[pos, 2] - track.boxes[pos, 0]).astype(np.float32)
            return ArtefactCrops(ctx.images, ctx.frames, track.fps, face_px)
        return artefact_crops(media, track, size=self.crop_size, step=self._step(track.fps), pairs=self.pairs)

    def __call__(self, media: Media, faces: FaceTracks | None = None, *, still: bool = True,
                 track_id: int | None = None, check_orientation: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> ArtefactResult:
        """Score ``media``'s dominant face track (``faces``: tracks from :func:`avsync.face.track`, else tracked here).

        ``track_id``: score that face instead (e.g. the active speaker that lip sync chose) when it is usable (1 s or
        more); otherwise the dominant one. ``still`` (default): add the frozen-surroundings evidence of that face
        (:func:`with_still`: its surroundings stay bit-identical while the face moves, docs/artefacts.md "Frozen
        surroundings"); ``False``: the model's score alone. ``check_orientation`` (when the faces are tracked here):
        faces the picture shows turned on their side or upside down are not judged (status ``skipped``,
        :func:`avsync.face.orientation.turned_faces`, as ``avsync analyze`` does): a model trained on upright faces
        reads them as generated. ``progress(done, total)``: video frames tracked so far (when tracked here)."""
        if media.info.video is None:
            return ArtefactResult(Status.NO_VIDEO, threshold=self.threshold, model=self.model,
                                  model_sha256=self.model_sha256, message="the input has no video")
        try:
            if faces is None:
                from avsync.face import track

                if check_orientation:
                    from avsync.face.orientation import turned_faces, turned_words

                    turn = turned_faces(media)
                    if turn:
                        return ArtefactResult(Status.SKIPPED, threshold=self.threshold, model=self.model,
                                              model_sha256=self.model_sha256, message=turned_words(turn))
                faces = track(media, crops=(), progress=progress)
            main = self.main_track(faces, prefer=track_id)
            if main is None:
                return ArtefactResult(Status.NO_FACE, threshold=self.threshold, model=self.model,
                                      model_sha256=self.model_sha256, message="no face track of 1 s or more")
            if main.points_estimated:  # the crops are aligned on the eyes and mouth corners, which it guessed
                return ArtefactResult(Status.SKIPPED, threshold=self.threshold, track_id=main.track_id,
                                      model=self.model, model_sha256=self.model_sha256, message=NO_LANDMARKS)
            crops = self.crops_of(media, main)
        except AvsyncError as e:
            return ArtefactResult(e.status, threshold=self.threshold, model=self.model,
                                  model_sha256=self.model_sha256, message=str(e))
        result = self.score_crops(crops, duration=float(media.duration), track_id=main.track_id)
        if still:
            result = with_still(result, faces)
        return result


NO_LANDMARKS = ("the face detector found no eye and mouth landmarks (the Haar fallback guesses them from the box), "
                "so the mouth region cannot be aligned (YuNet, the default detector from the yuface wheel, finds them)")
"""Why the mouth-region check skips a face whose landmarks were estimated (``FaceTrack.points_estimated``): its crops
are cut around the eyes and mouth corners, and crops cut around guessed points read genuine faces as generated (GRID
clips tracked with the Haar detector scored 0.74–0.87 against 0.03 with YuNet)."""


STILL_EVIDENCE_MIN = 0.5
"""The frozen-surroundings probability counts only above this (its neutral point): a clip whose surroundings are
frozen in fewer frames than the midpoint is no evidence either way, so it does not lift a genuine-leaning score into
doubt (a heavily compressed genuine clip can come close: docs/artefacts.md)."""


def with_still(result: ArtefactResult, faces: FaceTracks | None) -> ArtefactResult:
    """``result`` with the frozen-surroundings evidence (:mod:`avsync.artefacts.still`) of the face it scored: the
    clip score and each window's score become the larger of the model's and the evidence's where the evidence is
    above :data:`STILL_EVIDENCE_MIN`, and ``result.still`` keeps the evidence (``result.model_score`` the model's own
    clip score). A result that is not ``ok``, or a face whose surroundings cannot be measured, comes back unchanged."""
    if faces is None or result.status is not Status.OK or result.score is None or result.track_id is None:
        return result
    try:
        track = faces.by_id(result.track_id)
    except KeyError:
        return result
    ev = still_evidence(track, [(w.start, w.end) for w in result.windows])
    if ev.p is None and not any(p is not None for p in ev.window_p):
        return replace(result, still=ev)

    def raises(p: float | None, score: float | None) -> bool:  # one-sided: only frozen evidence (p > 0.5) counts
        return p is not None and score is not None and p > STILL_EVIDENCE_MIN and p > score

    windows = tuple(replace(w, score=p) if raises(p, w.score) else w for w, p in zip(result.windows, ev.window_p))
    score = ev.p if raises(ev.p, result.score) else result.score
    return replace(result, score=score, windows=windows, still=ev, model_score=result.score)
