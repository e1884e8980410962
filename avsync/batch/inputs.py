"""Where the inputs of a batch run come from: a folder, a glob, a manifest, or explicit paths.

* a folder is walked recursively (sorted, hidden files and folders skipped, symlinked folders not
  followed); every regular file is an input, and :mod:`avsync.batch.sniff` later decides by
  content whether it is media;
* a glob (``"calls/**/*.wav"``, recursive ``**`` allowed) lists the files it matches;
* a manifest is a ``.csv`` with a ``path`` (or ``file``) column, or a ``.jsonl`` file with one
  object per line holding ``path`` (or ``file``); relative paths are relative to the manifest's
  folder; the other columns travel into the results as ``meta``.
"""

from __future__ import annotations

import csv
import glob as _glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from avsync.errors import ConfigError

__all__ = ["InputItem", "discover_inputs"]

InputOrigin = Literal["folder", "glob", "manifest", "file"]

_PATH_KEYS = ("path", "file", "filepath", "filename")


@dataclass(frozen=True)
class InputItem:
    """One input of a batch run.

    Attributes
    ----------
    path
        Path as given (folder walk: joined to the folder given).
    origin
        How it was found: ``"folder"`` and ``"glob"`` inputs that are not media are ``skipped``, unless
        their name ends like an audio or video file (``avsync.batch.sniff.MEDIA_SUFFIXES``: a damaged
        recording, ``decode_error``); ``"manifest"`` and ``"file"`` inputs were asked for explicitly, so a
        non-media file there is a ``decode_error``.
    meta
        Other manifest columns (label, id, ...), copied into the result line.
    """

    path: str
    origin: InputOrigin
    meta: dict[str, Any] = field(default_factory=dict)


def _walk(root: Path) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = os.path.join(dirpath, name)
            # a link to a recording that is gone (or a loop) is an input that cannot be read: a not_found line saying
            # so, not a file left out without a word
            if os.path.isfile(full) or (os.path.islink(full) and not os.path.exists(full)):
                out.append(full)
    return out


def _manifest_rows(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    rows: list[dict[str, Any]] = []
    if suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ConfigError(f"{path}:{n}: not valid JSON ({e.msg})") from e
                if not isinstance(obj, dict):
                    raise ConfigError(f"{path}:{n}: each line must be a JSON object with a 'path' key")
                rows.append(obj)
    else:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [dict(r) for r in csv.DictReader(fh)]
    return rows


def _read_manifest(path: Path) -> list[InputItem]:
    rows = _manifest_rows(path)
    if not rows:
        return []
    keys = {k.lower().strip(): k for r in rows for k in r}
    col = next((keys[k] for k in _PATH_KEYS if k in keys), None)
    if col is None:
        raise ConfigError(
            f"{path}: no 'path' or 'file' column",
            hint=f"the manifest has columns {sorted(keys.values())}; rename the one holding file paths to 'path'",
        )
    edited = next((n for n, r in enumerate(rows, 1) if str(r.get(keys.get("audio", "audio")) or "").strip()), None)
    if edited is not None:
        raise ConfigError(f"{path}: row {edited} edits its audio (the 'audio' column); a batch analyses files as they are",
                          hint="run the manifest with avsync eval, which makes the edited copies")
    base = path.parent
    items = []
    for n, row in enumerate(rows, 1):
        value = row.get(col)
        if value is None or not str(value).strip():
            raise ConfigError(f"{path}: row {n} has an empty '{col}'")
        p = Path(str(value).strip())
        if not p.is_absolute():
            p = base / p
        meta = {k: v for k, v in row.items() if k != col}
        items.append(InputItem(os.fspath(p), "manifest", meta))
    return items


def is_manifest(path: str | os.PathLike) -> bool:
    """True for a ``.csv`` / ``.jsonl`` / ``.ndjson`` file (read as a manifest, not as media)."""
    p = Path(path)
    return p.is_file() and p.suffix.lower() in (".csv", ".jsonl", ".ndjson")


def discover_inputs(source: str | os.PathLike | list[str]) -> list[InputItem]:
    """List the inputs of a batch run.

    Parameters
    ----------
    source
        A folder (walked recursively), a glob pattern, a manifest (``.csv`` with a ``path`` /
        ``file`` column, or ``.jsonl``), a single file, or a list of paths.

    Returns
    -------
    list of InputItem
        In a stable order (sorted walk, manifest order), without duplicate paths.

    Raises
    ------
    ConfigError
        Nothing matches, or a manifest has no path column.
    """
    return unique_inputs(listed_inputs(source))[0]


def listed_inputs(source: str | os.PathLike | list[str]) -> list[InputItem]:
    """The inputs ``source`` names (:func:`discover_inputs`), repeated paths included."""
    if isinstance(source, (list, tuple)):
        items = [InputItem(os.fspath(p), "file") for p in source]
    else:
        s = os.fspath(source)
        p = Path(s)
        if p.is_dir():
            items = [InputItem(f, "folder") for f in _walk(p)]
        elif is_manifest(p):
            items = _read_manifest(p)
        elif p.is_file():
            items = [InputItem(s, "file")]
        elif _glob.has_magic(s):
            items = [InputItem(f, "glob") for f in sorted(_glob.glob(s, recursive=True)) if os.path.isfile(f)]
            if not items:
                raise ConfigError(f"the pattern {s!r} matches no file")
        else:
            raise ConfigError(f"{s}: no such file, folder or manifest", hint="check the path")
    return items


def unique_inputs(items: list[InputItem]) -> tuple[list[InputItem], int]:
    """``items`` without repeated paths (the first of each kept, in order), and how many paths were named more than
    once."""
    seen: dict[str, int] = {}
    unique = []
    for it in items:
        key = os.path.abspath(it.path)  # "a/x.wav" and its absolute path are one file
        if key not in seen:
            seen[key] = 0
            unique.append(it)
        seen[key] += 1
    return unique, sum(n > 1 for n in seen.values())
