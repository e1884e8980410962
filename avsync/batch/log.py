"""Append-only JSONL results file that survives crashes, Ctrl-C and concurrent readers.

Every result is one line written by a single ``os.write`` on a file descriptor opened with
``O_APPEND`` and then ``fsync``-ed, so a line is either wholly in the file or not at all (a
crash mid-write can at worst leave a *torn final line*, which :meth:`ResultsLog.open` detects and
truncates before appending). An exclusive ``flock`` keeps two runs from writing the same file.
Reading streams line by line, so resuming over a results file of millions of lines keeps memory
flat.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from avsync.errors import ConfigError

__all__ = ["RESULT_FIELDS", "ResultsLog", "is_result_record", "iter_lines", "read_results"]

RESULT_FIELDS = frozenset({"path", "task", "key", "status"})
"""Fields every line of a batch results file has."""


def is_result_record(obj: object) -> bool:
    """Whether ``obj`` (a parsed line) is a batch result record."""
    return isinstance(obj, dict) and RESULT_FIELDS <= obj.keys()


def _holds_results(fd: int) -> bool:
    """Whether the open, non-empty file ``fd`` holds batch results: its first line is a result record, or (a run
    stopped while it wrote its first line, or a first line longer than a megabyte) its bytes begin as one does."""
    head = os.pread(fd, 1 << 20, 0)
    nl = head.find(b"\n")
    if nl < 0:
        return head.startswith(b'{"path":')
    try:
        return is_result_record(json.loads(head[:nl]))
    except (ValueError, UnicodeDecodeError):
        return False


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, int, dict[str, Any] | None]]:
    """Stream ``(offset, length, record)`` over the complete lines of a JSONL file.

    ``record`` is ``None`` for a line that is not a JSON object; blank lines and a torn final
    line (no newline) are not yielded.
    """
    offset = 0
    with open(path, "rb") as fh:
        for raw in fh:
            length = len(raw)
            if not raw.endswith(b"\n"):
                return  # torn final line
            if raw.strip():
                try:
                    obj = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    obj = None
                yield offset, length, obj if isinstance(obj, dict) else None
            offset += length


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All complete result lines of a JSONL results file, in order.

    A torn final line (no trailing newline) and lines that are not JSON objects are left out with
    a warning. A missing file gives an empty list.
    """
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for offset, _length, obj in iter_lines(p):
        if obj is None:
            warnings.warn(f"{p}: the line at byte {offset} is not a JSON object; ignored", stacklevel=2)
        else:
            out.append(obj)
    with open(p, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        torn = fh.tell() > 0 and (fh.seek(-1, os.SEEK_END) or True) and fh.read(1) != b"\n"
    if torn:
        warnings.warn(f"{p}: ignoring a torn last line", stacklevel=2)
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
    truncated_bytes
        Size of the torn final line removed on opening (0 if none).
    """

    def __init__(self, path: str | os.PathLike, *, fsync: bool = True):
        self.path = Path(path)
        self.fsync = fsync
        self.truncated_bytes = 0
        self._fd: int | None = None

    def open(self) -> ResultsLog:
        """Lock the file, cut off a torn last line, and get ready to append.

        Raises
        ------
        ConfigError
            Another run holds the file, it cannot be written, or it exists and is not a results file (a
            recording, a manifest, notes: nothing of it is cut or appended to).
        """
        import fcntl

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as e:  # read-only, no such folder, a folder of that name: said, never an internal error
            raise ConfigError(f"cannot write the results file {self.path}: {e.strerror or e}",
                              hint="pass --out a path this user can write") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            raise ConfigError(
                f"{self.path} is being written by another run", hint="wait for it to end or pass another --out"
            ) from e
        size = os.fstat(fd).st_size
        if size and not _holds_results(fd):
            os.close(fd)
            raise ConfigError(f"{self.path} exists and is not an avsync batch results file; it was left as it is",
                              hint="pass --out a new file name, or a results file of an earlier run to resume it")
        end = size
        while end > 0:  # find the last newline, reading backwards from the end
            start = max(0, end - (1 << 16))
            nl = os.pread(fd, end - start, start).rfind(b"\n")
            if nl >= 0:
                end = start + nl + 1
                break
            end = start
        if end < size:
            self.truncated_bytes = size - end
            os.ftruncate(fd, end)
            os.fsync(fd)
        self._fd = fd
        return self

    def records(self) -> Iterator[tuple[int, int, dict[str, Any]]]:
        """Stream ``(offset, length, record)`` over the lines in the file (bad lines skipped with a warning)."""
        bad = 0
        for offset, length, obj in iter_lines(self.path):
            if obj is None:
                bad += 1
            else:
                yield offset, length, obj
        if bad:
            warnings.warn(f"{self.path}: {bad} line(s) are not JSON objects; they are ignored", stacklevel=2)

    def read_at(self, offset: int, length: int) -> dict[str, Any]:
        """The record of the line at ``offset`` (as returned by :meth:`append` or :meth:`records`)."""
        if self._fd is None:
            raise RuntimeError("ResultsLog.open() first")
        return json.loads(os.pread(self._fd, length, offset))

    def append(self, record: dict[str, Any]) -> tuple[int, int]:
        """Write ``record`` as one line, atomically (single ``os.write`` on ``O_APPEND``).

        Returns
        -------
        (offset, length)
            Where the line is in the file (for :meth:`read_at`).
        """
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
        return before, len(line)

    def close(self) -> None:
        """Release the lock and the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ResultsLog:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
