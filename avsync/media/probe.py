"""Open any container with PyAV and describe it, validating at the boundary.

:func:`inspect_media` never raises for a bad file: it returns a :class:`MediaInfo` whose ``status``
and ``message`` say what is wrong. :func:`open_container` is the one place that turns PyAV's
exceptions into :class:`~avsync.errors.MediaError`.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Union

import av
import numpy as np

from avsync.errors import MediaError
from avsync.media.types import AudioInfo, MediaInfo, MediaLimits, VideoInfo
from avsync.results import Status

__all__ = ["MediaSource", "describe_error", "inspect_media", "is_streams_warning", "file_sha256", "open_container", "source_name"]

MediaSource = Union[str, os.PathLike, bytes, bytearray, memoryview]

_HASH_CHUNK = 1 << 20


def source_name(src: MediaSource) -> str | None:
    """The path of a source as a string, or ``None`` for in-memory bytes."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return None
    return os.fspath(src)


def file_sha256(src: MediaSource) -> str:
    """SHA-256 of a file's bytes (streamed) or of in-memory bytes, as hex."""
    h = hashlib.sha256()
    if isinstance(src, (bytes, bytearray, memoryview)):
        h.update(src)
    else:
        with open(src, "rb") as fh:
            for block in iter(lambda: fh.read(_HASH_CHUNK), b""):
                h.update(block)
    return h.hexdigest()


