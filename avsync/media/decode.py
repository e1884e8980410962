"""Decoded media: audio as float32 ``[C, T]`` at the analysis rate, video as a stream of chunks.

The media timeline starts at ``t = 0`` = the earliest first-frame time of the audio and video
streams. Audio is padded with zeros before its first sample if it starts after the video, so sample
``i`` of :attr:`Media.audio` is always at ``i / sample_rate`` seconds; analysis frame ``k`` of
:meth:`Media.frames` is shown at ``k / fps`` seconds. Edit lists and stream start offsets are thus
respected, and the offset between the streams is reported in :attr:`MediaInfo.av_start_offset_s`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import ExitStack
from dataclasses import replace
from functools import partial
from typing import Any, Literal

import av
import numpy as np
import soxr

from avsync.errors import MediaError
from avsync.media.probe import MediaSource, describe_error, inspect_media, open_container
from avsync.media.types import AudioInfo, FrameChunk, MediaInfo, MediaLimits, Region, RgbSource, VideoInfo
from avsync.results import Status
from avsync.timebase import DEFAULT_FPS, DEFAULT_SAMPLE_RATE, seconds_to_samples

__all__ = ["HUGE_SAMPLE", "Media", "is_non_finite_warning", "is_repair_warning", "load_media", "resample_audio", "tame_spikes"]

_INTERPOLATION = "BILINEAR"  # swscale filter used when frames() resizes
_MAX_GAP_S = 30.0  # larger timestamp jumps are treated as broken timestamps, not silence

ResampleQuality = Literal["VHQ", "HQ", "MQ", "LQ", "QQ"]


def resample_audio(x: np.ndarray, sr_in: int, sr_out: int, *, quality: ResampleQuality = "HQ") -> np.ndarray:
    """Resample ``[C, T]`` (or ``[T]``) float audio with soxr's anti-aliasing filter."""
    if sr_in == sr_out:
        return np.ascontiguousarray(x, dtype=np.float32)
    y = soxr.resample(np.ascontiguousarray(np.asarray(x, dtype=np.float32).T), sr_in, sr_out, quality=quality)
    return np.ascontiguousarray(y.T, dtype=np.float32)


