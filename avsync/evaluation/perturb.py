"""Re-encode inputs the way real channels degrade them (robustness evaluation), with PyAV.

Each :class:`Perturbation` changes the audio, the video, or both; the other stream is copied
packet for packet (no second generation loss). Timestamps are kept, so the audio/video offset of
the source survives re-encoding. Outputs go to a cache folder keyed by the source's sha256, so a
rerun re-encodes nothing.

Audio-visual outputs use Matroska (it holds every codec here and any copied stream), except where a copied
video starts before time 0 (an MP4 edit list hiding pre-roll frames, which Matroska would show): QuickTime
keeps that start, and an audio codec it cannot hold (Opus) is stored decoded, its encoder delay cut. Audio-only
outputs use the container natural for the codec (``.m4a``, ``.ogg``, ``.wav``, ``.mp3``).
"""

from __future__ import annotations

import functools
import itertools
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Literal, cast

import av
import numpy as np
from av.audio.codeccontext import AudioCodecContext
from av.container import InputContainer, OutputContainer

from avsync.errors import ConfigError, MediaError
from avsync.evaluation.manifest import AudioEdit
from avsync.media import file_sha256, inspect_media
from avsync.results import Status

__all__ = [
    "PERTURBATIONS",
    "Perturbation",
    "apply_audio_edit",
    "apply_perturbation",
    "edit_audio",
    "silence_bounds",
    "transcode",
    "trim_silence",
]

Applies = Literal["audio", "video"]


@dataclass(frozen=True)
class Perturbation:
    """One re-encoding.

    Attributes
    ----------
    name
        Identifier used on the command line and in reports.
    applies_to
        ``"audio"`` or ``"video"``: files lacking that stream are left unchanged (``n/a``).
    audio_codec, audio_bitrate, audio_rate, audio_container
        Audio encoder settings (``audio_rate`` ``None`` keeps the source rate) and the container
        of audio-only outputs.
    video_crf, video_height, video_fps
        libx264 constant-rate factor, output height (width keeps the aspect ratio, even), output
        frame rate (by timestamp: each output frame shows the latest source frame).
    video_rescale
        Heights each frame is scaled to (area) and back from (bicubic) before encoding, as a platform's
        transcoding ladder does.
    video_upscale, sharpen
        Output size factor (Lanczos; the output height is capped at 1440 lines) and the amount of an unsharp
        mask (radius 1.5 px): what an "enhance" filter does to a face.
    generations
        How many times the whole re-encoding is applied, each to the previous output.
    store_decoded
        Keep the codec's decoded output (16-bit PCM) instead of its bitstream, every channel through the codec
        on its own: for a codec whose format holds one channel only (AMR-NB), so that a stereo call stays stereo.
    """

    name: str
    description: str
    applies_to: Applies
    audio_codec: str | None = None
    audio_bitrate: int | None = None
    audio_rate: int | None = None
    audio_container: tuple[str, str] | None = None  # (format, extension)
    video_crf: int | None = None
    video_height: int | None = None
    video_fps: float | None = None
    video_rescale: tuple[int, ...] = ()
    video_upscale: float | None = None
    sharpen: float = 0.0
    generations: int = 1
    store_decoded: bool = False


