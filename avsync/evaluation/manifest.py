"""Evaluation manifests: one row per file with its ground truth.

Native columns (CSV with a header, or JSON Lines with the same keys)::

    path, label, kind, group, generator, offset_frames, segments   (+ optional subset, paired_with, id)

* ``path`` — the media file; relative paths are resolved against the manifest's folder.
  ``$NAME`` / ``${NAME}`` are replaced by the environment variable ``NAME`` (an unset one is an error),
  so a checked-in manifest can name files of a data set that lives elsewhere:
  ``${AVSYNC_SHARED}/data/fake_speech/yourtts/Exp4_SCL/p302_001.wav``; a path that starts with a
  variable whose value is relative (``AVSYNC_SHARED=../shared``) is taken relative to the working
  directory, as the shell would. ``id`` defaults to the path as written (before expansion).
* ``label`` — ``real`` or ``fake`` (also accepted: ``0``/``1``, ``bonafide``/``spoof``,
  ``genuine``/``manipulated``).
* ``kind`` — free text describing the modality, e.g. ``real_av``, ``fake_speech``.
* ``group`` — who or where the content comes from (speaker, source video): pairing and per-group
  splits use it.
* ``generator`` — the system that made a fake (empty for real files).
* ``offset_frames`` — known audio/video offset in 25 fps frames (positive: audio leads video), or
  empty when unknown.
* ``segments`` — manipulated time ranges in seconds, JSON ``[[start, end], ...]`` (empty: none).
* ``subset`` — the reporting subset; by default the first two folders of ``path`` relative to the
  manifest, or to the variable a path starts with (``fake_speech/yourtts``); of an absolute path, the two
  folders nearest the file; ``.`` for a file beside the manifest.
* ``audio`` (optional) — an edit of the file's audio made at evaluation time, so that a manifest can list
  copies of a real clip without storing them: ``shift:N`` moves the audio ``N`` 25 fps frames earlier
  (audio leads video; negative: later; zero-padded), ``from:PATH`` replaces it with the audio of another
  file (mixed to mono, looped or cut to this file's length: dubbed audio), ``from:PATH;shift:N`` does both. ``PATH``
  resolves like ``path``. The edited copy (video stream copied, audio as float PCM at the analysis
  rate) is written once under the run's folder; a row's ``offset_frames`` then says what the analysis
  should find (a shifted copy of a clip read as in sync: ``N``). ``id`` defaults to ``path#audio``.

The shared data set's ``MANIFEST.csv`` (columns ``file, kind, label, paired_with, ...`` where
``label`` is a free-text description) is recognised and mapped by :func:`map_shared_row`:

================  ========================================================================
native column     from the shared MANIFEST.csv
================  ========================================================================
path              ``file`` (relative to the CSV's folder)
label             ``kind``: ``real_av``/``real_speech`` → real, ``fake_av``/``fake_speech`` → fake
kind              ``kind``
subset            first two folders of ``file``: ``fake_speech/yourtts``, ``real_speech/fsdd``
generator         fake rows only: the system folder under ``fake_speech/<source>/``
                  (``Exp4_SCL``, ``SC-GlowTTS-Trans``, ``HGAN_V1``, ``MG``, ...); for ``fake_av``
                  the text after ``generator=`` in the description up to ``(``, ``;`` or
                  `` output`` (``SadTalker``, ``HyperLips``, ``Wav2Lip + GFPGAN face
                  restoration``), else the source folder (``dfdc``)
group             ``speaker=X`` / ``speaker X`` / ``actor X`` in the description, a VCTK id
                  (``p225``) in the path, ``LJSpeech`` for the LJSpeech recordings, else the
                  source folder (second path component)
offset_frames     ``AV offset N`` in the description (the SyncNet demo: 3), else unknown
segments          none (the shared files are fully real or fully fake)
paired_with       ``paired_with``
================  ========================================================================
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from avsync.errors import ConfigError
from avsync.results import Serializable

__all__ = [
    "NATIVE_COLUMNS",
    "AudioEdit",
    "ManifestRow",
    "filter_rows",
    "map_shared_row",
    "paired_reals",
    "read_manifest",
    "write_manifest",
]

Label = Literal["real", "fake"]
NATIVE_COLUMNS = ("path", "label", "kind", "group", "generator", "offset_frames", "segments", "subset",
                  "paired_with", "id")
OPTIONAL_COLUMNS = ("audio",)
"""Written only when some row uses them."""

_LABELS = {
    "real": "real", "0": "real", "bonafide": "real", "bona-fide": "real", "bona fide": "real", "genuine": "real",
    "fake": "fake", "1": "fake", "spoof": "fake", "manipulated": "fake", "deepfake": "fake",
}
_KIND_LABEL = {"real_av": "real", "real_speech": "real", "fake_av": "fake", "fake_speech": "fake"}


@dataclass(frozen=True)
class AudioEdit:
    """The ``audio`` column: audio moved by ``shift_frames`` 25 fps frames (positive: earlier, leading the
    video) and/or taken from the file ``source``."""

    shift_frames: int = 0
    source: str | None = None

    @classmethod
    def parse(cls, spec: str, *, where: str = "audio", resolve: Callable[[str], str] | None = None) -> AudioEdit:
        """``shift:N``, ``from:PATH`` or both joined by ``;``; ``resolve(path)`` maps ``PATH``."""
        shift, source = 0, None
        for part in (x.strip() for x in str(spec).split(";")):
            key, sep, value = part.partition(":")
            key, value = key.strip().lower(), value.strip()
            if key == "shift" and sep and value:
                try:
                    shift = int(value)
                except ValueError:
                    raise ConfigError(f"{where}: shift must be a whole number of 25 fps frames, got {value!r}") from None
            elif key == "from" and sep and value:
                if source is not None:
                    raise ConfigError(f"{where}: two from: parts in {spec!r}")
                source = resolve(value) if resolve is not None else value
            elif part:
                raise ConfigError(f"{where}: unknown audio edit {part!r}",
                                  hint="use shift:N (frames, + = audio earlier), from:PATH, or both joined by ';'")
        return cls(shift, source)

    def spec(self) -> str:
        """The canonical text (``from:PATH;shift:N``; empty for no edit)."""
        parts = ([f"from:{self.source}"] if self.source else []) + ([f"shift:{self.shift_frames:+d}"] if self.shift_frames else [])
        return ";".join(parts)


@dataclass(frozen=True)
class ManifestRow(Serializable):
    """One evaluation file and its ground truth (see the module docstring for the columns)."""

    id: str
    path: str
    label: Label
    kind: str = ""
    group: str = ""
    generator: str = ""
    subset: str = ""
    offset_frames: float | None = None
    segments: tuple[tuple[float, float], ...] = ()
    paired_with: str = ""
    audio: str = ""
    """An :class:`AudioEdit` made before scoring (canonical text, ``from:`` path resolved; empty: none)."""

    @property
    def audio_edit(self) -> AudioEdit | None:
        """The parsed ``audio`` column, or ``None``."""
        return AudioEdit.parse(self.audio) if self.audio else None

    @property
    def y(self) -> int:
        """1 for fake, 0 for real (the metrics' label)."""
        return 1 if self.label == "fake" else 0

    @property
    def modality(self) -> str:
        """``"av"`` or ``"speech"`` from ``kind`` (``""`` when unknown)."""
        k = self.kind.lower()
        return "av" if k.endswith("_av") else ("speech" if k.endswith("_speech") else "")


def _label(value: Any, *, where: str) -> Label:
    key = str(value).strip().lower()
    if key not in _LABELS:
        raise ConfigError(f"{where}: label {value!r} is neither real nor fake",
                          hint="use real/fake (or 0/1, bonafide/spoof, genuine/manipulated)")
    return _LABELS[key]  # type: ignore[return-value]


def _segments(value: Any, *, where: str) -> tuple[tuple[float, float], ...]:
    if value in (None, "", []):
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{where}: segments must be JSON [[start, end], ...], got {value!r}") from e
    try:
        segs = tuple((float(a), float(b)) for a, b in value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: segments must be [[start, end], ...] in seconds") from e
    for a, b in segs:
        if not b > a >= 0:
            raise ConfigError(f"{where}: segment [{a}, {b}] must have 0 <= start < end")
    return segs


def _offset(value: Any) -> float | None:
    if value in (None, ""):
        return None
    return float(value)


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _default_subset(rel: str) -> str:
    m = _VAR.match(rel)
    if m:  # ${AVSYNC_SHARED}/data/fake_speech/... -> relative to the variable
        rel = rel[m.end():].lstrip("/")
    p = Path(rel)
    if p.is_absolute():  # no root to count from: the file's two nearest folders (…/real_av/grid_lipnet/x.mpg)
        return "/".join(p.parent.parts[1:][-2:]) or "/"
    parts = p.parts
    # a file beside the manifest is in ".", never in a set without a name
    return "/".join(parts[:2]) if len(parts) > 2 else (parts[0] if len(parts) > 1 else ".")


def _expand(path: str, *, where: str) -> str:
    """``$NAME`` / ``${NAME}`` in ``path`` replaced from the environment (module docstring, ``path``)."""
    if "$" not in path:
        return path
    missing: list[str] = []

    def value(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if not os.environ.get(name):
            missing.append(name)
            return m.group(0)
        return os.environ[name]

    out = _VAR.sub(value, path)
    if missing:
        raise ConfigError(f"{where}: path {path!r} uses ${{{missing[0]}}}, which is not set",
                          hint=f"set it in the environment, e.g. {missing[0]}=../shared avsync eval ...")
    if _VAR.match(path) and not os.path.isabs(out):  # relative value: relative to where the command runs
        out = os.path.abspath(out)
    return out


def _resolve(path: str, base: Path) -> str:
    p = Path(path)
    return os.fspath(p if p.is_absolute() else base / p)


_SPEAKER_RES = [
    re.compile(r"(?<![\w-])speaker=([A-Za-z0-9_]+)"),
    re.compile(r"(?<![\w-])speaker ([A-Za-z0-9_]+)"),
    re.compile(r"\bactor ([A-Za-z0-9_]+)"),
]
_NOT_NAMES = {"not", "unknown", "is", "of", "the", "per", "for", "in", "with", "and", "a"}


def _group_from(rel: str, desc: str) -> str:
    for rx in _SPEAKER_RES:
        for m in rx.finditer(desc):
            if m.group(1).lower() not in _NOT_NAMES:
                return m.group(1)
    vctk = re.search(r"\b(p\d{3})\b", rel)
    if vctk:
        return vctk.group(1)
    if "LJSpeech" in desc:
        return "LJSpeech"
    parts = Path(rel).parts
    return parts[1] if len(parts) > 1 else ""


def _generator_from(rel: str, desc: str, kind: str) -> str:
    if not kind.startswith("fake"):
        return ""
    parts = Path(rel).parts
    if kind == "fake_speech" and len(parts) > 3:
        # fake_speech/<source>/<system>/...  or  fake_speech/hifigan_demo/ss/<system>/...
        return parts[3] if parts[2] == "ss" and len(parts) > 4 else parts[2]
    if "generator=" in desc:
        g = desc.split("generator=", 1)[1]
        g = re.split(r"\s*\(|;| output|\.\s", g, maxsplit=1)[0].strip()
        if g:
            return g
    return parts[1] if len(parts) > 1 else ""


_SHARED_KINDS = ("real_av", "fake_av", "real_speech", "fake_speech")


def _shared_relative(file: str) -> str:
    """A shared manifest row's ``file`` as the shared ``MANIFEST.csv`` writes it (``fake_speech/yourtts/...``), also
    when a copied row names it from elsewhere (``${AVSYNC_SHARED}/data/...``, ``/abs/path/shared/data/...``): from
    the kind folder right below a ``data`` folder, else the first folder that is one of the four kinds."""
    m = _VAR.match(file)
    rest = file[m.end():].lstrip("/") if m else file
    parts = Path(rest).parts
    kinds = [i for i, part in enumerate(parts) if part in _SHARED_KINDS]
    if not kinds:
        return file
    under_data = [i for i in kinds if i > 0 and parts[i - 1] == "data"]  # .../shared/data/<kind>/...: the shared root
    return "/".join(parts[(under_data or kinds)[0]:])


def map_shared_row(rec: dict[str, str], *, base: Path, where: str = "manifest") -> ManifestRow:
    """Map one row of the shared ``MANIFEST.csv`` onto a :class:`ManifestRow` (table in the module doc). ``file`` may
    also be absolute or start with an environment variable (``${AVSYNC_SHARED}/data/...``); its sets, groups and
    generators are read from the part below the shared data folder either way."""
    rel = _shared_relative(rec["file"])
    kind = rec.get("kind", "").strip()
    if kind not in _KIND_LABEL:
        raise ConfigError(f"{rel}: kind {kind!r} is not one of {', '.join(_KIND_LABEL)}")
    desc = rec.get("label", "") or ""
    m = re.search(r"AV offset (-?\d+)", desc)
    return ManifestRow(
        id=rel,
        path=_resolve(_expand(rec["file"], where=where), base),
        label=_KIND_LABEL[kind],  # type: ignore[arg-type]
        kind=kind,
        group=_group_from(rel, desc),
        generator=_generator_from(rel, desc, kind),
        subset=_default_subset(rel),
        offset_frames=float(m.group(1)) if m else None,
        paired_with=(rec.get("paired_with") or "").strip(),
    )


def _native_row(rec: dict[str, Any], *, base: Path, where: str) -> ManifestRow:
    if not rec.get("path"):
        raise ConfigError(f"{where}: the path column is empty")
    rel = str(rec["path"])
    edit = AudioEdit.parse(rec.get("audio") or "", where=where,
                           resolve=lambda x: _resolve(_expand(x, where=where), base)).spec()
    return ManifestRow(
        id=str(rec.get("id") or (f"{rel}#{str(rec['audio']).strip()}" if str(rec.get("audio") or "").strip() else rel)),
        path=_resolve(_expand(rel, where=where), base),
        label=_label(rec.get("label", ""), where=where),
        kind=str(rec.get("kind") or ""),
        group=str(rec.get("group") or ""),
        generator=str(rec.get("generator") or ""),
        subset=str(rec.get("subset") or _default_subset(rel)),
        offset_frames=_offset(rec.get("offset_frames")),
        segments=_segments(rec.get("segments"), where=where),
        paired_with=str(rec.get("paired_with") or ""),
        audio=edit,
    )


def read_manifest(path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> list[ManifestRow]:
    """Read a CSV or JSON Lines manifest (native columns or the shared ``MANIFEST.csv``).

    Parameters
    ----------
    path
        ``.csv`` (header required) or ``.jsonl``/``.json`` (one object per line).
    root
        Folder that relative paths are resolved against (default: the manifest's folder). Paths that
        start with an environment variable (``${AVSYNC_SHARED}/data/...``) do not use it.

    Raises
    ------
    ConfigError
        Missing file or columns, unknown label, malformed segments, a path naming an unset
        environment variable.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"manifest {path} does not exist")
    base = Path(root) if root is not None else path.parent
    rows: list[ManifestRow] = []
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        with open(path, encoding="utf-8") as fh:
            for i, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise ConfigError(f"{path}:{i}: not valid JSON ({e.msg})") from e
                    rows.append(_row(rec, base=base, where=f"{path}:{i}"))
    else:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            cols = set(reader.fieldnames or ())
            if not ({"path", "label"} <= cols or {"file", "kind"} <= cols):
                raise ConfigError(f"{path}: needs columns path,label (or the shared file,kind); found {sorted(cols)}")
            for i, rec in enumerate(reader, 2):
                rows.append(_row(rec, base=base, where=f"{path}:{i}"))
    if not rows:
        raise ConfigError(f"manifest {path} has no rows")
    ids = [r.id for r in rows]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:3]
        raise ConfigError(f"manifest {path}: duplicate ids/paths {dup}")
    return rows


def _row(rec: dict[str, Any], *, base: Path, where: str) -> ManifestRow:
    if "path" not in rec and "file" in rec and "kind" in rec:
        return map_shared_row(rec, base=base, where=where)
    return _native_row(rec, base=base, where=where)


def write_manifest(rows: Iterable[ManifestRow], path: str | os.PathLike) -> str:
    """Write rows in the native format (``.jsonl`` → JSON Lines, otherwise CSV)."""
    path = Path(path)
    rows = list(rows)
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        with open(path, "w", encoding="utf-8") as fh:
            for r in rows:
                d = r.to_dict()
                d.pop("schema_version", None)
                fh.write(json.dumps(d) + "\n")
    else:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            extra = ["audio"] if any(r.audio for r in rows) else []
            w = csv.DictWriter(fh, fieldnames=[*NATIVE_COLUMNS, *extra])
            w.writeheader()
            for r in rows:
                w.writerow({**({"audio": r.audio} if extra else {}),
                    "path": r.path, "label": r.label, "kind": r.kind, "group": r.group, "generator": r.generator,
                    "offset_frames": "" if r.offset_frames is None else r.offset_frames,
                    "segments": json.dumps([list(s) for s in r.segments]) if r.segments else "",
                    "subset": r.subset, "paired_with": r.paired_with, "id": r.id,
                })
    return os.fspath(path)


def _matches(row: ManifestRow, pattern: str) -> bool:
    pattern = pattern.strip().rstrip("/")
    return (
        row.subset == pattern
        or f"{row.subset}/{row.generator}" == pattern
        or row.id == pattern
        or row.id.startswith(pattern + "/")
        or row.kind == pattern
    )


def filter_rows(rows: Sequence[ManifestRow], subsets: Sequence[str] = ()) -> list[ManifestRow]:
    """Rows whose subset, ``subset/generator``, kind, or path prefix matches any of ``subsets``.

    ``fake_speech/yourtts`` selects the whole subset; ``fake_speech/yourtts/Exp4_SCL`` one generator
    (or the folder of that name); ``real_speech`` every real-speech row. No pattern keeps all rows.
    """
    if not subsets:
        return list(rows)
    return [r for r in rows if any(_matches(r, s) for s in subsets)]


def paired_reals(fakes: Sequence[ManifestRow], rows: Sequence[ManifestRow]) -> tuple[list[ManifestRow], str]:
    """The real files a set of fakes is compared with for EER, and the rule that chose them.

    Rules, first that yields files wins:

    1. ``same-group``: real files of the same subset whose group (speaker/source) is one of the
       fakes' groups — YourTTS clones vs the ground truth of the same VCTK speakers, HiFi-GAN
       copy-synthesis vs the LJSpeech recordings;
    2. ``paired``: real files named in the fakes' ``paired_with`` column;
    3. ``same-subset``: real files of the same subset;
    4. ``same-source``: real files from the same source folder (``real_av/hyperlips`` for
       ``fake_av/hyperlips``);
    5. ``same-modality``: every real file of the same modality (``real_av`` for ``fake_av``).
    """
    reals = [r for r in rows if r.label == "real"]
    subsets = {f.subset for f in fakes}
    groups = {f.group for f in fakes if f.group}
    same_subset = [r for r in reals if r.subset in subsets]
    chosen = [r for r in same_subset if r.group in groups]
    if chosen:
        return chosen, "same-group"
    named = {f.paired_with for f in fakes if f.paired_with}
    chosen = [r for r in reals if r.id in named]
    if chosen:
        return chosen, "paired"
    if same_subset:
        return same_subset, "same-subset"
    sources = {f.subset.split("/", 1)[-1] for f in fakes if "/" in f.subset}
    chosen = [r for r in reals if "/" in r.subset and r.subset.split("/", 1)[-1] in sources]
    if chosen:
        return chosen, "same-source"
    modalities = {f.modality for f in fakes}
    chosen = [r for r in reals if r.modality in modalities and r.modality]
    if chosen:
        return chosen, "same-modality"
    return reals, "all-real"


def with_path(row: ManifestRow, path: str) -> ManifestRow:
    """A copy of ``row`` pointing at another file (a perturbed or trimmed version)."""
    return replace(row, path=path)
