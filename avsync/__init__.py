"""avsync: tell whether the speech in a clip is genuine.

The public API is what this module exports; everything else is internal and may change.
"""

from avsync.errors import AvsyncError, BundleError, ConfigError, MediaError, NoFaceError, NoSpeechError
from avsync.media import AudioInfo, FrameChunk, Media, MediaInfo, MediaLimits, VideoInfo, inspect_media, load_media
from avsync.results import Status
from avsync.spoof import SpoofResult, SpoofScorer, score_spoof

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Status",
    "AvsyncError",
    "MediaError",
    "NoFaceError",
    "NoSpeechError",
    "BundleError",
    "ConfigError",
    "Media",
    "MediaInfo",
    "MediaLimits",
    "VideoInfo",
    "AudioInfo",
    "FrameChunk",
    "load_media",
    "inspect_media",
    "score_spoof",
    "SpoofScorer",
    "SpoofResult",
]