PERTURBATIONS: dict[str, Perturbation] = {
    p.name: p
    for p in [
        Perturbation("aac64k", "AAC 64 kbit/s", "audio", "aac", 64_000, None, ("ipod", ".m4a")),
        Perturbation("opus16k", "Opus 16 kbit/s (48 kHz)", "audio", "libopus", 16_000, 48_000, ("ogg", ".ogg")),
        Perturbation("mulaw8k", "G.711 μ-law, 8 kHz (telephone)", "audio", "pcm_mulaw", None, 8_000, ("wav", ".wav")),
        Perturbation("mp3_32k", "MP3 32 kbit/s", "audio", "libmp3lame", 32_000, None, ("mp3", ".mp3")),
        Perturbation("amrnb", "AMR-NB 12.2 kbit/s, 8 kHz (mobile telephone; decoded output kept, each channel coded "
                     "on its own)", "audio", "libopencore_amrnb", 12_200, 8_000, ("wav", ".wav"), store_decoded=True),
        Perturbation("h264_crf23", "H.264 CRF 23 (libx264 default quality)", "video", video_crf=23),
        Perturbation("h264_crf35", "H.264 CRF 35 (heavy compression)", "video", video_crf=35),
        Perturbation("360p", "downscale to 360 lines (H.264 CRF 18)", "video", video_crf=18, video_height=360),
        Perturbation("25fps", "frame rate to 25 fps by timestamp (e.g. 30→25; H.264 CRF 18)", "video",
                     video_crf=18, video_fps=25.0),
        Perturbation("social2x", "two generations of social-media transcoding: each scales the frames to 360 lines "
                     "and back and re-encodes at H.264 CRF 28", "video", video_crf=28, video_rescale=(360,),
                     generations=2),
        Perturbation("enhance", "upscaled 2x (Lanczos, at most 1440 lines) and sharpened (unsharp mask), as an "
                     "enhancement filter would; H.264 CRF 18", "video", video_crf=18, video_upscale=2.0, sharpen=1.0),
    ]
}

_LAYOUTS = {1: "mono", 2: "stereo"}
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def _layout(n: int) -> str:
    return _LAYOUTS.get(n, f"{n}c")


# -------------------------------------------------------------------------------- audio helpers
def _audio_chunks(
    container: InputContainer, stream: av.AudioStream, rate: int | None, *, first_time: list[float] | None = None
) -> Iterator[tuple[np.ndarray, int]]:
    """Decoded audio as float32 ``[C, n]`` chunks at ``rate`` (source rate if None), with their rate; the time of
    the first decoded frame is appended to ``first_time`` when given."""
    channels = stream.codec_context.channels
    resampler = av.AudioResampler(format="fltp", layout=_layout(channels), rate=rate or stream.codec_context.sample_rate)
    for frame in container.decode(stream):
        if first_time is not None and not first_time and frame.time is not None:
            first_time.append(float(frame.time))
        for out in resampler.resample(frame):
            yield out.to_ndarray().astype(np.float32, copy=False), out.sample_rate
    for out in resampler.resample(None):
        yield out.to_ndarray().astype(np.float32, copy=False), out.sample_rate


def _encode_audio(out_container: OutputContainer, out_stream: av.AudioStream, chunks: Iterable[tuple[np.ndarray, int]],
                  *, start_sample: int = 0, stop_sample: int | None = None,
                  pts0: int = 0) -> None:
    """Encode float ``[C, n]`` chunks, keeping samples ``[start_sample, stop_sample)``."""
    pos = 0
    pts = pts0
    for arr, sr in chunks:
        a, b = pos, pos + arr.shape[1]
        pos = b
        lo, hi = max(a, start_sample), b if stop_sample is None else min(b, stop_sample)
        if hi <= lo:
            if stop_sample is not None and a >= stop_sample:
                break
            continue
        piece = np.ascontiguousarray(arr[:, lo - a : hi - a])
        frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout=_layout(piece.shape[0]))
        frame.sample_rate = sr
        frame.pts = pts
        frame.time_base = Fraction(1, sr)
        pts += piece.shape[1]
        for p in out_stream.encode(frame):
            out_container.mux(p)
    for p in out_stream.encode(None):
        out_container.mux(p)