def _rotate(img: np.ndarray, rotation: int) -> np.ndarray:
    """``np.rot90(img, rotation // 90)`` as a contiguous array (OpenCV's transpose: 5–9× faster on 720p)."""
    k = (rotation // 90) % 4
    if not k:
        return img
    import cv2  # a core dependency; imported here so that importing avsync does not load OpenCV

    return cv2.rotate(img, (cv2.ROTATE_90_COUNTERCLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_CLOCKWISE)[k - 1])


def pcm_to_float(audio: np.ndarray) -> np.ndarray:
    """``audio`` as float32: integer PCM scaled to [-1, 1] by its type's range (``int16`` / 32768, ``uint8`` centred
    on 128), floats as they are. 64-bit integers, booleans and other types are a :class:`MediaError`."""
    kind = audio.dtype.kind
    if kind == "f":
        return audio.astype(np.float32, copy=False)
    if kind in "iu":
        if audio.dtype.itemsize > 4:  # int64: what np.array makes of Python ints, at no PCM scale anyone writes
            raise MediaError(f"audio samples as {audio.dtype} have no PCM scale: pass int16 / int32 PCM or floats in "
                             "[-1, 1]", status=Status.DECODE_ERROR)
        info = np.iinfo(audio.dtype)
        centre = 0.0 if kind == "i" else (info.max + 1) / 2
        return ((audio.astype(np.float64) - centre) / (info.max + 1 - centre)).astype(np.float32)
    raise MediaError(f"audio samples must be floats or integer PCM, got {audio.dtype}", status=Status.DECODE_ERROR)


def finite_audio(audio: np.ndarray) -> tuple[np.ndarray, int]:
    """``audio`` with NaN set to 0 and ±infinity to ±1 (full scale), and how many samples that changed.

    Float PCM (WAV, FLAC float, raw arrays) can carry non-finite values; left in, one of them turns
    every score computed over it into NaN.
    """
    bad = ~np.isfinite(audio)
    n = int(bad.sum())
    if not n:
        return audio, 0
    return np.nan_to_num(audio, nan=0.0, posinf=1.0, neginf=-1.0).astype(np.float32, copy=False), n


HUGE_SAMPLE = 1e3
"""Float PCM is nominally within ±1: a sample beyond ±1000 (+60 dB over full scale) is not sound but a
corrupt value; one of them (say 1e30) dwarfs the speech around it, which then reads as silence."""


def tame_spikes(audio: np.ndarray) -> tuple[np.ndarray, int]:
    """``audio`` with isolated huge samples set to 0 (silence), and how many samples that changed.

    A sample is a spike when its magnitude exceeds :data:`HUGE_SAMPLE` and 10 000 times the median
    magnitude of its block, so audio that is merely on another scale (floats holding int16 values,
    median in the hundreds) is left as it is.
    """
    mag = np.abs(audio)
    if not mag.size or float(mag.max()) <= HUGE_SAMPLE:
        return audio, 0
    limit = max(HUGE_SAMPLE, 1e4 * float(np.median(mag)))
    huge = mag > limit
    n = int(huge.sum())
    if not n:
        return audio, 0
    out = np.array(audio, dtype=np.float32, copy=True)
    out[huge] = 0.0
    return out, n


_NON_FINITE = "audio sample(s) were NaN or infinite"
_HUGE = "audio sample(s) were far beyond full scale"


def _non_finite_warning(n: int) -> str:
    return f"{n} {_NON_FINITE}; set to silence / full scale"


def _huge_warning(n: int) -> str:
    return f"{n} {_HUGE} (|x| > {HUGE_SAMPLE:g}, corrupt values); set to silence"


def is_non_finite_warning(text: str) -> bool:
    """Whether a media warning is the one :func:`finite_audio` repairs gave (for callers that relay it)."""
    return _NON_FINITE in text


def is_repair_warning(text: str) -> bool:
    """Whether a media warning says samples were repaired (:func:`finite_audio`, :func:`tame_spikes`)."""
    return _NON_FINITE in text or _HUGE in text


def _repair_warnings(n_bad: int, n_huge: int) -> tuple[str, ...]:
    return ((_non_finite_warning(n_bad),) if n_bad else ()) + ((_huge_warning(n_huge),) if n_huge else ())


class Media:
    """A validated media input with aligned audio and time-stamped video.

    Create it with :func:`load_media` (files, bytes) or :meth:`Media.from_arrays` (arrays).

    Attributes
    ----------
    info
        What :func:`~avsync.media.inspect_media` found (streams, durations, offsets, sha256).
    sample_rate
        Rate of :attr:`audio` in Hz (default 16 kHz).
    fps
        Analysis frame rate of :meth:`frames` (default 25).
    audio_blocks_from
        ``None``, or a callable ``(block_s) -> blocks`` that :meth:`audio_blocks` reads instead of decoding the file
        again, while :attr:`audio` is not decoded (the analysis of a long video keeps the audio it decoded once in a
        temporary file for the voice check: :class:`avsync.sections.MonoAudio`). It must give the same blocks.
    """

    audio_blocks_from: Callable[[float], Iterator[np.ndarray]] | None = None

    def __init__(
        self,
        info: MediaInfo,
        *,
        source: MediaSource | None = None,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        fps: float = DEFAULT_FPS,
        audio: np.ndarray | None = None,
        frames: np.ndarray | None = None,
    ):
        self.info = info
        self._info_lock = threading.Lock()  # analyses may decode one Media from two threads (pipeline.run_analyses)
        self._source = source
        self.sample_rate = int(sample_rate)
        self.fps = float(fps)
        self._audio = None if audio is None else np.ascontiguousarray(audio, dtype=np.float32)
        self._frames = frames
        starts = [s.start_s for s in (info.video, info.audio) if s is not None]
        self.origin_s = min(starts) if starts else 0.0

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        audio: np.ndarray | None,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        frames: np.ndarray | None = None,
        fps: float = DEFAULT_FPS,
        *,
        name: str | None = None,
    ) -> Media:
        """Wrap in-memory arrays (both start at ``t = 0``).

        Parameters
        ----------
        audio
            ``[T]`` or ``[C, T]`` float waveform in [-1, 1] at ``sample_rate``, or ``None``. Integer PCM samples
            (e.g. ``int16`` from a WAV reader) are scaled to [-1, 1] by their type's range, and a ``[T, C]`` array
            (frames first, as ``soundfile.read`` returns stereo) is read as ``[C, T]``: an array with more rows than
            columns cannot be channels over time.
        frames
            ``uint8`` ``[N, H, W, 3]`` or ``[N, H, W]`` video at ``fps``, or ``None``.
        """
        if audio is None and frames is None:
            raise MediaError("pass audio, frames or both", status=Status.EMPTY)
        a_info = v_info = None
        if audio is not None:
            audio = pcm_to_float(np.asarray(audio))
            audio = audio[None] if audio.ndim == 1 else audio
            if audio.ndim != 2:
                raise MediaError(f"audio must be [T] or [C, T], got shape {audio.shape}", status=Status.DECODE_ERROR)
            if 0 < audio.shape[1] < audio.shape[0] or (audio.shape[0] == 0 and 0 < audio.shape[1] <= 16):
                # [T, C]: frames first (an empty [0, C] too, as a WAV reader returns a stereo file without samples)
                audio = np.ascontiguousarray(audio.T)
            audio, n_bad = finite_audio(audio)
            audio, n_huge = tame_spikes(audio)
            a_info = AudioInfo(
                codec="pcm_f32",
                sample_rate=int(sample_rate),
                channels=int(audio.shape[0]),
                layout=None,
                start_s=0.0,
                duration_s=audio.shape[1] / float(sample_rate),
            )
        if frames is not None:
            frames = np.asarray(frames)
            if frames.ndim not in (3, 4) or frames.dtype != np.uint8:
                raise MediaError("frames must be uint8 [N, H, W(, 3)]", status=Status.DECODE_ERROR)
            v_info = VideoInfo(
                codec="rawvideo",
                width=int(frames.shape[2]),
                height=int(frames.shape[1]),
                fps=float(fps),
                measured_fps=float(fps),
                vfr=False,
                frames=int(frames.shape[0]),
                rotation=0,
                start_s=0.0,
                duration_s=frames.shape[0] / float(fps),
            )
        duration = max(s.duration_s for s in (a_info, v_info) if s is not None)
        info = MediaInfo(
            path=name,
            status=Status.OK if (a_info and v_info) else (Status.NO_AUDIO if v_info else Status.NO_VIDEO),
            container="arrays",
            duration_s=duration,
            video=v_info,
            audio=a_info,
            av_start_offset_s=0.0 if (a_info and v_info) else None,
            duration_mismatch_s=(a_info.duration_s - v_info.duration_s) if (a_info and v_info) else None,
            warnings=_repair_warnings(n_bad, n_huge) if audio is not None else (),
        )
        return cls(info, audio=audio, frames=frames, sample_rate=sample_rate, fps=fps)

    def at_rates(self, sample_rate: int = DEFAULT_SAMPLE_RATE, fps: float = DEFAULT_FPS) -> Media:
        """This media with its audio at ``sample_rate`` and its analysis frames at ``fps`` (``self`` when they are).

        The analyses read 16 kHz audio and 25 fps frames (the defaults); a :class:`Media` made at other rates
        (``load_media(..., sample_rate=8000)``, ``Media.from_arrays(audio, 48000, ...)``) is brought to them here. A
        file or bytes is opened again at the new rates; arrays are resampled (audio with soxr; frames by time: the
        new frame at ``t`` is the last old one shown at ``t``).
        """
        if sample_rate <= 0 or fps <= 0:
            raise MediaError(f"sample_rate and fps must be positive, got {sample_rate}, {fps}",
                             status=Status.CONFIG_ERROR)
        if int(sample_rate) == self.sample_rate and float(fps) == self.fps:
            return self
        if self._source is not None:
            return Media(self.info, source=self._source, sample_rate=sample_rate, fps=fps)
        audio = self._audio
        if audio is not None and int(sample_rate) != self.sample_rate:
            audio = resample_audio(audio, self.sample_rate, int(sample_rate))
        frames = self._frames
        if frames is not None and float(fps) != self.fps:
            n_new = max(1, math.ceil(frames.shape[0] * float(fps) / self.fps - 1e-6))
            idx = np.minimum(np.floor(np.arange(n_new) * self.fps / float(fps) + 1e-6).astype(int),
                             frames.shape[0] - 1)
            frames = frames[idx]
        return Media(self.info, audio=audio, frames=frames, sample_rate=sample_rate, fps=fps)

    # ------------------------------------------------------------------ properties
    @property
    def path(self) -> str | None:
        """The file's path as given to :func:`load_media` (a string), the ``name`` given to :meth:`from_arrays`,
        or ``None`` for in-memory bytes and unnamed arrays."""
        return self.info.path

    @property
    def has_audio(self) -> bool:
        """Whether the input has an audio stream (without one, :attr:`audio` raises a ``no_audio`` ``MediaError``)."""
        return self.info.audio is not None

    @property
    def has_video(self) -> bool:
        """Whether the input has a video stream (without one, :meth:`frames` raises a ``no_video`` ``MediaError``)."""
        return self.info.video is not None

    @property
    def duration(self) -> float:
        """Length of the media timeline in seconds (the longer stream, from ``t = 0``)."""
        ends = [s.start_s + s.duration_s - self.origin_s for s in (self.info.video, self.info.audio) if s is not None]
        return max(ends) if ends else 0.0

    @property
    def num_frames(self) -> int:
        """Number of analysis frames :meth:`frames` yields (at :attr:`fps`)."""
        v = self.info.video
        if v is None:
            return 0
        if self._frames is not None:
            return int(self._frames.shape[0])
        first = math.ceil((v.start_s - self.origin_s) * self.fps - 1e-6)
        last = math.ceil((v.start_s + v.duration_s - self.origin_s) * self.fps - 1e-6)
        return max(0, last - first)

    @property
    def audio(self) -> np.ndarray:
        """Float32 waveform ``[C, T]`` at :attr:`sample_rate`, aligned to ``t = 0`` (decoded once)."""
        if self.info.audio is None:
            raise MediaError(
                "the input has no audio track",
                status=Status.NO_AUDIO,
                hint="if the sound is in a separate file, join them first, e.g. `ffmpeg -i VIDEO -i AUDIO -map 0:v -map 1:a -c copy OUT.mkv`",
            )
        if self._audio is None:
            self._audio = self._decode_audio()
        return self._audio

    @property
    def num_channels(self) -> int:
        """Number of audio channels ``C`` of :attr:`audio` ``[C, T]``, read without decoding; 0 without audio."""
        return 0 if self.info.audio is None else self.info.audio.channels

    def mono(self) -> np.ndarray:
        """Mean of all channels, ``[T]`` float32."""
        return self.audio.mean(axis=0, dtype=np.float32)

    def channel(self, index: int) -> np.ndarray:
        """One channel, ``[T]`` float32 (e.g. agent = 0, customer = 1 in a stereo call)."""
        a = self.audio
        if not -a.shape[0] <= index < a.shape[0]:
            raise MediaError(f"channel {index} does not exist; the audio has {a.shape[0]}", status=Status.NO_AUDIO)
        return a[index]

    # ------------------------------------------------------------------ decoding
    def audio_blocks(self, block_s: float = 300.0) -> Iterator[np.ndarray]:
        """The audio as consecutive float32 ``[C, n]`` blocks of ``block_s`` seconds (the last one shorter).

        Their concatenation is :attr:`audio` exactly; only about one block is in memory at once when the
        audio has not been decoded yet (each call decodes the file again), so long recordings can be
        analysed at a memory that does not grow with their length. Decoding warnings (gaps, repaired
        samples) reach :attr:`info` by the end of the iteration.
        """
        if self.info.audio is None:
            self.audio  # noqa: B018  # the property raises the no-audio error with its hint
        if self._audio is None and self.audio_blocks_from is not None:  # decoded once already, kept in a file
            yield from self.audio_blocks_from(block_s)
            return
        n = max(1, seconds_to_samples(block_s, self.sample_rate))
        if self._audio is not None:
            total = self._audio.shape[1]
            for a in range(0, total, n):
                yield self._audio[:, a : a + n]
            if total == 0:
                yield self._audio
            return
        assert self.info.audio is not None  # checked above (the property raised otherwise)
        channels = self.info.audio.channels
        pending: list[np.ndarray] = []
        held = 0
        emitted = False
        for piece in self._decoded_pieces():
            pending.append(piece)
            held += piece.shape[1]
            while held >= n:
                buf = np.concatenate(pending, axis=1) if len(pending) > 1 else pending[0]
                yield np.ascontiguousarray(buf[:, :n])
                emitted = True
                rest = buf[:, n:]
                pending, held = ([rest] if rest.shape[1] else []), rest.shape[1]
        if held or not emitted:
            buf = np.concatenate(pending, axis=1) if pending else np.zeros((channels, 0), np.float32)
            yield np.ascontiguousarray(buf)

    def _decode_audio(self) -> np.ndarray:
        assert self.info.audio is not None  # only called by `audio` once it has checked
        channels = self.info.audio.channels
        pieces = list(self._decoded_pieces())
        audio = np.concatenate(pieces or [np.zeros((channels, 0), np.float32)], axis=1)
        return np.ascontiguousarray(audio)

    def _decoded_pieces(self) -> Iterator[np.ndarray]:
        """Decode, repair and resample the audio stream: ``[C, n]`` pieces aligned to ``t = 0``, in order."""
        ai = self.info.audio
        assert ai is not None and self._source is not None
        sr_in = ai.sample_rate
        channels = ai.channels
        stream_rs = None if sr_in == self.sample_rate else soxr.ResampleStream(
            sr_in, self.sample_rate, channels, dtype="float32", quality="HQ"
        )
        converter = av.AudioResampler(format="fltp")
        expected = None  # native-rate sample index of the next frame, to fill gaps
        gap_warned = False
        first_time = None
        n_bad = n_huge = 0  # non-finite and huge samples (float formats can carry NaN, infinity, 1e30)
        emitted = False
        trim = 0  # samples still to drop at the start (audio that starts before t = 0)

        def aligned(arr: np.ndarray) -> Iterator[np.ndarray]:
            """``arr`` after the lead (zeros when the audio starts late, a cut when it starts early)."""
            nonlocal emitted, trim
            if not emitted:
                emitted = True
                lead = seconds_to_samples((first_time if first_time is not None else ai.start_s) - self.origin_s,
                                          self.sample_rate)
                if lead > 0:
                    yield np.zeros((channels, lead), np.float32)
                trim = max(0, -lead)
            if trim:
                cut = min(trim, arr.shape[1])
                arr, trim = arr[:, cut:], trim - cut
            if arr.size:
                yield arr

        with open_container(self._source) as container:
            stream = container.streams.audio[0]
            try:
                for frame in container.decode(stream):
                    if first_time is None:
                        first_time = float(frame.time) if frame.time is not None else ai.start_s
                        expected = 0
                    for out in converter.resample(frame):
                        arr, bad = finite_audio(out.to_ndarray().astype(np.float32, copy=False))
                        arr, huge = tame_spikes(arr)
                        n_bad += bad
                        n_huge += huge
                        if arr.shape[0] != channels:  # layout change mid-stream: keep the channel count
                            arr = _match_channels(arr, channels)
                        if frame.time is not None and expected is not None:
                            pos = int(round((float(frame.time) - first_time) * sr_in))
                            gap = pos - expected
                            if sr_in // 100 < gap <= _MAX_GAP_S * sr_in:  # a hole > 10 ms: keep time with silence
                                yield from aligned(self._push(stream_rs, np.zeros((channels, gap), np.float32)))
                                expected += gap
                            elif gap > _MAX_GAP_S * sr_in and not gap_warned:
                                gap_warned = True
                                self._warn(f"audio timestamps jump by {gap / sr_in:.0f} s; the jump is not filled")
                        expected = (expected or 0) + arr.shape[1]
                        yield from aligned(self._push(stream_rs, arr))
            except av.error.FFmpegError as e:
                if not emitted:
                    raise MediaError(f"audio could not be decoded ({describe_error(e)})", status=Status.DECODE_ERROR) from e
                self._warn(f"audio decoding stopped early: {describe_error(e)}")
        if n_bad or n_huge:
            self._warn(*_repair_warnings(n_bad, n_huge))
        if stream_rs is not None:
            yield from aligned(stream_rs.resample_chunk(np.zeros((0, channels), np.float32), last=True).T)

    @staticmethod
    def _push(stream_rs: soxr.ResampleStream | None, arr: np.ndarray) -> np.ndarray:
        if stream_rs is None:
            return arr
        return stream_rs.resample_chunk(np.ascontiguousarray(arr.T)).T

    def _warn(self, *warnings: str) -> None:
        """Add decoding warnings to :attr:`info` (one update at a time: audio and video may decode in two threads)."""
        with self._info_lock:
            self.info = replace(self.info, warnings=self.info.warnings + tuple(warnings))

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
        """Yield the video as chunks of constant-rate analysis frames.

        Variable-frame-rate input is resampled **by timestamp**: analysis frame ``k`` (time
        ``k / fps``) takes the decoded frame whose presentation time is nearest. Rotation metadata
        is applied. Only ``chunk_size`` frames are in memory at once.

        Parameters
        ----------
        chunk_size
            Frames per chunk.
        size
            ``(width, height)`` to scale each (rotated) frame to, or ``None`` for the native size.
        gray
            Yield ``[N, H, W]`` luma instead of ``[N, H, W, 3]`` RGB. ``"luma"``: the same, but a picture read
            from an 8-bit YUV frame's luma plane is left as decoded and its range table goes beside it in
            ``chunk.extra["gray_tables"]`` (one per image; ``None`` where the image already is the gray picture):
            ``table[image]`` is exactly ``gray=True``'s picture, so a consumer can map only the pixels it reads.
        start, end
            Time range in seconds on the media timeline.
        only
            Yield only these analysis frame indices (the others are decoded — a codec cannot skip
            them — but not converted or scaled, which is most of the cost of a sparse selection).
        rgb_on_demand
            Also give each chunk :attr:`FrameChunk.rgb`: per image, a callable that makes its RGB picture (the
            picture ``gray=False`` gives) when called. A gray pass can thus convert the few frames it needs in
            colour without decoding the video again.
        """
        if self.info.video is None:
            raise MediaError(
                "the input has no video track", status=Status.NO_VIDEO, hint="only voice analysis applies to it"
            )
        if self._frames is not None:
            yield from self._array_frames(chunk_size, size, gray, start, end, only, rgb_on_demand)
            return
        yield from self._decode_frames(chunk_size, size, gray, start, end, only, rgb_on_demand)

    def _array_frames(
        self, chunk_size: int, size: tuple[int, int] | None, gray: bool | str, start: float, end: float | None,
        only: Collection[int] | None = None, rgb_on_demand: bool = False,
    ) -> Iterator[FrameChunk]:
        assert self._frames is not None  # frames() calls this only for a Media made from arrays
        frames = self._frames
        n = frames.shape[0]
        k0 = max(0, math.ceil(start * self.fps - 1e-6))
        k1 = n if end is None else min(n, math.ceil(end * self.fps - 1e-6))
        ks = np.arange(k0, k1) if only is None else np.array(sorted(k for k in set(only) if k0 <= k < k1), int)
        for a in range(0, len(ks), chunk_size):
            idx = ks[a : a + chunk_size]
            imgs = [_convert_array(frames[i], size, bool(gray)) for i in idx]
            t = idx / self.fps
            rgb = tuple(partial(_array_region, frames[i], size) for i in idx) if rgb_on_demand else None
            yield FrameChunk(np.stack(imgs), idx, t, t.copy(), self.fps, rgb=rgb)

    def _decode_frames(
        self, chunk_size: int, size: tuple[int, int] | None, gray: bool | str, start: float, end: float | None,
        only: Collection[int] | None = None, rgb_on_demand: bool = False,
    ) -> Iterator[FrameChunk]:
        vi = self.info.video
        # frames() checked the video; a Media without frame arrays was loaded from its source
        assert vi is not None and self._source is not None
        v_end = vi.start_s + vi.duration_s - self.origin_s
        stop = v_end if end is None else min(end, v_end)
        k = max(math.ceil(start * self.fps - 1e-6), math.ceil((vi.start_s - self.origin_s) * self.fps - 1e-6))
        fmt = "gray" if gray else "rgb24"
        # frames are copied straight into one preallocated chunk array (no per-frame arrays kept alive)
        buf: list[np.ndarray | None] = [None]
        buf_idx: list[int] = []
        buf_src: list[float] = []
        buf_rgb: list[RgbSource] = []  # with rgb_on_demand: the deferred RGB conversions
        luma = gray == "luma"
        buf_tables: list[np.ndarray | None] = []  # with gray="luma": each image's range table (None: mapped)
        prev: list[Any] | None = None  # [time, frame, converted array or None]

        def convert(entry: list[Any]) -> np.ndarray:
            if entry[2] is None:
                entry[2] = _convert_frame(entry[1], size, fmt)
            return entry[2]

        keep = None if only is None else frozenset(int(i) for i in only)

        def emit(entry: list[Any]) -> None:
            if keep is not None and k not in keep:
                return
            arr = buf[0]
            # gray from the luma plane goes straight into its row of the chunk (a frame repeated for the frame
            # rate is converted again: nothing else keeps a reference to a row of the chunk it yields); with
            # gray="luma" unmapped, its range table beside it
            done, table = False, None
            if gray and entry[2] is None and arr is not None:
                done, table = _gray_into(entry[1], size, arr[len(buf_idx)], map_range=not luma)
            if not done:
                img = convert(entry)
                if arr is None:
                    arr = buf[0] = np.empty((chunk_size, *img.shape), np.uint8)
                arr[len(buf_idx)] = img
            if luma:
                buf_tables.append(table)
            buf_idx.append(k)
            buf_src.append(entry[0])
            if rgb_on_demand:
                buf_rgb.append(partial(_frame_region, entry[1], size))

        def flush():
            idx = np.asarray(buf_idx)
            chunk = FrameChunk(buf[0][: len(idx)], idx, idx / self.fps, np.asarray(buf_src), self.fps,
                               rgb=tuple(buf_rgb) if rgb_on_demand else None)
            if luma:
                chunk.extra["gray_tables"] = tuple(buf_tables)
            buf[0] = None
            buf_idx.clear(), buf_src.clear(), buf_rgb.clear(), buf_tables.clear()
            return chunk

        with ExitStack() as opened:
            container = opened.enter_context(open_container(self._source))
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if start > 1.0:
                try:
                    assert stream.time_base is not None  # a demuxed stream has one
                    container.seek(int((start + self.origin_s - 1.0) / stream.time_base), stream=stream, backward=True)
                except av.error.FFmpegError:  # e.g. no keyframe before the target: decode from the start
                    container = opened.enter_context(open_container(self._source))
                    stream = container.streams.video[0]
                    stream.thread_type = "AUTO"
            last_t = None
            try:
                for frame in container.decode(stream):
                    if frame.time is None:
                        continue
                    t = float(frame.time) - self.origin_s
                    if last_t is not None and t <= last_t:  # duplicate or out-of-order timestamp
                        continue
                    last_t = t
                    cur = [t, frame, None]
                    while k / self.fps < t and k / self.fps < stop:
                        target = k / self.fps
                        if prev is None:
                            k += 1  # before the first decoded frame (only after a seek)
                            continue
                        emit(prev if target - prev[0] <= t - target else cur)
                        k += 1
                        if len(buf_idx) >= chunk_size:
                            yield flush()
                    prev = cur
                    if k / self.fps >= stop:
                        break
            except av.error.FFmpegError as e:
                if prev is None:
                    raise MediaError(f"video could not be decoded ({describe_error(e)})", status=Status.DECODE_ERROR) from e
                self._warn(f"video decoding stopped early, at {prev[0]:.1f} s: {describe_error(e)}")
            if prev is not None:  # hold the last frame until the stream's end
                while k / self.fps < stop - 1e-9:
                    emit(prev)
                    k += 1
                    if len(buf_idx) >= chunk_size:
                        yield flush()
        if buf_idx:
            yield flush()

    def __repr__(self) -> str:
        return (
            f"Media(path={self.path!r}, duration={self.duration:.2f}s, kind={self.info.kind!r}, "
            f"sample_rate={self.sample_rate}, fps={self.fps})"
        )


