"""Media input: open any container, validate it, decode aligned audio and time-stamped video."""

from avsync.media.decode import Media, load_media, resample_audio
from avsync.media.probe import MediaSource, file_sha256, inspect_media
from avsync.media.types import AudioInfo, FrameChunk, MediaInfo, MediaLimits, VideoInfo

__all__ = [
    "Media",
    "MediaSource",
    "MediaInfo",
    "MediaLimits",
    "VideoInfo",
    "AudioInfo",
    "FrameChunk",
    "load_media",
    "inspect_media",
    "resample_audio",
    "file_sha256",
]