def _codec_round_trip(
    chunks: Iterable[tuple[np.ndarray, int]], codec: str, rate: int, channels: int, bitrate: int | None
):
    """Encode float chunks with ``codec`` and decode them again (the channel's loss, any container).

    The encoder's leading delay that a container would signal (Opus: the pre-skip of its header) is cut, so the
    output lines up with the input. A codec of one channel only (AMR-NB) codes each channel on its own."""
    if codec in _MONO_CODECS and channels > 1:
        whole = np.concatenate([a for a, _ in chunks], axis=1)
        coded = [np.concatenate([a for a, _ in _codec_round_trip([(ch[None], rate)], codec, rate, 1, bitrate)], axis=1)[0]
                 for ch in whole]
        n = min(len(c) for c in coded)
        yield np.stack([c[:n] for c in coded]), rate
        return
    enc = cast(AudioCodecContext, av.CodecContext.create(codec, "w"))  # an audio codec: an audio context
    enc.sample_rate = rate
    enc.layout = _layout(channels)
    formats = enc.codec.audio_formats
    assert formats is not None  # an audio codec lists its sample formats
    enc.format = av.AudioFormat(formats[0].name)
    enc.time_base = Fraction(1, rate)
    if bitrate:
        enc.bit_rate = bitrate
    dec = cast(AudioCodecContext, av.CodecContext.create(codec, "r"))
    dec.sample_rate = rate
    dec.layout = _layout(channels)
    to_float = av.AudioResampler(format="fltp", layout=_layout(channels), rate=rate)
    skip: list[int] = []  # samples still to cut from the start (known once the encoder is open)

    def emit(decoded: av.AudioFrame) -> Iterator[tuple[np.ndarray, int]]:
        if not skip:
            head = bytes(enc.extradata or b"")
            skip.append(int.from_bytes(head[10:12], "little") * rate // 48_000 if head.startswith(b"OpusHead") else 0)
        for out in to_float.resample(decoded):
            arr = out.to_ndarray().astype(np.float32, copy=False)
            cut = min(skip[0], arr.shape[1])
            skip[0] -= cut
            if arr.shape[1] > cut:
                yield arr[:, cut:], out.sample_rate

    pts = 0
    for arr, sr in list(chunks) + [(None, rate)]:
        frame = None
        if arr is not None:
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format="fltp", layout=_layout(arr.shape[0]))
            frame.sample_rate, frame.pts, frame.time_base = sr, pts, Fraction(1, sr)
            pts += arr.shape[1]
        for packet in enc.encode(frame):
            for decoded in dec.decode(packet):
                yield from emit(decoded)
    for decoded in dec.decode(None):
        yield from emit(decoded)


def _add_audio_stream(out_container: OutputContainer, codec: str, rate: int, channels: int,
                      bitrate: int | None) -> av.AudioStream:
    stream = cast(av.AudioStream, out_container.add_stream(codec, rate=rate))  # an audio codec: an audio stream
    stream.layout = _layout(channels)
    if bitrate:
        stream.bit_rate = bitrate
    return stream