def _match_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    if arr.shape[0] > channels:
        return arr[:channels]
    return np.concatenate([arr, np.repeat(arr[-1:], channels - arr.shape[0], axis=0)], axis=0)


# 8-bit planar/semi-planar YUV whose first plane is the luma: gray output is that plane, range-mapped
_LIMITED_RANGE_YUV = frozenset({"yuv420p", "yuv422p", "yuv444p", "yuv440p", "yuv411p", "yuv410p", "nv12", "nv21"})
_FULL_RANGE_YUV = frozenset({"yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p", "yuvj411p"})
# swscale's limited → full range expansion of luma (16..235 → 0..255), equal to its output for all 256 values
_Y_TO_GRAY = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def _plane_array(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """``uint8 [height, line_size]`` view of one plane of a frame (its own buffer, rows with their padding)."""
    # memoryview: the plane's own buffer (no copy), in the type numpy's stubs accept
    return np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)


def _luma_table(frame: av.VideoFrame) -> tuple[bool, np.ndarray | None]:
    """Whether a frame's gray picture is its luma plane, and the range table that maps it (``None``: as it is)."""
    name = frame.format.name
    rng = int(getattr(frame, "color_range", 0) or 0)  # 0 unspecified, 1 MPEG (limited), 2 JPEG (full)
    if name in _LIMITED_RANGE_YUV and rng in (0, 1):
        return True, _Y_TO_GRAY
    return name in _FULL_RANGE_YUV, None


