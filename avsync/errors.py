"""One exception family for everything avsync raises on purpose.

Every exception carries a :class:`~avsync.results.Status` so that a caller (the CLI, a batch run)
can turn it into an explicit status in a result instead of a traceback, and a message that says
what to do next.
"""

from __future__ import annotations

from avsync.results import Status

__all__ = [
    "AvsyncError",
    "MediaError",
    "NoFaceError",
    "NoSpeechError",
    "BundleError",
    "ConfigError",
]


class AvsyncError(Exception):
    """Base class of every error avsync raises deliberately.

    Parameters
    ----------
    message
        What went wrong, in words a user understands.
    status
        The status a result would carry for this failure.
    hint
        What to do about it (optional); appended to ``str(error)``.
    """

    default_status: Status = Status.ERROR

    def __init__(self, message: str, *, status: Status | None = None, hint: str | None = None):
        self.message = message
        self.status = Status(status) if status is not None else self.default_status
        self.hint = hint
        super().__init__(message if not hint else f"{message}; {hint}")


class MediaError(AvsyncError):
    """The input file or array cannot be used (missing, empty, corrupt, unsupported, too large)."""

    default_status = Status.DECODE_ERROR


class NoFaceError(AvsyncError):
    """No usable face was found where one is required."""

    default_status = Status.NO_FACE


class NoSpeechError(AvsyncError):
    """No speech was found where it is required."""

    default_status = Status.NO_SPEECH


class BundleError(AvsyncError):
    """A model bundle is missing, tampered with, or does not match its contract."""

    default_status = Status.MODEL_ERROR


class ConfigError(AvsyncError, ValueError):
    """A configuration value or file is invalid (also a :class:`ValueError`, so callers that catch the
    standard exception for a bad argument keep working)."""

    default_status = Status.CONFIG_ERROR
