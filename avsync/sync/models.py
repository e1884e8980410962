"""Lag scorers: turn one face track and the audio into a distance per lag per frame.

Every scorer returns ``D[L, n]`` over the track's dense frame span ``[track.start_frame,
track.end_frame)``: the distance (lower = better audio-visual match) between video frame
``k = start_frame + i`` and the audio of frame ``k - lags[l]`` (positive lag = audio leads video).
Undefined entries (invalid face frame, audio outside the file) are NaN. :func:`avsync.sync.analyze_track`
turns ``D`` into an offset, a confidence and a timeline; the scorers own devices and batching.
"""

from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import numpy as np
import torch

from avsync.encoders.motion import AudioSignal, VisualSignal, audio_activity, highpass, mouth_activity
from avsync.errors import BundleError, ConfigError, NoFaceError
from avsync.features.audio import frame_energy, mfcc
from avsync.inference import run_batched
from avsync.model_files import DEFAULT_SYNC_MODEL, SYNC_MODEL_SPECS
from avsync.results import Status
from avsync.sync.types import TrackCrops

if TYPE_CHECKING:
    from avsync.encoders.lightasd import LightASD

__all__ = [
    "LagScorer",
    "LightASDScorer",
    "DEFAULT_SYNC_MODEL",
    "ModelName",
    "MotionScorer",
    "SyncNetScorer",
    "audio_frame_count",
    "dense_track",
    "lightasd_scorer",
    "make_scorer",
    "motion_scorer",
    "resize_crops",
    "syncnet_grid_scorer",
    "syncnet_scorer",
    "syncnet_v2_scorer",
    "syncnet_v3_scorer",
    "weights_sha256",
]

ModelName = str
"""Name of a lip-sync model: a key of :data:`avsync.model_files.SYNC_MODEL_SPECS` (``"syncnet"``, ``"syncnet-v3"``,
``"syncnet-v2"``, ``"syncnet-grid"``, ``"motion"``, ``"light-asd"``)."""


class LagScorer(Protocol):
    """What :func:`~avsync.sync.analyze_track` needs from a model."""

    name: str
    crops: Literal["mouth", "face"]

    def distances(self, audio: np.ndarray, sample_rate: int, track: TrackCrops, lags: np.ndarray) -> np.ndarray:
        """``[L, n]`` float64 distances (NaN where undefined) for ``n = track.end_frame - track.start_frame``."""
        ...


def audio_frame_count(num_samples: int, sample_rate: int, fps: float) -> int:
    """Video frames covered (even partly) by ``num_samples`` of audio."""
    return int(math.ceil(num_samples * fps / sample_rate - 1e-9))


def dense_track(track: TrackCrops, which: Literal["mouth", "face"]) -> tuple[np.ndarray, np.ndarray]:
    """Crops on the dense span ``[start_frame, end_frame)``; missing/invalid frames repeat the last valid crop.

    Returns ``(crops [n, S, S] uint8, valid [n] bool)``.
    """
    arr = getattr(track, which)
    if arr is None:
        raise NoFaceError(f"track {track.track_id} has no {which} crops", hint=f"the tracker must provide {which} crops")
    n = track.end_frame - track.start_frame
    valid = np.zeros(n, bool)
    idx = track.frames - track.start_frame
    valid[idx] = track.valid
    out = np.zeros((n,) + arr.shape[1:], arr.dtype)
    out[idx] = arr
    # forward-fill invalid frames (then back-fill the head) so that convolutional models see continuous video
    src = np.where(valid, np.arange(n), -1)
    src = np.maximum.accumulate(src)
    first = int(np.argmax(valid)) if valid.any() else 0
    src[src < 0] = first
    return out[src], valid


def resize_crops(crops: np.ndarray, size: int) -> np.ndarray:
    """``[N, S, S]`` uint8 crops → ``[N, size, size]`` uint8 (bilinear with antialiasing; unchanged if ``S == size``)."""
    if crops.shape[1:] == (size, size):
        return crops
    from avsync.sync.crops import crop_resize

    return crop_resize(crops, (0.0, 0.0, 1.0, 1.0), size)


