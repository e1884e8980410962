"""Synthetic media with known ground truth, encoded with PyAV.

Used by the test suite, the benchmarks and the quick start. A clip shows a moving pattern with a
bright flash and a "mouth" (a dark ellipse) whose opening follows the audio envelope, and plays
tone bursts. Each visual event at ``t`` has its audio burst at ``t - offset_s``: a **positive
offset means audio leads video**, the convention of :mod:`avsync.timebase`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, cast

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.stream import VideoStream

__all__ = ["ClipSpec", "CODEC_PRESETS", "make_clip", "event_times", "burst_audio", "shift_audio", "write_audio", "write_audio_streams"]

CODEC_PRESETS: dict[str, tuple[str, str, str]] = {
    # name: (container format, video codec, audio codec)
    "mp4": ("mp4", "libx264", "aac"),
    "mov-hevc": ("mov", "libx265", "aac"),
    "mkv": ("matroska", "libvpx-vp9", "libopus"),
    "webm-vp8": ("webm", "libvpx", "libopus"),
    "webm-av1": ("webm", "libsvtav1", "libopus"),
    "avi": ("avi", "mpeg4", "pcm_s16le"),
    "mpg": ("mpeg", "mpeg1video", "mp2"),
    "mpeg2": ("mpeg", "mpeg2video", "mp2"),
    # audio-only
    "wav": ("wav", "", "pcm_s16le"),
    "flac": ("flac", "", "flac"),
    "mp3": ("mp3", "", "libmp3lame"),
    "ogg": ("ogg", "", "libopus"),
    "m4a": ("ipod", "", "aac"),
}

_AUDIO_OPTIONS: dict[str, dict[str, str]] = {}

_EXT = {
    "mp4": ".mp4", "mov-hevc": ".mov", "mkv": ".mkv", "webm-vp8": ".webm", "webm-av1": ".webm",
    "avi": ".avi", "mpg": ".mpg", "mpeg2": ".mpg", "wav": ".wav", "flac": ".flac", "mp3": ".mp3",
    "ogg": ".ogg", "m4a": ".m4a",
}


@dataclass(frozen=True)
class ClipSpec:
    """Parameters of a synthetic clip.

    ``offset_s`` > 0: audio leads video. ``vfr``: frame intervals alternate irregularly (mean rate
    ``fps``). ``audio_start_s``: the audio stream starts this late on the file's clock.
    ``channel_tones``: one tone frequency per audio channel; channel ``c`` plays its bursts at the
    event times shifted by ``c * channel_shift_s`` so channels differ in content.
    ``face``: ``"disc"`` (a skin-coloured disc, with a flash in the top-left corner at each event) or
    ``"photo"`` (a real face photo — NASA's public-domain astronaut portrait shipped with scikit-image —
    with slight head motion, that face detectors find). ``timbre``: ``"tone"`` bursts or ``"vowel"``
    bursts (a 120 Hz harmonic buzz shaped by vowel formants, closer to speech). ``seed``: the disc clip's
    background colour, a photo clip's head motion (seed 0: the motion every earlier version drew) and the VFR
    frame times. ``drift``: the audio runs this fraction slow (the burst of the event at ``t`` sounds at
    ``t · (1 + drift) − offset_s``: audio that falls steadily behind the video; negative: it runs fast).
    ``speaks``: ``False`` keeps the mouth closed while the bursts sound (a face that does not speak: a listener).
    """

    duration: float = 4.0
    fps: float = 25.0
    size: tuple[int, int] = (320, 240)
    sample_rate: int = 16_000
    offset_s: float = 0.0
    preset: str = "mp4"
    video: bool = True
    audio: bool = True
    channel_tones: tuple[float, ...] = (440.0,)
    channel_shift_s: float = 0.25
    vfr: bool = False
    rotation: int = 0
    audio_start_s: float = 0.0
    event_period_s: float = 0.8
    face: str = "disc"
    timbre: str = "tone"
    burst_s: float = 0.12
    seed: int = 0
    drift: float = 0.0
    speaks: bool = True
    extra: dict = field(default_factory=dict, compare=False)


def event_times(duration: float, period: float = 0.8, first: float = 0.4) -> np.ndarray:
    """Times (s) of the visual events of a clip: every ``period`` from ``first``."""
    return np.arange(first, max(first, duration - 0.3), period)


def _vowel(m: int, sample_rate: int, f0: float) -> np.ndarray:
    """A harmonic buzz at ``f0`` shaped by the formants of /a/ (700, 1220, 2600 Hz), peak 1."""
    t = np.arange(m) / sample_rate
    out = np.zeros(m)
    for k in range(1, int(min(4000, sample_rate / 2 - 100) // f0) + 1):
        f = k * f0
        gain = sum(1.0 / (1.0 + ((f - fc) / bw) ** 2) for fc, bw in ((700, 130), (1220, 150), (2600, 250)))
        out += gain / k**0.5 * np.sin(2 * np.pi * f * t)
    return out / (np.abs(out).max() + 1e-9)


def burst_audio(
    times: Sequence[float] | np.ndarray,
    duration: float,
    sample_rate: int,
    *,
    freq: float = 440.0,
    burst_s: float = 0.12,
    timbre: str = "tone",
) -> np.ndarray:
    """``[T]`` float32 audio with a Hann-windowed burst starting at each time in ``times``.

    ``timbre="tone"``: a sine at ``freq``; ``"vowel"``: a harmonic buzz at ``freq / 4`` Hz with vowel formants.
    """
    n = int(round(duration * sample_rate))
    out = np.zeros(n, np.float32)
    m = int(round(burst_s * sample_rate))
    env = np.hanning(2 * m)[m // 2 : m // 2 + m] if m > 1 else np.ones(1)
    carrier = _vowel(m, sample_rate, freq / 4) if timbre == "vowel" else np.sin(2 * np.pi * freq * np.arange(m) / sample_rate)
    tone = (0.5 * env * carrier).astype(np.float32)
    for t in times:
        i = int(round(t * sample_rate))
        if 0 <= i < n:
            seg = tone[: n - i]
            out[i : i + len(seg)] += seg
    return out


def shift_audio(audio: np.ndarray, frames: int, sr: int = 16_000, fps: float = 25.0) -> np.ndarray:
    """Audio made to lead video by ``frames`` more (samples moved earlier, zero-padded; negative: later)."""
    from avsync.timebase import frames_to_seconds, seconds_to_samples

    n = seconds_to_samples(frames_to_seconds(frames, fps), sr)
    out = np.zeros_like(audio)
    if abs(n) >= len(audio):  # moved past its whole length: silence
        return out
    if n >= 0:
        out[: len(audio) - n] = audio[n:]
    else:
        out[-n:] = audio[: len(audio) + n]
    return out


def _envelope(times: np.ndarray, t: float, burst_s: float) -> float:
    d = t - times
    inside = (d >= 0) & (d < burst_s)
    return float(np.sin(np.pi * d[inside] / burst_s).max()) if inside.any() else 0.0


_PHOTO_MOUTH = (138.5, 142.5, 41.0)  # mouth centre x, y and width in astronaut_face.jpg (288 x 288)


def _photo(size: tuple[int, int]) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The shipped face photo scaled to ``size`` and its mouth centre/width in that scale."""
    from importlib import resources

    with resources.as_file(resources.files("avsync") / "data" / "astronaut_face.jpg") as path:
        with av.open(str(path)) as c:
            frame = next(c.decode(video=0))
    w, h = size
    img = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
    mx, my, mw = _PHOTO_MOUTH
    return img, (mx * w / 288, my * h / 288, mw * w / 288)