def _check_exists(src: MediaSource) -> int:
    """Return the size in bytes, raising ``not_found`` / ``empty`` errors."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        size = len(src)
    else:
        p = Path(src)
        if not p.exists():
            if p.is_symlink():  # exists() follows links: a loop or a dangling link looks missing
                try:
                    os.stat(p)
                except OSError as e:
                    if e.errno == errno.ELOOP:
                        raise MediaError(f"{p} is a symlink loop (too many levels of symbolic links)",
                                         status=Status.NOT_FOUND, hint="point the link at a media file") from None
                raise MediaError(f"{p} is a broken symlink: its target {os.readlink(p)} does not exist",
                                 status=Status.NOT_FOUND, hint="fix the link or pass the media file itself")
            raise MediaError(f"file not found: {p}", status=Status.NOT_FOUND, hint="check the path")
        if p.is_dir():
            raise MediaError(
                f"{p} is a directory", status=Status.NOT_FOUND, hint="pass a media file (or use `avsync batch` for folders)"
            )
        size = p.stat().st_size
    if size == 0:
        raise MediaError("the file is empty (0 bytes)", status=Status.EMPTY, hint="re-export or re-download it")
    return size


def open_container(src: MediaSource) -> av.container.InputContainer:
    """Open ``src`` for reading; PyAV/FFmpeg failures become :class:`MediaError`."""
    _check_exists(src)
    target = io.BytesIO(bytes(src)) if isinstance(src, (bytes, bytearray, memoryview)) else os.fspath(src)
    try:
        return av.open(target, mode="r", metadata_errors="ignore")
    except PermissionError as e:
        raise MediaError(f"cannot read {str(src)}: permission denied", status=Status.NOT_FOUND) from e
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, OSError) as e:
        raise MediaError(
            f"not a readable audio/video file ({_short(e)})",
            status=Status.DECODE_ERROR,
            hint="the file may be corrupt, truncated or not media at all; check it with `ffprobe` or re-export it",
        ) from e


_ERRNO_PREFIX = re.compile(r"\[Errno -?\d+\]\s*")


def describe_error(e: BaseException) -> str:
    """A readable one-line message for a decoding error.

    PyAV words FFmpeg's errors as ``[Errno 1094995529] Invalid data found when processing input: 'x.mp4'``,
    the number being an FFmpeg error tag (AVERROR_INVALIDDATA) that means nothing to a reader: keep FFmpeg's
    text (``strerror``) and drop the number and the repeated file name.
    """
    text = getattr(e, "strerror", None) if isinstance(e, av.error.FFmpegError) else None
    if not text:
        text = _ERRNO_PREFIX.sub("", str(e)).strip() or type(e).__name__
    return text


def _short(e: BaseException) -> str:
    text = describe_error(e)
    return text if len(text) < 160 else text[:157] + "..."


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _first_frames(container: av.container.InputContainer, streams: list) -> dict:
    """First decoded frame (presentation order) of each stream, by stream type; absent if none decodes."""
    found: dict = {}
    pending = {s.index: s for s in streams}
    try:
        for packet in container.demux(streams):
            stream = pending.get(packet.stream.index)
            if stream is None:
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                continue
            if frames:
                found[stream.type] = frames[0]
                del pending[stream.index]
                if not pending:
                    break
    except av.error.FFmpegError:
        pass
    return found


def _packet_scan(container: av.container.InputContainer, vstream: av.VideoStream | None,
                 astream: av.AudioStream | None, limits: MediaLimits):
    """Demux (without decoding) to collect video pts and audio/video end times."""
    vpts: list[float] = []
    ends: dict[str, float | None] = {"video": None, "audio": None}
    starts: dict[str, float | None] = {"video": None, "audio": None}
    error = None
    streams = [s for s in (vstream, astream) if s is not None]
    n = 0
    try:
        for packet in container.demux(streams):
            if packet.pts is None or packet.size == 0:
                continue
            n += 1
            if n > limits.max_scan_packets:
                break
            kind = packet.stream.type
            t0 = float(packet.pts * packet.time_base)
            dur = float(packet.duration * packet.time_base) if packet.duration else 0.0
            if kind == "video":
                vpts.append(t0)
            end = t0 + dur
            start0, end0 = starts[kind], ends[kind]
            starts[kind] = t0 if start0 is None else min(start0, t0)
            ends[kind] = end if end0 is None else max(end0, end)
    except av.error.FFmpegError as e:
        error = _short(e)
    return np.sort(np.asarray(vpts, dtype=np.float64)), starts, ends, error, n > limits.max_scan_packets


def _vfr_and_rate(pts: np.ndarray) -> tuple[float | None, bool]:
    if len(pts) < 3:
        return None, False
    d = np.diff(pts)
    d = d[d > 0]
    if len(d) < 2:
        return None, False
    med = float(np.median(d))
    measured = (len(pts) - 1) / float(pts[-1] - pts[0]) if pts[-1] > pts[0] else None
    off = np.abs(d - med) > 0.1 * med + 1e-4
    return measured, bool(off.mean() > 0.02)


def inspect_media(src: MediaSource, *, limits: MediaLimits | None = None, sha256: bool = True) -> MediaInfo:
    """Describe a media file or bytes, with an explicit status instead of an exception.

    Parameters
    ----------
    src
        Path or bytes of any container FFmpeg reads (mp4, mov, mkv, webm, avi, mpg, wav, flac, mp3,
        ogg, m4a, ...).
    limits
        Caps on duration and frame size (:class:`MediaLimits`).
    sha256
        Hash the file (streamed) for provenance.

    Returns
    -------
    MediaInfo
        ``status`` is ``ok`` (audio and video), ``no_audio`` / ``no_video`` (one stream), or a
        failure status (``not_found``, ``empty``, ``decode_error``, ``unsupported_codec``,
        ``too_short``, ``too_large``) with a ``message``.
    """
    limits = limits or MediaLimits()
    path = source_name(src)
    try:
        size = _check_exists(src)
    except MediaError as e:
        return MediaInfo(path=path, status=e.status, message=str(e))
    digest = file_sha256(src) if sha256 else None
    base = MediaInfo(path=path, status=Status.OK, sha256=digest, size_bytes=size)
    try:
        info = _describe(src, limits)
    except MediaError as e:
        return replace(base, status=e.status, message=str(e))
    return replace(info, path=path, sha256=digest, size_bytes=size)


def _stream_facts(stream: av.VideoStream | av.AudioStream) -> dict:
    cc = stream.codec_context
    facts = {
        "codec": cc.name,
        "time_base": stream.time_base,
        "duration": _seconds(stream.duration, stream.time_base),
        "bit_rate": stream.bit_rate or None,
    }
    if isinstance(stream, av.VideoStream):  # stream.type == "video"
        facts.update(
            nominal=stream.average_rate or stream.guessed_rate or stream.base_rate,
            frames=int(stream.frames or 0),
            pix_fmt=stream.codec_context.pix_fmt,
        )
    else:
        meta = stream.metadata or {}
        acc = stream.codec_context
        facts.update(sample_rate=acc.sample_rate, layout=acc.layout.name if acc.layout is not None else None,
                     index=stream.index, language=_tag(meta, "language"), title=_tag(meta, "title"))
    return facts


def _tag(meta: Mapping[str, str], key: str) -> str | None:
    value = str(meta.get(key) or meta.get(key.upper()) or "").strip()
    return None if not value or value == "und" else value  # "und": undetermined language, as good as none


def _other_audio(stream: av.AudioStream, container_duration: float | None) -> AudioInfo:
    """What the header says about an audio stream that is not analysed (nothing is decoded)."""
    meta = stream.metadata or {}
    cc = stream.codec_context  # None when this FFmpeg has no decoder for it: still listed
    return AudioInfo(
        codec=(cc.name if cc is not None else None) or "unknown",
        sample_rate=int(getattr(cc, "sample_rate", 0) or 0),
        channels=int(getattr(cc, "channels", 0) or 0),
        layout=cc.layout.name if cc is not None and cc.layout is not None else None,
        start_s=_seconds(stream.start_time, stream.time_base) or 0.0,
        duration_s=round(_seconds(stream.duration, stream.time_base) or container_duration or 0.0, 6),
        bit_rate=stream.bit_rate or None,
        index=stream.index,
        language=_tag(meta, "language"),
        title=_tag(meta, "title"),
    )


_STREAMS = "audio streams: "


def _streams_warning(chosen: AudioInfo, others: list[AudioInfo]) -> str:
    rest = ", ".join(o.describe() for o in others)
    return (f"the file has {len(others) + 1} {_STREAMS}{chosen.describe()} is analysed, "
            f"not {rest} (extract another with `ffmpeg -i IN -map 0:a:N OUT.wav`)")


_TRUNCATED = "streams end at "


def is_truncation_warning(text: str) -> bool:
    """Whether a media warning says the streams end well before the duration the header declares (a file cut off:
    what is there is analysed, and the verdict says so)."""
    return text.startswith(_TRUNCATED) and "the header declares" in text


def is_streams_warning(text: str) -> bool:
    """Whether a media warning is the one naming the analysed audio stream among several."""
    return _STREAMS in text and " is analysed, not " in text


def _describe(src: MediaSource, limits: MediaLimits) -> MediaInfo:
    warnings: list[str] = []
    with open_container(src) as container:
        vstream = container.streams.video[0] if container.streams.video else None
        astream = container.streams.audio[0] if container.streams.audio else None
        fmt = container.format.name if container.format else None
        if vstream is None and astream is None:
            raise MediaError(
                "the file has neither an audio nor a video stream",
                status=Status.DECODE_ERROR,
                hint="pass a media file with sound and/or pictures",
            )
        for s in (vstream, astream):
            if s is not None and (s.codec_context is None or s.codec_context.codec is None):
                raise MediaError(
                    f"no decoder for the {s.type} stream in this build of FFmpeg",
                    status=Status.UNSUPPORTED_CODEC,
                    hint="re-encode it, e.g. `ffmpeg -i IN -c:v libx264 -c:a aac OUT.mp4`",
                )
        container_duration = container.duration / av.time_base if container.duration else None
        vfacts = _stream_facts(vstream) if vstream is not None else None
        afacts = _stream_facts(astream) if astream is not None else None
        other_audio = [_other_audio(st, container_duration) for st in container.streams.audio[1:]]
        if vstream is not None:
            vstream.thread_type = "AUTO"
        first = _first_frames(container, [st for st in (vstream, astream) if st is not None])
    vfirst, afirst = first.get("video"), first.get("audio")
    with open_container(src) as container:
        vpts, starts, ends, scan_error, scan_cut = _packet_scan(
            container,
            container.streams.video[0] if vfacts else None,
            container.streams.audio[0] if afacts else None,
            limits,
        )

    if vfacts is not None and vfirst is None:
        if afacts is None or afirst is None:
            raise MediaError(
                "no video frame could be decoded",
                status=Status.DECODE_ERROR,
                hint="the file may be truncated or corrupt; re-export it",
            )
        warnings.append("the video stream has no decodable frame; it is ignored")
        vfacts = None
    if afacts is not None and afirst is None:
        if vfacts is None:
            raise MediaError(
                "no audio could be decoded",
                status=Status.DECODE_ERROR,
                hint="the file may be truncated or corrupt; re-export it",
            )
        warnings.append("the audio stream has no decodable frame; it is ignored")
        afacts = None
    if scan_error:
        warnings.append(f"demuxing stopped early: {scan_error}")

    video = audio = None
    if vfacts is not None:
        assert vfirst is not None  # a video stream without a decodable frame was dropped above
        rot = int(getattr(vfirst, "rotation", 0) or 0) % 360
        w, h = vfirst.width, vfirst.height
        if rot in (90, 270):
            w, h = h, w
        measured, vfr = _vfr_and_rate(vpts)
        v_start = float(vfirst.time) if vfirst.time is not None else (starts["video"] or 0.0)
        v_end = ends["video"]
        if v_end is None or v_end <= v_start:
            v_end = v_start + (vfacts["duration"] or container_duration or 0.0)
        frames = len(vpts) if len(vpts) and not scan_cut else (vfacts["frames"] or len(vpts))
        nominal = vfacts["nominal"]
        fps = float(nominal) if nominal else (measured or 0.0)
        if frames and v_end > v_start and (not fps or vfr):
            fps = frames / (v_end - v_start)
        video = VideoInfo(
            codec=vfacts["codec"],
            width=int(w),
            height=int(h),
            fps=round(fps, 6),
            measured_fps=None if measured is None else round(measured, 6),
            vfr=vfr,
            frames=frames,
            rotation=rot,
            start_s=v_start,
            duration_s=round(v_end - v_start, 6),
            pix_fmt=vfacts["pix_fmt"],
            bit_rate=vfacts["bit_rate"],
        )
    if afacts is not None:
        assert afirst is not None  # an audio stream without a decodable frame was dropped above
        a_start = float(afirst.time) if afirst.time is not None else (starts["audio"] or 0.0)
        a_end = ends["audio"]
        if a_end is None or a_end <= a_start:
            a_end = a_start + (afacts["duration"] or container_duration or 0.0)
        audio = AudioInfo(
            codec=afacts["codec"],
            sample_rate=int(afirst.sample_rate or afacts["sample_rate"]),
            channels=int(len(afirst.layout.channels)),
            layout=afirst.layout.name or afacts["layout"],
            start_s=a_start,
            duration_s=round(a_end - a_start, 6),
            bit_rate=afacts["bit_rate"],
            index=afacts["index"],
            language=afacts["language"],
            title=afacts["title"],
        )
        if other_audio:
            warnings.append(_streams_warning(audio, other_audio))

    if container_duration:  # packet timestamps far beyond the declared length are bogus (seen in some ogg files)
        limit = 1.5 * container_duration + 1.0
        if video is not None and video.duration_s > limit:
            video = replace(video, duration_s=round(container_duration - video.start_s, 6))
            warnings.append("video timestamps run past the declared duration; using the declared one")
        if audio is not None and audio.duration_s > limit:
            audio = replace(audio, duration_s=round(container_duration - audio.start_s, 6))
            warnings.append("audio timestamps run past the declared duration; using the declared one")
    present = [s for s in (video, audio) if s is not None]
    stream_end = max(s.start_s + s.duration_s for s in present)
    stream_start = min(s.start_s for s in present)
    span = stream_end - stream_start
    duration = container_duration or span
    if (video is None and audio is not None and container_duration
            and container_duration < audio.duration_s <= 1.1 * container_duration):
        duration = audio.duration_s  # audio-only headers can under-declare (VBR mp3 without a Xing header)
    if fmt == "avi" and vfacts is not None and vfacts["frames"] > 0 and vfacts["nominal"]:
        # an AVI header counts the video frames; FFmpeg estimates the duration of a cut-off AVI from its size
        declared = vfacts["frames"] / float(vfacts["nominal"])
        if declared > (container_duration or 0.0):
            container_duration = declared
    if fmt == "wav" and audio is not None:
        # FFmpeg takes a WAV's duration from the file's size; its header says how many bytes of samples it holds
        declared_wav = _wav_declared_s(src)
        if declared_wav is not None and declared_wav > (container_duration or 0.0):
            container_duration = declared_wav
    if container_duration and span < container_duration - max(0.5, 0.05 * container_duration):
        of_header = f"of the {container_duration:.2f} s its header declares"
        if scan_error:
            raise MediaError(f"the file is truncated or damaged: it cannot be read past {span:.2f} s {of_header} "
                             f"(FFmpeg: {scan_error})", status=Status.DECODE_ERROR,
                             hint="re-download or re-export the file")
        if span < 0.5 * container_duration:
            raise MediaError(f"the file is truncated: its streams end at {span:.2f} s {of_header}",
                             status=Status.DECODE_ERROR, hint="re-download or re-export the file")
        warnings.append(f"{_TRUNCATED}{span:.2f} s, the header declares {container_duration:.2f} s")

    info = MediaInfo(
        path=None,
        status=Status.OK,
        container=fmt,
        duration_s=round(float(duration), 6),
        video=video,
        audio=audio,
        av_start_offset_s=(round(audio.start_s - video.start_s, 6) if audio and video else None),
        duration_mismatch_s=(round(audio.duration_s - video.duration_s, 6) if audio and video else None),
        warnings=tuple(warnings),
        audio_streams=((audio,) if audio is not None else ()) + tuple(other_audio),
    )
    return _apply_limits(info, limits)


def _wav_declared_s(src: MediaSource) -> float | None:
    """Seconds of audio a RIFF/WAVE header declares (its ``data`` chunk size over the ``fmt `` chunk's bytes per
    second), or ``None`` when the header cannot tell: not RIFF, no ``fmt `` before ``data``, or a size left open
    by a writer that streams (0, or 0xFFFFFFFF and the like)."""
    import struct

    try:
        if isinstance(src, (bytes, bytearray, memoryview)):
            head = bytes(src[:65536])
        else:
            with open(src, "rb") as f:
                head = f.read(65536)
    except OSError:
        return None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, None
    while pos + 8 <= len(head):
        cid, size = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        if cid == b"fmt " and pos + 16 <= len(head):
            byte_rate = struct.unpack("<I", head[pos + 16:pos + 20])[0] if pos + 20 <= len(head) else None
        elif cid == b"data":
            if not byte_rate or size == 0 or size >= 0xFFFFFF00:
                return None
            return size / byte_rate
        pos += 8 + size + (size & 1)
    return None


def _apply_limits(info: MediaInfo, limits: MediaLimits) -> MediaInfo:
    dur = info.duration_s or 0.0
    if dur <= 0 or (info.video is not None and info.video.frames == 0 and info.audio is None):
        return replace(info, status=Status.EMPTY, message="the file contains no audio or video data")
    if dur > limits.max_duration_s:
        return replace(
            info,
            status=Status.TOO_LARGE,
            message=f"duration {dur:.0f} s exceeds the limit of {limits.max_duration_s:.0f} s; "
            "raise it with MediaLimits(max_duration_s=...) or split the file",
        )
    if info.video is not None and info.video.width * info.video.height > limits.max_pixels:
        return replace(
            info,
            status=Status.TOO_LARGE,
            message=f"frame size {info.video.width}x{info.video.height} exceeds the limit of "
            f"{limits.max_pixels} pixels; raise it with MediaLimits(max_pixels=...) or downscale",
        )
    if dur < limits.min_duration_s:
        return replace(
            info,
            status=Status.TOO_SHORT,
            message=f"the media lasts {dur:.3f} s, shorter than the minimum {limits.min_duration_s} s",
        )
    if info.audio is None:
        return replace(
            info,
            status=Status.NO_AUDIO,
            message="the file has no audio track, so neither lip sync nor the voice can be checked; "
                    "if the sound is in a separate file, join them first, e.g. `ffmpeg -i VIDEO -i AUDIO -map 0:v -map 1:a -c copy OUT.mkv`",
        )
    if info.video is None:
        return replace(info, status=Status.NO_VIDEO, message="the file has no video track; only voice analysis applies")
    return info