def _shifted(values: np.ndarray, start_frame: int, n: int, lags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values[k - lag]`` for ``k`` in the span, per lag: ``([L, n, ...], valid [L, n])``."""
    j = start_frame + np.arange(n)[None, :] - lags[:, None]
    ok = (j >= 0) & (j < len(values))
    return values[np.clip(j, 0, max(len(values) - 1, 0))], ok


@dataclass
class MotionScorer:
    """Training-free baseline: mouth activity cross-correlated with audio activity.

    Both signals are high-passed (a moving average of ``highpass_s`` is removed) and z-scored; the
    distance of frame ``k`` at lag ``L`` is ``1 - z_mouth[k] * z_audio[k - L]``, so the mean distance
    over a window is one minus the correlation of the two signals there.

    Parameters
    ----------
    visual, audio
        Mouth signal (``"motion"``: frame differences, the default; ``"opening"``: mouth darkness;
        ``"both"``: the average of the two pairings) and audio signal (``"energy"`` in dB, the
        default, or ``"flux"``: its changes). Motion against energy is the pairing that is robust on
        real faces (SyncNet's demo clip: +3 frames, as SyncNet); opening against energy is exact on
        synthetic clips but sensitive to lighting, teeth and beards.
    """

    visual: VisualSignal | Literal["both"] = "motion"
    audio: AudioSignal = "energy"
    highpass_s: float = 1.0
    name: str = "motion"
    crops: Literal["mouth", "face"] = "mouth"

    def distances(self, audio: np.ndarray, sample_rate: int, track: TrackCrops, lags: np.ndarray) -> np.ndarray:
        """``[L, n]`` float64 distances ``1 - z_mouth[k] * z_audio[k - lag]`` (averaged over the signal pairings)
        for each lag of ``lags`` (frames) and frame of the track's dense span; NaN where the face frame (for motion,
        a neighbouring one too) is invalid or the lagged audio frame lies outside ``audio`` (mono samples at
        ``sample_rate`` Hz, in [-1, 1])."""
        mouth, valid, n, m = _mouth_grid(audio, sample_rate, track)
        fps = track.fps
        energy = frame_energy(np.asarray(audio, np.float32), sample_rate, fps=fps, num_frames=m, align="center")
        pairs: list[tuple[VisualSignal, AudioSignal]] = (
            [("opening", self.audio), ("motion", self.audio)] if self.visual == "both" else [(self.visual, self.audio)]
        )
        width = max(1, int(round(self.highpass_s * fps)) | 1)
        vmask = torch.from_numpy(valid)
        # motion at k uses frames k-1..k+1: a difference across a gap is not motion
        nb_ok = valid.copy()
        nb_ok[1:] &= valid[:-1]
        nb_ok[:-1] &= valid[1:]
        total = np.zeros((len(lags), n))
        for vis_kind, aud_kind in pairs:
            v = mouth_activity(torch.from_numpy(mouth), vis_kind)
            vm = torch.from_numpy(nb_ok) if vis_kind == "motion" else vmask
            a = audio_activity(energy, aud_kind)
            zv = _zscore(highpass(v, width, vm), vm).numpy()
            za = _zscore(highpass(a, width), None).numpy()
            sa, ok = _shifted(za, track.start_frame, n, lags)
            d = 1.0 - zv[None, :] * sa
            d[~ok | ~vm.numpy()[None, :]] = np.nan
            total += d
        return total / len(pairs)


def _mouth_grid(audio: np.ndarray, sample_rate: int, track: TrackCrops) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Dense mouth crops and validity of ``track``, its frame count ``n`` and the audio's frame count ``m``."""
    mouth, valid = dense_track(track, "mouth")
    return mouth, valid, len(valid), audio_frame_count(len(audio), sample_rate, track.fps)


def _zscore(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    x = x.to(torch.float64)
    sel = x if mask is None else x[mask]
    if sel.numel() < 2:
        return torch.zeros_like(x)
    sd = sel.std()
    return (x - sel.mean()) / sd if sd > 1e-9 else torch.zeros_like(x)


@dataclass
class SyncNetScorer:
    """Our SyncNet-style dual encoder: L2 distance between 5-frame mouth and 0.2 s MFCC embeddings.

    The embedding of frame ``k`` sees mouth frames ``[k-2, k+3)`` and the MFCC of the same 0.2 s (a model whose
    ``config.frames`` is ``F``: frames ``[k-F//2, k+F//2]`` and their audio).
    Mouth crops are resized to the model's ``config.mouth_size`` (the crop region itself is the tracker's).
    """

    model: torch.nn.Module
    device: str | torch.device = "cpu"
    batch_size: int = 256
    chunk: int = 2000
    name: str = "syncnet"
    crops: Literal["mouth", "face"] = "mouth"

    def distances(self, audio: np.ndarray, sample_rate: int, track: TrackCrops, lags: np.ndarray) -> np.ndarray:
        """``[L, n]`` float64 L2 distances (0..2, lower = in sync) between the mouth embedding of frame ``k`` and the
        MFCC embedding of frame ``k - lag`` for each lag of ``lags`` (frames); NaN where one of
        the window's mouth frames (five for the shipped models) is invalid or its audio window lies outside ``audio``
        (mono samples at ``sample_rate`` Hz, in [-1, 1])."""
        return self.distances_and_mouths(audio, sample_rate, track, lags)[0]

    def distances_and_mouths(self, audio: np.ndarray, sample_rate: int, track: TrackCrops,
                             lags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`distances`, and the mouth embedding of each of the track's ``n`` frames (``float32 [n, D]``,
        NaN where a window's mouth frames are not all valid): what the model sees of the mouth, frame by frame
        (:func:`avsync.sync.analyze.articulation` reads how much it changes)."""
        from avsync.encoders.syncnet import CONTEXT, audio_windows, mouth_windows

        mouth, valid, n, m = _mouth_grid(audio, sample_rate, track)
        config = getattr(self.model, "config", None)
        size = getattr(config, "mouth_size", None)
        if size is not None:  # the tracker's crops (96²) → the model's input size (48²)
            mouth = resize_crops(mouth, int(size))
        frames = int(getattr(config, "frames", CONTEXT))  # video frames per window
        feats = mfcc(np.asarray(audio, np.float32), sample_rate, pcm_scale=32768.0)
        a_win, a_ok = audio_windows(feats, m, frames)  # [m, 13, 4 * frames]
        v_win, v_ok = mouth_windows(torch.from_numpy(mouth), torch.from_numpy(valid), frames)  # [n, frames, S, S]
        model: Any = self.model.to(self.device).eval()  # a SyncNet-style module: embed_audio, embed_video
        a_emb = run_batched(lambda x: model.embed_audio(x).float(), a_win, batch_size=self.batch_size,
                            device=self.device, empty=torch.zeros(0), numpy=False)
        v_emb = run_batched(lambda x: model.embed_video(x).float(), v_win, batch_size=self.batch_size,
                            device=self.device, empty=torch.zeros(0), numpy=False)
        a_np, v_np, a_ok_np, v_ok_np = a_emb.numpy(), v_emb.numpy(), a_ok.numpy(), v_ok.numpy()
        d = np.full((len(lags), n), np.nan)
        for i in range(0, n, self.chunk):  # bounded memory: [L, chunk, D] at a time
            j = min(n, i + self.chunk)
            sa, ok = _shifted(a_np, track.start_frame + i, j - i, lags)
            sok = _shifted(a_ok_np, track.start_frame + i, j - i, lags)[0]
            di = np.linalg.norm(sa - v_np[None, i:j], axis=-1).astype(np.float64)
            di[~ok | ~sok | ~v_ok_np[None, i:j]] = np.nan
            d[:, i:j] = di
        mouths = v_np.astype(np.float32, copy=True).reshape(n, -1) if v_np.size else np.zeros((n, 0), np.float32)
        mouths[~v_ok_np[:n]] = np.nan
        return d, mouths


@dataclass
class LightASDScorer:
    """Light-ASD speaking score with the audio shifted by each lag; distance = ``-score``.

    Visual embeddings are computed once, audio embeddings once (four MFCC frames per video frame),
    and only the GRU backend runs per lag. ``last_speaking_score[track.track_id]`` after :meth:`distances` is
    the mean score at lag 0 over valid frames (active-speaker evidence).
    """

    model: LightASD
    device: str | torch.device = "cpu"
    chunk: int = 250
    name: str = "light-asd"
    crops: Literal["mouth", "face"] = "face"
    last_speaking_score: dict[int, float] = field(default_factory=dict)

    def distances(self, audio: np.ndarray, sample_rate: int, track: TrackCrops, lags: np.ndarray) -> np.ndarray:
        """``[L, n]`` float64 minus the Light-ASD speaking logit of frame ``k`` with the audio of frame ``k - lag``,
        for each lag of ``lags`` (frames); NaN where the face frame is invalid or the lagged audio lies outside
        ``audio`` (mono samples at ``sample_rate`` Hz, in [-1, 1]). Records the mean lag-0 logit in
        ``last_speaking_score[track.track_id]``."""
        faces, valid = dense_track(track, "face")
        fps = track.fps
        n = len(valid)
        m = audio_frame_count(len(audio), sample_rate, fps)
        feats = mfcc(np.asarray(audio, np.float32), sample_rate, pcm_scale=32768.0)
        need = 4 * m
        feats = torch.nn.functional.pad(feats, (0, 0, 0, max(0, need - feats.shape[0])))[:need]
        model = self.model.to(self.device).eval()
        c = self.chunk
        # embeddings chunk by chunk of ``c`` frames: one sequence (a batch of one) per forward pass
        a_emb = run_batched(lambda x: model.encode_audio(x)[0], range(0, m, c), batch_size=1, device=self.device,
                            cut=lambda i: feats[4 * i : 4 * (i + c)], empty=torch.zeros(0, 128), numpy=False)
        f = torch.from_numpy(faces)
        v_emb = run_batched(lambda x: model.encode_visual(x)[0], range(0, n, c), batch_size=1, device=self.device,
                            cut=lambda i: f[i : i + c], empty=torch.zeros(0, 128), numpy=False)
        with torch.no_grad():
            a_np = a_emb.numpy()
            scores, oks = [], []
            for i in range(0, n, c):  # [L, chunk, 128] at a time
                j = min(n, i + c)
                sa, ok = _shifted(a_np, track.start_frame + i, j - i, lags)
                x = torch.from_numpy(sa) + v_emb[None, i:j]
                scores.append(model.av_head(model.backend(x.to(self.device)))[..., 1].cpu())
                oks.append(ok)
            s = torch.cat(scores, dim=1).numpy().astype(np.float64)
            ok = np.concatenate(oks, axis=1)
        s[~ok | ~valid[None, :]] = np.nan
        zero = int(np.flatnonzero(lags == 0)[0]) if np.any(lags == 0) else None
        if zero is not None and np.isfinite(s[zero]).any():
            self.last_speaking_score[track.track_id] = float(np.nanmean(s[zero]))
        return -s


SYNCNET_BUNDLE = cast(str, SYNC_MODEL_SPECS["syncnet"].bundle)
"""Registered bundle of the default SyncNet-style checkpoint (``models/syncnet-v3``, model name ``"syncnet"``)."""
SYNCNET_V3_BUNDLE = cast(str, SYNC_MODEL_SPECS["syncnet-v3"].bundle)
"""The default checkpoint by its own name (``models/syncnet-v3``, model name ``"syncnet-v3"``: GRID and generated
in-sync faces, non-commercial research use); the same bundle as :data:`SYNCNET_BUNDLE`."""
SYNCNET_V2_BUNDLE = cast(str, SYNC_MODEL_SPECS["syncnet-v2"].bundle)
"""The GRID-only SyncNet-style checkpoint (``models/syncnet-v2``, model name ``"syncnet-v2"``; no restriction)."""
LIGHT_ASD_BUNDLE = cast(str, SYNC_MODEL_SPECS["light-asd"].bundle)
"""The Light-ASD checkpoint ``model="light-asd"`` runs (AVA-ActiveSpeaker; sha256-verified when found by name)."""
SYNCNET_GRID_BUNDLE = cast(str, SYNC_MODEL_SPECS["syncnet-grid"].bundle)
"""The first SyncNet-style checkpoint (11 GRID sentences; ``models/syncnet-grid``, model name ``"syncnet-grid"``)."""


def _resolve_weights(kind: str, weights: str | os.PathLike | None, bundle: str = SYNCNET_BUNDLE,
                     user_dir: bool = True) -> str:
    """Checkpoint of a learned model: ``weights``, then ``$AVSYNC_MODELS_DIR``, then (syncnet) the shipped bundle.

    For the model named ``syncnet`` (``user_dir``) a user checkpoint at
    ``$AVSYNC_MODELS_DIR/syncnet/avsync_syncnet.safetensors`` wins over the bundle, which
    :func:`avsync.bundles.resolve` finds (``$AVSYNC_MODELS_DIR``, user cache, the package's ``models/``) and
    verifies against its sha256; a SyncNet-style model named by its version always runs its bundle.
    """
    if weights is not None:
        return os.fspath(weights)
    names = {"light-asd": ["light-asd/pretrain_AVA_CVPR.model", "pretrain_AVA_CVPR.model"], "syncnet": ["syncnet/avsync_syncnet.safetensors"]}
    root = os.environ.get("AVSYNC_MODELS_DIR") if user_dir or kind != "syncnet" else None
    if root:
        for d in root.split(os.pathsep):
            for rel in names[kind]:
                p = os.path.join(d, rel)
                if d and os.path.exists(p):
                    if kind == "light-asd":  # the public checkpoint found by name: it must be that file
                        from avsync.bundles import verify_file

                        verify_file(p, LIGHT_ASD_BUNDLE)
                    return p
    if kind == "light-asd":  # e.g. fetched with `avsync models pull light-asd-ava`: resolved and verified
        from avsync.bundles import resolve

        try:
            return os.fspath(resolve(LIGHT_ASD_BUNDLE))
        except BundleError as e:
            if e.status is not Status.NOT_FOUND:  # there, but not the published file
                raise
    if kind == "syncnet":
        from avsync.bundles import resolve

        try:
            return os.fspath(resolve(bundle))
        except BundleError as e:
            raise BundleError(
                f"no SyncNet-style checkpoint found: {e.message}",
                status=e.status,
                hint=f"pass weights=PATH (one trained with `avsync train sync`), restore models/{bundle}/, "
                     "or use model='motion'",
            ) from None
    raise BundleError(
        f"no {kind} checkpoint found",
        hint="run `avsync models pull light-asd-ava`, pass weights=PATH or put pretrain_AVA_CVPR.model under "
             "$AVSYNC_MODELS_DIR/light-asd/",
    )


def motion_scorer(weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> LagScorer:
    """``"motion"``: mouth motion vs audio energy, no weights (``weights`` and ``device`` are not used)."""
    return MotionScorer()


def _syncnet(weights: str | os.PathLike | None, device: str | torch.device, bundle: str, name: str) -> LagScorer:
    """A :class:`SyncNetScorer` named ``name`` on ``weights``, else (:func:`_resolve_weights`) on ``bundle``."""
    from avsync.device import resolve_device
    from avsync.encoders.syncnet import load_syncnet

    return SyncNetScorer(load_syncnet(_resolve_weights("syncnet", weights, bundle, user_dir=name == "syncnet")),
                         device=resolve_device(device), name=name)


def syncnet_scorer(weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> LagScorer:
    """``"syncnet"``: ``weights``, ``$AVSYNC_MODELS_DIR/syncnet/``, else the shipped ``syncnet-v3`` bundle."""
    return _syncnet(weights, device, SYNCNET_BUNDLE, "syncnet")


def syncnet_v3_scorer(weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> LagScorer:
    """``"syncnet-v3"``: ``weights``, else the ``syncnet-v3`` bundle (the default model by its own name: GRID +
    generated in-sync faces, non-commercial research use; the default cue parameters)."""
    return _syncnet(weights, device, SYNCNET_V3_BUNDLE, "syncnet-v3")


def syncnet_v2_scorer(weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> LagScorer:
    """``"syncnet-v2"``: ``weights``, else the ``syncnet-v2`` bundle (GRID only, the default before ``syncnet-v3``,
    no restriction; its own cue parameters, :data:`avsync.sync.cue_params.SYNCNET_V2_CUE_PARAMS`)."""
    return _syncnet(weights, device, SYNCNET_V2_BUNDLE, "syncnet-v2")


def syncnet_grid_scorer(weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> LagScorer:
    """``"syncnet-grid"``: ``weights``, else the older ``syncnet-grid`` bundle."""
    return _syncnet(weights, device, SYNCNET_GRID_BUNDLE, "syncnet-grid")


def lightasd_scorer(weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> LagScorer:
    """``"light-asd"``: the public Light-ASD checkpoint (``weights``, ``$AVSYNC_MODELS_DIR`` or a pulled bundle)."""
    from avsync.device import resolve_device
    from avsync.encoders.lightasd import load_lightasd

    return LightASDScorer(load_lightasd(_resolve_weights("light-asd", weights)), device=resolve_device(device))


def weights_sha256(model: str) -> str | None:
    """sha256 of the weights the sync model named ``model`` runs without explicit ``weights`` (for provenance): for
    ``syncnet`` the file :func:`_resolve_weights` picks (a user checkpoint in ``$AVSYNC_MODELS_DIR/syncnet/``, else
    the bundle), for the other models with a bundle the bundle's registered sha256; ``None`` for a model without
    weights or when none is found."""
    from avsync.model_files import file_sha256, model_sha256

    spec = SYNC_MODEL_SPECS.get(model)
    if spec is None or spec.bundle is None:
        return None
    if model != "syncnet":
        return model_sha256(spec.bundle)
    try:
        return file_sha256(_resolve_weights("syncnet", None, spec.bundle, user_dir=True))
    except (BundleError, OSError):
        return None


def make_scorer(
    model: ModelName | LagScorer = "motion",
    *,
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> LagScorer:
    """Build a scorer by name (a key of :data:`avsync.model_files.SYNC_MODEL_SPECS`: ``"motion"``, ``"syncnet"``,
    ``"syncnet-v3"``, ``"syncnet-v2"``, ``"syncnet-grid"``, ``"light-asd"``) through its factory, or return ``model`` as is.

    ``weights``: checkpoint path for the learned models (default: ``$AVSYNC_MODELS_DIR``; for ``syncnet``
    then the shipped ``syncnet-v3`` bundle, for ``syncnet-v3``, ``syncnet-v2`` and ``syncnet-grid`` the bundles of those names,
    all sha256-verified).
    """
    if not isinstance(model, str):
        return model
    spec = SYNC_MODEL_SPECS.get(model)
    if spec is None:
        raise ConfigError(f"unknown sync model {model!r}", hint=f"choose one of {', '.join(SYNC_MODEL_SPECS)}")
    module, _, function = spec.factory.partition(":")
    factory = getattr(importlib.import_module(module), function)
    return cast(LagScorer, factory(weights=weights, device=device))
