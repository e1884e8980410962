"""Tell media files from other files by their content (magic bytes), not their extension.

:func:`sniff` reads the first bytes of a file and recognises the containers FFmpeg reads
(mp4/mov/m4a/3gp, Matroska/WebM, RIFF WAVE/AVI, Ogg, FLAC, MP3, ADTS AAC, MPEG-PS/TS, FLV,
ASF/WMV, AIFF, AMR, CAF, AU, NIST SPHERE, ...). Only when no signature matches does it ask FFmpeg
to probe the header (cheap: no decoding), and it rejects FFmpeg's catch-all demuxers that accept
any text or picture (``tty``, ``image2``, ...), so a README or a photo is never taken for media.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

__all__ = ["MEDIA_SUFFIXES", "Sniff", "sniff"]

#: file name endings of audio and video files: a file so named whose content is not media is taken as damaged
#: (``decode_error``), not as a stray document in the folder (``skipped``)
MEDIA_SUFFIXES = frozenset({
    ".wav", ".wave", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".wma", ".amr", ".aif", ".aiff",
    ".caf", ".au", ".snd", ".sph", ".mka", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg",
    ".ts", ".mts", ".m2ts", ".3gp", ".flv", ".wmv", ".asf", ".ogv",
})

SniffKind = Literal["media", "empty", "not_media", "unreadable"]

_HEAD = 4096

# FFmpeg demuxers that accept almost anything (text, pictures) and so prove nothing.
_CATCH_ALL = {"tty", "image2", "image2pipe", "lrc", "srt", "webvtt", "ass", "mpl2", "microdvd", "jacosub",
              "sami", "realtext", "subviewer", "subviewer1", "vplayer", "pjs", "stl", "aqtitle", "data", "bin",
              "txt", "ico", "gif", "apng", "svg_pipe", "dds_pipe"}


@dataclass(frozen=True)
class Sniff:
    """Outcome of :func:`sniff`.

    Attributes
    ----------
    kind
        ``"media"`` (audio/video container recognised), ``"empty"`` (0 bytes), ``"not_media"``
        or ``"unreadable"`` (missing, a folder, permission denied).
    format
        Short name of the recognised container (``"mp4"``, ``"wav"``, ...), or ``None``.
    message
        Why the file is not media or cannot be read.
    """

    kind: SniffKind
    format: str | None = None
    message: str | None = None


def _magic(head: bytes) -> str | None:
    """Container name from the first bytes, or ``None``."""
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"RIFF" and len(head) >= 12:
        sub = head[8:12]
        if sub == b"WAVE":
            return "wav"
        if sub in (b"AVI ", b"AVIX"):
            return "avi"
        if sub == b"RMP3":
            return "mp3"
        return None  # WEBP pictures and other RIFF files
    if head[:4] in (b"RF64", b"BW64"):
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:3] == b"ID3":
        return "mp3"  # or AAC/FLAC with an ID3 tag: FFmpeg copes
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpeg"
    if head[:4] == b"\x00\x00\x01\xb3":
        return "mpegvideo"
    if head[:1] == b"\x47" and len(head) >= 377 and head[188:189] == b"\x47" and head[376:377] == b"\x47":
        return "mpegts"
    if head[:3] == b"FLV":
        return "flv"
    if head[:16] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c":
        return "asf"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:5] == b"#!AMR":
        return "amr"
    if head[:4] == b"caff":
        return "caf"
    if head[:4] == b".snd":
        return "au"
    if head[:7] == b"NIST_1A":
        return "nistsphere"
    if head[:4] == b"\x2e\x52\x4d\x46":
        return "rm"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "aac"  # ADTS
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0:
        return "mp3"  # MPEG audio frame sync (layer bits non-zero)
    return None


def _probe(path: str) -> str | None:
    """Ask FFmpeg to open the header; the demuxer name if it holds an audio or video stream."""
    try:
        import av

        with av.open(path, mode="r", metadata_errors="ignore") as c:
            name = c.format.name if c.format else ""
            names = set(name.split(","))
            if names & _CATCH_ALL or any(n.endswith("_pipe") for n in names):
                return None
            if c.streams.audio or c.streams.video:
                return name.split(",")[0]
    except Exception:  # noqa: BLE001 - anything FFmpeg refuses is not media
        return None
    return None


def sniff(path: str | os.PathLike, *, probe: bool = True) -> Sniff:
    """Decide from its content whether ``path`` is an audio/video file.

    Parameters
    ----------
    path
        File to look at.
    probe
        When no signature matches, let FFmpeg probe the header (no decoding). ``False``: magic
        bytes only.

    Returns
    -------
    Sniff
        Never raises for a bad file.
    """
    p = os.fspath(path)
    try:
        if os.path.isdir(p):
            return Sniff("unreadable", message=f"{p} is a directory")
        with open(p, "rb") as fh:
            head = fh.read(_HEAD)
    except FileNotFoundError:
        if os.path.islink(p):  # a link to a recording that is gone: said as such
            return Sniff("unreadable", message=f"{p} is a broken symlink: its target {os.readlink(p)} does not exist")
        return Sniff("unreadable", message=f"file not found: {p}")
    except PermissionError:
        return Sniff("unreadable", message=f"cannot read {p}: permission denied")
    except OSError as e:
        return Sniff("unreadable", message=f"cannot read {p}: {e.strerror or e}")
    if not head:
        return Sniff("empty", message="the file is empty (0 bytes)")
    fmt = _magic(head)
    if fmt is None and probe:
        fmt = _probe(p)
    if fmt is None:
        return Sniff("not_media", message="not an audio or video file (no known container signature)")
    return Sniff("media", format=fmt)