# -------------------------------------------------------------------------------- video helpers
def _even(x: float) -> int:
    return max(2, int(x) // 2 * 2)


def _video_frames(
    container: InputContainer, stream: av.VideoStream, fps: float | None
) -> Iterator[tuple[av.VideoFrame, float]]:
    """Decoded frames with their presentation time; with ``fps``, resampled by timestamp."""
    if fps is None:
        for frame in container.decode(stream):
            if frame.time is not None:
                yield frame, float(frame.time)
        return
    prev: av.VideoFrame | None = None
    prev_t, k, last_dt = 0.0, 0, 1.0 / fps  # prev_t and k are read only once prev is set
    for frame in container.decode(stream):
        if frame.time is None:
            continue
        t = float(frame.time)
        if prev is None:
            k = math.ceil(t * fps - 1e-6)
        else:
            last_dt = max(1e-3, t - prev_t)
            while k / fps < t - 1e-6:  # frames shown before this one arrives: the previous one
                yield prev, k / fps
                k += 1
        prev, prev_t = frame, t
    if prev is not None:
        while k / fps < prev_t + last_dt - 1e-6:
            yield prev, k / fps
            k += 1


def _add_video_stream(out_container: OutputContainer, in_stream: av.VideoStream, *, crf: int, height: int | None,
                      fps: float | None, rotation: int,
                      upscale: float | None = None):
    """A libx264 output stream (created before anything is muxed) and its frame size."""
    cc = in_stream.codec_context
    w: float = cc.width
    h: float = cc.height
    if height is not None and height < h:
        w, h = w * height / h, height
    if upscale is not None:
        f = min(upscale, max(1.0, 1440 / h))
        w, h = w * f, h * f
    w, h = _even(round(w)), _even(round(h))
    rate = Fraction(fps).limit_denominator(1001) if fps else (in_stream.average_rate or Fraction(25))
    out = out_container.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": "veryfast"})
    out.width, out.height, out.pix_fmt = w, h, "yuv420p"
    out.time_base = _VIDEO_TB
    out.codec_context.time_base = _VIDEO_TB
    if rotation:
        out.set_display_rotation(rotation)
    return out


_VIDEO_TB = Fraction(1, 1000)


def _filtered(frame: av.VideoFrame, out: av.VideoStream, rescale: tuple[int, ...], sharpen: float) -> av.VideoFrame:
    """``frame`` at the output size, through the rescaling ladder and the unsharp mask of a perturbation."""
    for h in rescale:
        w = _even(round(frame.width * h / frame.height))
        frame = frame.reformat(width=w, height=_even(h), interpolation="AREA").reformat(
            width=out.width, height=out.height, interpolation="BICUBIC")
    if sharpen:
        import cv2

        frame = frame.reformat(width=out.width, height=out.height, format="rgb24", interpolation="LANCZOS")
        x = frame.to_ndarray().astype(np.float32)
        x = np.clip(x + sharpen * (x - cv2.GaussianBlur(x, (0, 0), 1.5)), 0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(x, format="rgb24")
    return frame.reformat(width=out.width, height=out.height, format="yuv420p")


def _encode_video(out_container: OutputContainer, out: av.VideoStream, frames: Iterable[tuple[av.VideoFrame, float]],
                  *, t0: float = 0.0, t1: float | None = None,
                  rescale: tuple[int, ...] = (), sharpen: float = 0.0) -> None:
    """Encode ``(frame, time_s)`` pairs with ``t0 <= time < t1``, shifted so that ``t0`` becomes 0."""
    last_pts = -1
    for frame, t in frames:
        if t < t0 - 1e-6:
            continue
        if t1 is not None and t >= t1:
            break
        img = _filtered(frame, out, rescale, sharpen)
        img.pts = max(last_pts + 1, round((t - t0) / _VIDEO_TB))
        img.time_base = _VIDEO_TB
        last_pts = img.pts
        for p in out.encode(img):
            out_container.mux(p)
    for p in out.encode(None):
        out_container.mux(p)


def _copy_stream(in_container: InputContainer, in_stream: av.stream.Stream, out_container: OutputContainer,
                 out_stream: av.stream.Stream, *, skip_before_zero: bool = False) -> None:
    """Copy ``in_stream``'s packets; ``skip_before_zero``: leave out the packets that end before time 0 (the
    encoder priming an MP4 edit list hides, which a container without edit lists would play)."""
    for packet in in_container.demux(in_stream):
        if packet.dts is None and packet.pts is None:
            continue
        if (skip_before_zero and packet.pts is not None and packet.time_base is not None
                and (packet.pts + (packet.duration or 0)) * packet.time_base <= 0 < -packet.pts * packet.time_base):
            continue
        packet.stream = out_stream
        out_container.mux(packet)


# -------------------------------------------------------------------------------------- transcode
def transcode(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    perturbation: Perturbation,
) -> str:
    """Apply ``perturbation`` to ``src`` and write ``dst`` (its extension picks the container).

    The stream the perturbation does not touch is copied packet for packet. Raises
    :class:`~avsync.errors.MediaError` if ``src`` lacks the stream the perturbation changes.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    if perturbation.generations > 1:  # each generation re-encodes the previous one's output
        first = replace(perturbation, generations=1)
        tmp = dst + ".gen1" + Path(dst).suffix
        try:
            transcode(src, tmp, first)
            return transcode(tmp, dst, replace(perturbation, generations=perturbation.generations - 1))
        finally:
            Path(tmp).unlink(missing_ok=True)
    info = inspect_media(src, sha256=False)
    if info.status.is_failure:
        raise MediaError(f"{src}: cannot re-encode ({info.status}: {info.message})", status=info.status)
    p = perturbation
    if p.applies_to == "audio" and info.audio is None:
        raise MediaError(f"{src} has no audio track for perturbation {p.name}", status=Status.NO_AUDIO)
    if p.applies_to == "video" and info.video is None:
        raise MediaError(f"{src} has no video track for perturbation {p.name}", status=Status.NO_VIDEO)
    tmp = dst + ".part"
    fmt = _container(src, p, info.video is not None)
    # the second stream is read from a second opening of the file, not after a seek back to the start: a seek
    # lands past packets before time 0 (AAC decoded after it lost its first 1024 samples and came out 23 ms early)
    with av.open(src) as inp, av.open(src) as inp2, av.open(tmp, "w", format=fmt) as out:
        a_in = inp.streams.audio[0] if inp.streams.audio else None
        v_in = inp.streams.video[0] if inp.streams.video else None
        if p.applies_to == "audio":
            assert a_in is not None and info.audio is not None  # checked above
            assert p.audio_codec is not None  # an audio perturbation names its codec
            v_out = out.add_stream_from_template(v_in) if v_in is not None else None
            rate = p.audio_rate or a_in.codec_context.sample_rate
            if p.audio_codec == "libmp3lame" and rate not in _MP3_RATES:
                rate = min(_MP3_RATES, key=lambda r: abs(r - rate))
            channels = a_in.codec_context.channels
            start: list[float] = []  # the time of the first decoded audio: where the re-encoded audio starts
            chunks = _audio_chunks(inp2, inp2.streams.audio[0], rate, first_time=start)
            try:
                if p.store_decoded or (fmt == "mov" and p.audio_codec not in _MOV_AUDIO):
                    raise ValueError(f"{p.name}: store the decoded output")
                a_out = _add_audio_stream(out, p.audio_codec, rate, channels, p.audio_bitrate)
            except ValueError:  # the container cannot hold this codec: store its decoded output losslessly
                a_out = _add_audio_stream(out, "pcm_s16le", rate, channels, None)
                chunks = _codec_round_trip(chunks, p.audio_codec, rate, channels, p.audio_bitrate)
            if v_out is not None:
                assert v_in is not None  # v_out is its copy
                _copy_stream(inp, v_in, out, v_out)
            # beside a copied video (which keeps its timestamps) the audio keeps its own start on the file's clock;
            # an audio-only output starts at 0
            chunks = iter(chunks)
            head = next(chunks, None)
            t0 = (start[0] if start else info.audio.start_s) if v_out is not None else 0.0
            _encode_audio(out, a_out, itertools.chain([head] if head is not None else [], chunks),
                          pts0=round(t0 * rate))
        else:
            assert v_in is not None
            a_copy = out.add_stream_from_template(a_in) if a_in is not None else None
            rotation = info.video.rotation if info.video else 0
            v_out = _add_video_stream(out, v_in, crf=p.video_crf or 23, height=p.video_height, fps=p.video_fps,
                                      rotation=rotation, upscale=p.video_upscale)
            _encode_video(out, v_out, _video_frames(inp, v_in, p.video_fps), rescale=p.video_rescale,
                          sharpen=p.sharpen)
            if a_copy is not None:
                assert a_in is not None  # a_copy is its copy
                _copy_stream(inp2, inp2.streams.audio[0], out, a_copy, skip_before_zero=True)
    os.replace(tmp, dst)
    return dst


_MONO_CODECS = frozenset({"libopencore_amrnb"})
"""Audio encoders of one channel only."""
_MOV_AUDIO = frozenset({"aac", "libmp3lame", "pcm_mulaw", "pcm_s16le", "pcm_f32le"})
"""Audio encoders whose output QuickTime holds (Opus is refused there: stored decoded instead)."""


def _video_starts_before_zero(src: str, packets: int = 32) -> bool:
    """Whether a video packet among the first ``packets`` sits before time 0: an MP4 edit list hiding pre-roll
    frames, which a copy into Matroska would shift to the start and show (``real_av/astorfi/sample_video.mp4``:
    1.8 s). Several packets, since with B-frames the first in decoding order need not be the earliest."""
    with av.open(src) as c:
        if not c.streams.video:
            return False
        times = [float(pk.pts * pk.time_base) for pk, _ in zip(c.demux(c.streams.video[0]), range(packets))
                 if pk.pts is not None and pk.time_base is not None]
    return bool(times) and min(times) < -1e-3


def _container(src: str, perturbation: Perturbation, has_video: bool) -> str:
    """Output format: the codec's own for audio-only files; Matroska for videos, QuickTime where the video,
    copied packet for packet, starts before time 0 (QuickTime keeps the edit list's start)."""
    if not has_video:
        return perturbation.audio_container[0] if perturbation.audio_container else "matroska"
    return "mov" if perturbation.applies_to == "audio" and _video_starts_before_zero(src) else "matroska"


def _output_path(src: str, cache_dir: Path, perturbation: Perturbation, sha: str, has_video: bool) -> Path:
    fmt = _container(src, perturbation, has_video)
    if has_video or perturbation.audio_container is None:
        ext = {"mov": ".mov", "matroska": ".mkv"}[fmt] if has_video else ".mka"
    else:
        ext = perturbation.audio_container[1]
    return cache_dir / perturbation.name / f"{sha[:24]}{ext}"


@functools.cache
def encoder_available(codec: str) -> bool:
    """Whether the installed PyAV can encode ``codec`` (an FFmpeg encoder name, e.g. ``libopencore_amrnb``); PyAV's
    wheels differ in the encoders they were built with."""
    import av

    try:
        av.codec.Codec(codec, "w")
    except Exception:  # noqa: BLE001  # UnknownCodecError, or an encoder this build was made without
        return False
    return True


def require_encoder(codec: str, what: str) -> None:
    """Raise :class:`~avsync.errors.ConfigError` naming ``what`` when the installed PyAV cannot encode ``codec``."""
    if not encoder_available(codec):
        raise ConfigError(f"{what}: the installed PyAV has no {codec} encoder (av 18.1.1's wheels hold no AMR-NB "
                          "encoder; pip install 'av==18.1.0' has one)")


def apply_perturbation(
    src: str | os.PathLike,
    name: str | Perturbation,
    *,
    cache_dir: str | os.PathLike,
    sha256: str | None = None,
) -> tuple[str, bool]:
    """Re-encode ``src`` with perturbation ``name`` (a name of :data:`PERTURBATIONS`, or a
    :class:`Perturbation` of one's own) into ``cache_dir`` (reused when already there).

    Returns
    -------
    path, applied
        The re-encoded file, or ``src`` itself with ``applied=False`` when the file lacks the
        stream the perturbation changes (e.g. a video perturbation on a wav).
    """
    if isinstance(name, Perturbation):
        p = name
    elif name in PERTURBATIONS:
        p = PERTURBATIONS[name]
    else:
        raise ConfigError(f"unknown perturbation {name!r}; choose from {', '.join(PERTURBATIONS)}")
    src = os.fspath(src)
    info = inspect_media(src, sha256=sha256 is None)
    if info.status.is_failure:
        raise MediaError(f"{src}: {info.status}: {info.message}", status=info.status)
    if (p.applies_to == "audio" and info.audio is None) or (p.applies_to == "video" and info.video is None):
        return src, False
    if p.audio_codec:
        require_encoder(p.audio_codec, f"perturbation {p.name!r}")
    sha = sha256 or info.sha256 or file_sha256(src)
    dst = _output_path(src, Path(cache_dir), p, sha, info.video is not None)
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        transcode(src, dst, p)
    return os.fspath(dst), True


# ------------------------------------------------------------------------------------ audio edits
def edit_audio(src: str | os.PathLike, dst: str | os.PathLike, edit: AudioEdit) -> str:
    """Write ``dst`` (QuickTime): ``src``'s video copied packet for packet and its audio as ``edit`` says.

    The audio is decoded as the analysis reads it (:attr:`~avsync.media.Media.audio`: the analysis rate,
    channels kept, sample 0 at the file's first timestamp), taken from ``edit.source`` instead when given
    (its channels mixed, looped or cut to this file's length, in each of this file's channels), moved by ``edit.shift_frames`` 25 fps frames with
    :func:`avsync.synth.shift_audio`, and stored as 32-bit float PCM from the same first timestamp, so that
    the analysis reads back exactly these samples. QuickTime, not Matroska: a video whose first frames sit
    before time 0 (an MP4 edit list hiding the encoder's pre-roll) keeps them hidden; Matroska would shift the
    whole file to start at 0 and show them (1.8 s of extra video on one clip of the benchmark sets). The end of
    such an edit list is not carried over: frames it hid after the last shown one may show (2 frames, 67 ms,
    on that clip). Raises :class:`~avsync.errors.MediaError` when ``src``
    has no video or ``edit.source`` no audio.
    """
    from avsync.media import load_media
    from avsync.synth import shift_audio

    src, dst = os.fspath(src), os.fspath(dst)
    media = load_media(src, require="video")
    sr = media.sample_rate
    n = max(1, round(media.duration * sr))
    if edit.source is not None:
        donor = np.resize(load_media(edit.source, require="audio").mono(), n)
        audio = np.repeat(donor[None], media.audio.shape[0] if media.has_audio else 1, axis=0)
    elif media.has_audio:
        audio = media.audio
    else:
        raise MediaError(f"{src} has no audio track to edit", status=Status.NO_AUDIO)
    if edit.shift_frames:
        audio = np.stack([shift_audio(ch, edit.shift_frames, sr, 25.0) for ch in audio])
    tmp = dst + ".part"
    with av.open(src) as inp, av.open(tmp, "w", format="mov") as out:
        v_in = inp.streams.video[0]
        v_out = out.add_stream_from_template(v_in)
        a_out = _add_audio_stream(out, "pcm_f32le", sr, audio.shape[0], None)
        _copy_stream(inp, v_in, out, v_out)
        _encode_audio(out, a_out, [(np.asarray(audio, np.float32), sr)], pts0=round(media.origin_s * sr))
    os.replace(tmp, dst)
    return dst


def apply_audio_edit(src: str | os.PathLike, edit: AudioEdit, *, cache_dir: str | os.PathLike,
                     sha256: str | None = None) -> str:
    """:func:`edit_audio` into ``cache_dir``, named by the sha256 of ``src`` (and of ``edit.source``) and the
    shift; reused when already there."""
    src = os.fspath(src)
    if edit.source is not None and not os.path.isfile(edit.source):
        raise MediaError(f"the audio to put in ({edit.source}) does not exist", status=Status.NOT_FOUND)
    sha = sha256 or file_sha256(src)
    donor = f"-from{file_sha256(edit.source)[:16]}" if edit.source else ""
    dst = Path(cache_dir) / f"{sha[:24]}{donor}-shift{edit.shift_frames:+d}.mov"
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        edit_audio(src, dst, edit)
    return os.fspath(dst)


# ---------------------------------------------------------------------------------- silence trim
def silence_bounds(
    audio: np.ndarray, sample_rate: int, *, threshold_db: float = -40.0, floor_db: float = -60.0,
    frame_s: float = 0.02, pad_s: float = 0.05,
) -> tuple[float, float]:
    """Start and end (seconds) of the non-silent part of ``[T]`` or ``[C, T]`` audio.

    A 20 ms frame is active when its RMS is within ``threshold_db`` of the loudest frame and above
    ``floor_db`` dBFS. ``pad_s`` of context is kept on both sides. All-silent audio gives
    ``(0, duration)`` (nothing is trimmed).
    """
    x = np.asarray(audio, np.float32)
    x = x.mean(axis=0) if x.ndim == 2 else x
    n = max(1, round(frame_s * sample_rate))
    m = x.size // n
    dur = x.size / sample_rate
    if m == 0:
        return 0.0, dur
    rms = np.sqrt(np.mean(x[: m * n].reshape(m, n).astype(np.float64) ** 2, axis=1) + 1e-20)
    db = 20 * np.log10(rms)
    active = (db > db.max() + threshold_db) & (db > floor_db)
    if not active.any():
        return 0.0, dur
    idx = np.flatnonzero(active)
    start = max(0.0, idx[0] * n / sample_rate - pad_s)
    end = min(dur, (idx[-1] + 1) * n / sample_rate + pad_s)
    return float(start), float(end)


def trim_silence(
    src: str | os.PathLike, *, cache_dir: str | os.PathLike, threshold_db: float = -40.0, pad_s: float = 0.05,
    sha256: str | None = None,
) -> tuple[str, tuple[float, float]]:
    """Cut leading and trailing silence (the FakeAVCeleb / AV-Deepfake1M shortcut) into ``cache_dir``.

    Fake and real sets often differ in how much silence surrounds the speech, and a model can learn
    that instead of the speech. Audio is re-encoded losslessly (16-bit PCM at the source rate);
    video, when present, is re-encoded with H.264 CRF 12 over the same time range. Returns the new
    path (``src`` when nothing needs trimming) and the kept ``(start_s, end_s)`` on the media timeline.
    """
    from avsync.media import load_media

    src = os.fspath(src)
    media = load_media(src)
    if not media.has_audio:
        return src, (0.0, media.duration)
    start, end = silence_bounds(media.audio, media.sample_rate, threshold_db=threshold_db, pad_s=pad_s)
    if start <= 0.0 and end >= media.duration - 1e-3:
        return src, (0.0, media.duration)
    sha = sha256 or media.info.sha256 or file_sha256(src)
    has_video = media.has_video
    dst = Path(cache_dir) / f"trim{int(-threshold_db)}" / f"{sha[:24]}_{start:.3f}_{end:.3f}{'.mkv' if has_video else '.wav'}"
    if dst.exists():
        return os.fspath(dst), (start, end)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = os.fspath(dst) + ".part"
    origin = media.origin_s
    with av.open(src) as inp, av.open(tmp, "w", format="matroska" if has_video else "wav") as out:
        a_in = inp.streams.audio[0]
        v_in = inp.streams.video[0] if has_video else None
        v_out = None
        if v_in is not None:
            assert media.info.video is not None  # has_video
            v_out = _add_video_stream(out, v_in, crf=12, height=None, fps=None, rotation=media.info.video.rotation)
        rate = a_in.codec_context.sample_rate
        a_out = _add_audio_stream(out, "pcm_s16le", rate, a_in.codec_context.channels, None)
        assert media.info.audio is not None  # has_audio
        a_start = media.info.audio.start_s - origin
        s0 = round((start - a_start) * rate)
        s1 = round((end - a_start) * rate)
        pts0 = max(0, -s0)
        _encode_audio(out, a_out, _audio_chunks(inp, a_in, rate), start_sample=max(0, s0), stop_sample=s1, pts0=pts0)
        if v_in is not None:
            assert v_out is not None  # added above for v_in
            inp.seek(0)
            frames = ((f, t - origin) for f, t in _video_frames(inp, v_in, None))
            _encode_video(out, v_out, frames, t0=start, t1=end)
    os.replace(tmp, dst)
    return os.fspath(dst), (start, end)
