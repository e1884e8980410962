"""avsync: tell whether the speech in a clip is genuine.

The public API is what this module exports; everything else is internal and may change.
"""

from avsync._version import __version__
from avsync.device import limit_omp_spinning, tune_cpu_allocator
from avsync.errors import AvsyncError, BundleError, ConfigError, MediaError, NoFaceError, NoSpeechError
from avsync.media import AudioInfo, FrameChunk, Media, MediaInfo, MediaLimits, VideoInfo, inspect_media, load_media
from avsync.results import Status


def __getattr__(name: str):  # heavy pieces load on first use: `import avsync` stays light
    if name in ("Detector", "analyze"):
        from avsync import pipeline

        return getattr(pipeline, name)
    if name in ("Verdict", "Provenance", "ModelRef"):
        from avsync import verdict

        return getattr(verdict, name)
    if name in ("score_spoof", "SpoofScorer", "SpoofResult"):
        from avsync import spoof

        return getattr(spoof, name)
    if name in ("FusionConfig", "Label", "Cue"):
        from avsync import fusion

        return getattr(fusion, name)
    raise AttributeError(f"module 'avsync' has no attribute {name!r}")


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
    "Detector",
    "analyze",
    "Verdict",
    "Provenance",
    "ModelRef",
    "FusionConfig",
    "Label",
    "Cue",
    "score_spoof",
    "SpoofScorer",
    "SpoofResult",
    "tune_cpu_allocator",
    "limit_omp_spinning",
]