def _photo_frame(base: np.ndarray, mouth: tuple[float, float, float], t: float, opening: float,
                 head_phase: float = 0.0) -> np.ndarray:
    h, w = base.shape[:2]
    pad = max(2, int(0.02 * max(w, h)))
    dx = int(round(0.6 * pad * np.sin(2 * np.pi * 0.3 * t + head_phase)))
    dy = int(round(0.5 * pad * np.sin(2 * np.pi * 0.2 * t + 1.7 * head_phase)))
    padded = np.pad(base, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    img = padded[pad - dy : pad - dy + h, pad - dx : pad - dx + w].copy()  # head moved by (dx, dy)
    mx, my, mw = mouth
    yy, xx = np.ogrid[0:h, 0:w]
    a, b = 0.45 * mw, 0.03 * mw + 0.2 * mw * opening
    inside = ((xx - mx - dx) / a) ** 2 + ((yy - my - dy) / b) ** 2 < 1
    img[inside] = (70, 18, 24)
    return img


def _frame_image(
    spec: ClipSpec, t: float, events: np.ndarray, rng_phase: float,
    photo: tuple[np.ndarray, tuple[float, float, float]] | None = None,
) -> np.ndarray:
    if photo is not None:  # seed 0 keeps the head motion every earlier clip had; others start it elsewhere
        head = 0.0 if spec.seed == 0 else rng_phase
        opening = _envelope(events, t, spec.burst_s) if spec.speaks else 0.0
        return _rotate_for_storage(_photo_frame(*photo, t, opening, head), spec.rotation)
    w, h = spec.size
    yy, xx = np.mgrid[0:h, 0:w]
    shift = int(40 * t)
    img = np.empty((h, w, 3), np.uint8)
    stripes = (((xx + shift) // 16 + (yy // 16)) % 2 * 60 + 40).astype(np.uint8)
    img[..., 0] = stripes
    img[..., 1] = (stripes // 2 + 30).astype(np.uint8)
    img[..., 2] = (120 + 40 * np.sin(rng_phase + t)).astype(np.uint8)
    # face-like disc with a mouth whose opening follows the event envelope
    cx, cy, r = w // 2, h // 2, min(w, h) // 3
    face = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
    img[face] = (200, 170, 150)
    opening = _envelope(events, t, spec.burst_s) if spec.speaks else 0.0
    mh = max(1, int(r * 0.05 + r * 0.35 * opening))
    mouth = ((xx - cx) / (r * 0.45)) ** 2 + ((yy - (cy + r // 2)) / mh) ** 2 < 1
    img[mouth] = (60, 10, 20)
    if opening > 0:  # a flash in the top-left corner marks the event
        img[: h // 6, : w // 6] = 255
    return _rotate_for_storage(img, spec.rotation)


def _rotate_for_storage(img: np.ndarray, rotation: int) -> np.ndarray:
    """Store the picture so that applying the display rotation shows it upright."""
    return np.ascontiguousarray(np.rot90(img, k=-(rotation // 90))) if rotation else img


def _frame_times(spec: ClipSpec) -> np.ndarray:
    if not spec.vfr:
        return np.arange(0, spec.duration - 1e-9, 1.0 / spec.fps)
    rng = np.random.default_rng(spec.seed)
    base = 1.0 / spec.fps
    out, t = [], 0.0
    while t < spec.duration - 1e-9:
        out.append(t)
        t += base * rng.choice([0.5, 1.0, 1.5, 2.0], p=[0.3, 0.3, 0.2, 0.2])
    return np.asarray(out)


def make_clip(path: str | os.PathLike, spec: ClipSpec | None = None, **overrides: Any) -> str:
    """Encode a synthetic clip and return its path.

    Parameters
    ----------
    path
        Output file; its extension is replaced by the preset's if it has none.
    spec
        :class:`ClipSpec`; keyword overrides are applied on top (``make_clip(p, offset_s=0.2)``).
    """
    spec = spec or ClipSpec()
    if overrides:
        spec = ClipSpec(**{**spec.__dict__, **overrides})
    fmt, vcodec, acodec = CODEC_PRESETS[spec.preset]
    path = os.fspath(path)
    if not os.path.splitext(path)[1]:
        path += _EXT[spec.preset]
    events = event_times(spec.duration, spec.event_period_s)
    with_video = spec.video and bool(vcodec)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    container = av.open(path, "w", format=fmt)
    try:
        vstream = astream = None
        if with_video:
            vstream = _add_video_stream(container, vcodec, spec)
        if spec.audio:
            astream = cast(AudioStream, container.add_stream(acodec, rate=spec.sample_rate,
                                                             options=_AUDIO_OPTIONS.get(acodec, {})))
            nch = len(spec.channel_tones)
            astream.layout = "mono" if nch == 1 else ("stereo" if nch == 2 else f"{nch}c")
        if with_video:
            assert vstream is not None
            phase = float(np.random.default_rng(spec.seed).uniform(0, 6))
            photo = _photo(spec.size) if spec.face == "photo" else None
            tb = vstream.time_base or Fraction(1, 1000)
            for t in _frame_times(spec):
                frame = av.VideoFrame.from_ndarray(_frame_image(spec, t, events, phase, photo), format="rgb24")
                frame.pts = int(round(t / tb))
                frame.time_base = tb
                for p in vstream.encode(frame):
                    container.mux(p)
            for p in vstream.encode():
                container.mux(p)
        if spec.audio:
            assert astream is not None
            _encode_audio(container, astream, spec, events)
    finally:
        container.close()
    return path


def _add_video_stream(container: OutputContainer, vcodec: str, spec: ClipSpec) -> VideoStream:
    rate = Fraction(spec.fps).limit_denominator(1001)
    opts = {}
    if vcodec == "libx264":
        opts = {"preset": "ultrafast"}
    elif vcodec == "libx265":
        opts = {"preset": "ultrafast", "x265-params": "log-level=none"}
    elif vcodec == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")  # errors only
        opts = {"preset": "12"}
    elif vcodec in ("libvpx", "libvpx-vp9"):
        opts = {"deadline": "realtime", "cpu-used": "8"}
    stream = cast(VideoStream, container.add_stream(vcodec, rate=rate, options=opts))
    w, h = spec.size
    if spec.rotation in (90, 270):
        w, h = h, w
    stream.width, stream.height = w, h
    stream.pix_fmt = "yuv420p"
    if spec.vfr:
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
    if spec.rotation:
        stream.set_display_rotation(spec.rotation)
    return stream


def _encode_audio(container: OutputContainer, astream: AudioStream, spec: ClipSpec, events: np.ndarray) -> None:
    sr = spec.sample_rate
    chans = [
        burst_audio(
            events * (1.0 + spec.drift) - spec.offset_s + c * spec.channel_shift_s, spec.duration, sr, freq=f,
            burst_s=spec.burst_s, timbre=spec.timbre
        )
        for c, f in enumerate(spec.channel_tones)
    ]
    pcm = np.stack(chans)
    if spec.audio_start_s > 0:
        pcm = pcm[:, int(round(spec.audio_start_s * sr)) :]
    _mux_pcm(container, astream, pcm, sr, start=int(round(spec.audio_start_s * sr)))


def _mux_pcm(container: OutputContainer, stream: AudioStream, pcm: np.ndarray, sr: int, *, start: int = 0,
             block: int = 1024) -> None:
    """Encode ``[C, T]`` float PCM into ``stream`` as s16 frames whose pts start at sample ``start``."""
    s16 = np.clip(pcm * 32767, -32768, 32767).astype(np.int16)
    layout = "mono" if s16.shape[0] == 1 else ("stereo" if s16.shape[0] == 2 else f"{s16.shape[0]}c")
    for i in range(0, s16.shape[1], block):
        chunk = np.ascontiguousarray(s16[:, i : i + block].T.reshape(1, -1))
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout=layout)
        frame.sample_rate = sr
        frame.pts = start + i
        frame.time_base = Fraction(1, sr)
        for p in stream.encode(frame):
            container.mux(p)
    for p in stream.encode():
        container.mux(p)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, *, preset: str = "wav") -> str:
    """Write ``[T]`` or ``[C, T]`` float audio with PyAV (wav, flac, mp3, ogg, m4a)."""
    fmt, _, acodec = CODEC_PRESETS[preset]
    audio = np.asarray(audio, np.float32)
    audio = audio[None] if audio.ndim == 1 else audio
    layout = "mono" if audio.shape[0] == 1 else ("stereo" if audio.shape[0] == 2 else f"{audio.shape[0]}c")
    with av.open(os.fspath(path), "w", format=fmt) as container:
        stream = cast(AudioStream, container.add_stream(acodec, rate=sample_rate, options=_AUDIO_OPTIONS.get(acodec, {})))
        stream.layout = layout
        _mux_pcm(container, stream, audio, sample_rate)
    return os.fspath(path)


def write_audio_streams(path: str | os.PathLike, streams: Sequence[tuple[np.ndarray, Mapping[str, str] | None]],
                        sample_rate: int, *, preset: str = "mkv-aac") -> str:
    """Write several audio streams into one file: ``streams`` is a list of ``(audio, tags)`` pairs,
    ``audio`` ``[T]`` or ``[C, T]`` float, ``tags`` stream metadata such as ``{"language": "fra", "title": ...}``."""
    fmt, acodec = {"mkv-aac": ("matroska", "aac"), "mp4-aac": ("mp4", "aac")}[preset]
    pcms = []
    with av.open(os.fspath(path), "w", format=fmt) as container:
        for audio, tags in streams:
            pcm = np.asarray(audio, np.float32)
            pcm = pcm[None] if pcm.ndim == 1 else pcm
            stream = cast(AudioStream,
                          container.add_stream(acodec, rate=sample_rate, options=_AUDIO_OPTIONS.get(acodec, {})))
            stream.layout = "mono" if pcm.shape[0] == 1 else "stereo"
            for k, v in (tags or {}).items():
                stream.metadata[k] = v
            pcms.append((stream, pcm))
        for stream, pcm in pcms:
            _mux_pcm(container, stream, pcm, sample_rate)
    return os.fspath(path)
