"""Append-only JSONL results file that survives crashes, Ctrl-C and concurrent readers.

Every result is one line written by a single ``os.write`` on a file descriptor opened with
``O_APPEND`` and then ``fsync``-ed, so a line is either wholly in the file or not at all (a
crash mid-write can at worst leave a *torn final line*, which :meth:`ResultsLog.open` detects and
truncates before appending). An exclusive ``flock`` keeps two runs from writing the same file.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from avsync.errors import ConfigError

__all__ = ["ResultsLog", "read_results"]


def _parse_lines(data: bytes) -> Iterator[tuple[int, dict[str, Any] | None]]:
    for n, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            yield n, None
            continue
        yield n, obj if isinstance(obj, dict) else None


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All complete result lines of a JSONL results file, in order.

    A torn final line (no trailing newline) and lines that are not JSON objects are left out with
    a warning. A missing file gives an empty list.
    """
    p = Path(path)
    if not p.exists():
        return []
    data = p.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        warnings.warn(f"{p}: ignoring a torn last line ({len(data) - end} bytes)", stacklevel=2)
    out = []
    for n, obj in _parse_lines(data[:end]):
        if obj is None:
            warnings.warn(f"{p}:{n}: not a JSON object; ignored", stacklevel=2)
        else:
            out.append(obj)
    return out


class ResultsLog:
    """Crash-safe appender of JSON lines.

    Parameters
    ----------
    path
        The JSONL file (created if absent, with its folder).
    fsync
        ``fsync`` after every line (default). ``False`` trades durability against power loss for
        speed; a process crash still never tears a line.

    Attributes
    ----------
    records
        The complete lines already in the file when it was opened (what a resumed run skips).
    truncated_bytes
        Size of the torn final line removed on opening (0 if none).
    """

    def __init__(self, path: str | os.PathLike, *, fsync: bool = True):
        self.path = Path(path)
        self.fsync = fsync
        self.records: list[dict[str, Any]] = []
        self.truncated_bytes = 0
        self._fd: int | None = None

    def open(self) -> ResultsLog:
        """Lock the file, drop a torn last line, read what is done, and get ready to append."""
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            raise ConfigError(
                f"{self.path} is being written by another run", hint="wait for it to end or pass another --out"
            ) from e
        size = os.fstat(fd).st_size
        data = b""
        if size:
            with open(self.path, "rb") as fh:
                data = fh.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            self.truncated_bytes = len(data) - end
            os.ftruncate(fd, end)
            os.fsync(fd)
            data = data[:end]
        bad = 0
        for _, obj in _parse_lines(data):
            if obj is None:
                bad += 1
            else:
                self.records.append(obj)
        if bad:
            warnings.warn(f"{self.path}: {bad} line(s) are not JSON objects; they are ignored", stacklevel=2)
        self._fd = fd
        return self

    def append(self, record: dict[str, Any]) -> None:
        """Write ``record`` as one line, atomically (single ``os.write`` on ``O_APPEND``)."""
        if self._fd is None:
            raise RuntimeError("ResultsLog.open() first")
        line = (json.dumps(record, allow_nan=False, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        before = os.fstat(self._fd).st_size
        written = os.write(self._fd, line)
        if written != len(line):  # disk full or similar: take the partial line back out
            os.ftruncate(self._fd, before)
            raise OSError(f"short write to {self.path} ({written} of {len(line)} bytes); is the disk full?")
        if self.fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def __enter__(self) -> ResultsLog:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