def _gray_from_luma(frame: av.VideoFrame) -> np.ndarray | None:
    """The gray picture of an 8-bit YUV frame read from its luma plane (what swscale's ``gray`` conversion
    gives, ~4× faster: no conversion pass), or ``None`` for other formats or range tags."""
    ok, table = _luma_table(frame)
    if not ok:
        return None
    y = _plane_array(frame.planes[0])[:, : frame.width]
    if table is None:
        return y.copy()
    import cv2  # a core dependency; imported here so that importing avsync does not load OpenCV

    return cv2.LUT(y, table)


def _gray_into(frame: av.VideoFrame, size: tuple[int, int] | None, out: np.ndarray,
               *, map_range: bool = True) -> tuple[bool, np.ndarray | None]:
    """Write the gray picture ``frames(gray=True)`` gives for ``frame`` straight into ``out`` (e.g. its row of a
    chunk: no frame-sized array in between) when it is read from the luma plane (native size, no rotation):
    ``(True, None)``; ``(False, None)`` (``out`` untouched) otherwise. ``map_range=False`` writes the luma plane
    as it is and returns ``(True, table)``, the range table that makes it that gray picture (``None`` when none
    is needed)."""
    if size is not None or int(getattr(frame, "rotation", 0) or 0) % 360 or out.shape != (frame.height, frame.width):
        return False, None
    ok, table = _luma_table(frame)
    if not ok:
        return False, None
    y = _plane_array(frame.planes[0])[:, : frame.width]
    if table is None or not map_range:
        out[...] = y
        return True, table
    import cv2  # a core dependency; imported here so that importing avsync does not load OpenCV

    cv2.LUT(y, table, dst=out)
    return True, None


