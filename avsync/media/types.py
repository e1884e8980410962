"""Typed descriptions of a media file and of decoded video chunks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from avsync.results import Serializable, Status

__all__ = ["MediaLimits", "VideoInfo", "AudioInfo", "MediaInfo", "FrameChunk", "Region", "RgbSource"]

Region = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)``: a rectangle of a picture's pixels, ``[y0:y1, x0:x1]``."""
RgbSource = Callable[..., np.ndarray]
"""A deferred RGB conversion of one frame (:attr:`FrameChunk.rgb`): called with no argument, the ``uint8 [H, W, 3]``
picture; with a :data:`Region`, only those pixels."""


@dataclass(frozen=True)
class MediaLimits(Serializable):
    """Caps checked when a file is opened. Raise them for unusual inputs.

    Parameters
    ----------
    min_duration_s
        Shorter media get status ``too_short``.
    max_duration_s
        Longer media get status ``too_large`` (default 6 h).
    max_pixels
        Frames with more pixels (width × height) get ``too_large`` (default: 8K UHD).
    max_scan_packets
        At most this many packets are demuxed to measure frame rate and detect VFR/truncation.
    """

    min_duration_s: float = 0.2
    max_duration_s: float = 6 * 3600.0
    max_pixels: int = 7680 * 4320
    max_scan_packets: int = 2_000_000


@dataclass(frozen=True)
class VideoInfo(Serializable):
    """Facts about the first video stream.

    ``fps`` is the stream's average frame rate (frames / duration, as ffprobe's
    ``avg_frame_rate``); ``measured_fps`` comes from the presentation timestamps of the demuxed
    packets; ``vfr`` is true when frame durations vary by more than 10 % in over 2 % of frames.
    ``width``/``height`` are the displayed size, after ``rotation`` (degrees counter-clockwise)
    is applied. ``start_s`` is the first frame's presentation time on the file's clock.
    """

    codec: str
    width: int
    height: int
    fps: float
    measured_fps: float | None
    vfr: bool
    frames: int
    rotation: int
    start_s: float
    duration_s: float
    pix_fmt: str | None = None
    bit_rate: int | None = None


@dataclass(frozen=True)
class AudioInfo(Serializable):
    """Facts about an audio stream (native, before resampling).

    ``index`` is the stream's index in the container (as ffprobe numbers streams), ``language`` and
    ``title`` its tags when the file has them.
    """

    codec: str
    sample_rate: int
    channels: int
    layout: str | None
    start_s: float
    duration_s: float
    bit_rate: int | None = None
    index: int | None = None
    language: str | None = None
    title: str | None = None

    def describe(self) -> str:
        """``stream #1 (eng, "Commentary")``: how results name the stream."""
        tags = ", ".join(t for t in (self.language, f'"{self.title}"' if self.title else None) if t)
        name = "stream" if self.index is None else f"stream #{self.index}"
        return f"{name} ({tags})" if tags else name


@dataclass(frozen=True)
class MediaInfo(Serializable):
    """What ``avsync inspect`` reports about one input.

    ``status`` is ``ok`` for a readable file with audio and video; ``no_audio`` / ``no_video`` for
    readable files with one stream only; a failure status otherwise, with ``message`` saying why
    and what to do. ``av_start_offset_s`` is audio start minus video start (seconds, on the file's
    clock); ``duration_mismatch_s`` is audio duration minus video duration. ``audio`` is the audio
    stream analysed (the first); ``audio_streams`` lists every audio stream of the file, that one
    included (a warning says so when there are several).
    """

    path: str | None
    status: Status
    message: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    container: str | None = None
    duration_s: float | None = None
    video: VideoInfo | None = None
    audio: AudioInfo | None = None
    av_start_offset_s: float | None = None
    duration_mismatch_s: float | None = None
    warnings: tuple[str, ...] = ()
    audio_streams: tuple[AudioInfo, ...] = ()

    @property
    def kind(self) -> str:
        """``"audio+video"``, ``"video"``, ``"audio"`` or ``"none"``."""
        parts = [n for n, s in (("audio", self.audio), ("video", self.video)) if s is not None]
        return "+".join(parts) or "none"


@dataclass
class FrameChunk:
    """A chunk of analysis frames resampled to a constant rate.

    Attributes
    ----------
    images
        ``uint8`` array ``[N, H, W, 3]`` (RGB) or ``[N, H, W]`` (gray).
    indices
        Analysis frame index of each image, ``[N]``: image ``i`` is shown at ``indices[i] / fps``.
    times
        Presentation time of each analysis frame in seconds, ``[N]``.
    source_times
        Presentation time of the decoded source frame each image was taken from, ``[N]``.
    fps
        Analysis frame rate.
    rgb
        With ``Media.frames(..., rgb_on_demand=True)``: one :data:`RgbSource` per image, which returns its
        ``[H, W, 3]`` RGB picture (or a region of it), made exactly as ``gray=False`` would make it, only when
        called (the decoded frame is kept until the callable is dropped); else ``None``.
    extra
        More per-chunk data; ``Media.frames(gray="luma")`` puts each image's range table under ``"gray_tables"``.
    """

    images: np.ndarray
    indices: np.ndarray
    times: np.ndarray
    source_times: np.ndarray
    fps: float
    extra: dict = field(default_factory=dict)
    rgb: tuple[RgbSource, ...] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.images.shape[0])