def _array_region(img: np.ndarray, size: tuple[int, int] | None, region: Region | None = None) -> np.ndarray:
    """RGB picture of an array frame (:func:`_convert_array`), or its ``region`` ``(x0, y0, x1, y1)``."""
    rgb = _convert_array(img, size, False)
    return rgb if region is None else rgb[region[1] : region[3], region[0] : region[2]]


# 8-bit 4:2:0 YUV: a region of whole chroma samples converts to exactly the pixels of the whole frame's conversion
_REGION_YUV = frozenset({"yuv420p", "yuvj420p"})


def _frame_region(frame: av.VideoFrame, size: tuple[int, int] | None, region: Region | None = None) -> np.ndarray:
    """RGB picture of a decoded frame as ``frames(gray=False)`` makes it, or only its ``region`` ``(x0, y0, x1, y1)``
    (pixels of that picture): the same pixels, but only the region is converted when the frame is 8-bit 4:2:0 YUV
    kept at its own size and the region lies on even coordinates (whole chroma samples), so a face crop costs a
    face's conversion rather than a frame's (time, and memory: no frame-sized RGB array). A rotated frame converts
    the stored pixels the region shows, then turns them."""
    if region is None:
        return _convert_frame(frame, size, "rgb24")
    x0, y0, x1, y1 = (int(v) for v in region)
    w, h = frame.width, frame.height  # stored
    rot = int(getattr(frame, "rotation", 0) or 0) % 360
    k = (rot // 90) % 4
    dw, dh = (h, w) if k % 2 else (w, h)  # displayed
    native = size is None or tuple(size) == (dw, dh)
    if not (native and rot % 90 == 0 and frame.format.name in _REGION_YUV and w % 2 == 0 and h % 2 == 0
            and 0 <= x0 < x1 <= dw and 0 <= y0 < y1 <= dh and not (x0 | y0 | x1 | y1) & 1):
        return _convert_frame(frame, size, "rgb24")[y0:y1, x0:x1]
    # the stored rectangle that np.rot90(stored, k) shows at the region (columns a:c, rows b:d)
    x0, y0, x1, y1 = ((x0, y0, x1, y1), (w - y1, x0, w - y0, x1), (w - x1, h - y1, w - x0, h - y0),
                      (y0, h - x1, y1, h - x0))[k]
    y, u, v = (_plane_array(p) for p in frame.planes[:3])
    a, b, c, d = x0 // 2, y0 // 2, x1 // 2, y1 // 2  # the same rectangle in the half-size chroma planes
    packed = np.concatenate([y[y0:y1, x0:x1].ravel(), u[b:d, a:c].ravel(), v[b:d, a:c].ravel()])
    part = av.VideoFrame.from_ndarray(packed.reshape((y1 - y0) * 3 // 2, x1 - x0), format="yuv420p")
    part.color_range, part.colorspace = frame.color_range, frame.colorspace  # the same YUV → RGB matrix
    return _rotate(part.to_ndarray(format="rgb24"), rot)


def _convert_frame(frame: av.VideoFrame, size: tuple[int, int] | None, fmt: str) -> np.ndarray:
    rot = int(getattr(frame, "rotation", 0) or 0) % 360
    if size is None and fmt == "gray":
        img = _gray_from_luma(frame)
        if img is not None:
            return _rotate(img, rot)
    if size is not None:
        w, h = size
        if rot in (90, 270):
            w, h = h, w
        frame = frame.reformat(width=w, height=h, format=fmt, interpolation=_INTERPOLATION)
        return _rotate(frame.to_ndarray(), rot)
    return _rotate(frame.to_ndarray(format=fmt), rot)


def _convert_array(img: np.ndarray, size: tuple[int, int] | None, gray: bool) -> np.ndarray:
    if size is not None and (img.shape[1], img.shape[0]) != tuple(size):
        f = av.VideoFrame.from_ndarray(img, format="gray" if img.ndim == 2 else "rgb24")
        img = f.reformat(width=size[0], height=size[1], interpolation="AREA").to_ndarray()
    if gray and img.ndim == 3:
        img = (img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114).round().astype(np.uint8)
    elif not gray and img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return img


def load_media(
    src: MediaSource,
    *,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    fps: float = DEFAULT_FPS,
    limits: MediaLimits | None = None,
    require: Literal["any", "audio", "video", "both"] = "any",
) -> Media:
    """Open and validate a media file (or its bytes) for analysis.

    Parameters
    ----------
    src
        Path or bytes of a video or audio file in any container FFmpeg reads.
    sample_rate
        Rate in Hz that :attr:`Media.audio` is resampled to (soxr, anti-aliased). ``16000`` default.
    fps
        Constant analysis frame rate of :meth:`Media.frames` (VFR input is resampled by timestamp).
    limits
        Caps on duration and frame size.
    require
        Which streams must be present; a missing one raises ``no_audio`` / ``no_video``.

    Returns
    -------
    Media
        Audio is decoded lazily on first access; video is decoded chunk by chunk on iteration.

    Raises
    ------
    MediaError
        With ``status`` ``not_found``, ``empty``, ``decode_error``, ``unsupported_codec``,
        ``too_short``, ``too_large``, ``no_audio`` or ``no_video``, and a message saying what to do.
    """
    if sample_rate <= 0 or fps <= 0:
        raise MediaError(f"sample_rate and fps must be positive, got {sample_rate}, {fps}", status=Status.CONFIG_ERROR)
    info = inspect_media(src, limits=limits)
    if info.status.is_failure or info.status is Status.TOO_SHORT:
        raise MediaError(info.message or info.status.value, status=info.status)
    if require in ("audio", "both") and info.audio is None:
        raise MediaError(info.message or "no audio track", status=Status.NO_AUDIO)
    if require in ("video", "both") and info.video is None:
        raise MediaError(info.message or "no video track", status=Status.NO_VIDEO)
    keep = bytes(src) if isinstance(src, (bytes, bytearray, memoryview)) else src  # in-memory bytes are copied
    return Media(info, source=keep, sample_rate=sample_rate, fps=fps)
