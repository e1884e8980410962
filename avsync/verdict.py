"""The verdict of an analysis and its provenance."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from avsync.fusion import Cue, FusedWindow, Label, Segment, format_p
from avsync.results import Serializable, Status

if TYPE_CHECKING:  # optional dependency, imported by to_pandas() when it runs
    import pandas

__all__ = ["ModelRef", "Provenance", "Verdict"]


@dataclass(frozen=True)
class ModelRef(Serializable):
    """A model bundle used for an analysis: registry name, version and sha256 of its weights file."""

    name: str
    version: str | None = None
    sha256: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class Provenance(Serializable):
    """What produced a verdict: input hash, models, config hash, avsync version, timings (s)."""

    input_path: str | None
    input_sha256: str | None
    avsync_version: str
    config_hash: str
    models: tuple[ModelRef, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    device: str = "cpu"


@dataclass(frozen=True)
class Verdict(Serializable):
    """Is the speech in this clip genuine?

    Attributes
    ----------
    label
        ``genuine``, ``manipulated`` or ``undetermined``.
    score
        Fused probability that the clip is manipulated (``None`` when no cue was usable).
    status
        ``ok`` when at least one cue produced evidence (``reasons`` say what was not checked); else the
        absence that stopped every cue (``no_speech``, then ``no_face``, ``too_short``), ``no_audio`` for a
        video without sound, or the input's failure (``decode_error``, ``not_found``, ...).
    reasons
        Plain-language findings, most important first.
    segments
        Flagged stretches (start, end, kind, score).
    cues
        Evidence of each analysis (sync, spoof, speaker, ...), with per-window scores.
    windows
        Fused timeline.
    details
        Full results of each analysis (``sync``, ``spoof``, ...) as dicts.
    provenance
        Input sha256, models, config hash, version, timings.
    """

    label: Label
    score: float | None
    status: Status
    reasons: tuple[str, ...]
    segments: tuple[Segment, ...]
    cues: tuple[Cue, ...]
    windows: tuple[FusedWindow, ...]
    provenance: Provenance
    duration_s: float = 0.0
    kind: str = "audio+video"
    details: dict[str, Any] = field(default_factory=dict)

    def to_pandas(self) -> pandas.DataFrame:
        """The fused timeline as a DataFrame: ``start``, ``end``, ``score`` and one column per cue."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas() needs pandas: pip install 'avsync[pandas]'") from e
        names = sorted({k for w in self.windows for k in w.cues})
        rows = [{"start": w.start, "end": w.end, "score": w.score, **{n: w.cues.get(n) for n in names}} for w in self.windows]
        return pd.DataFrame(rows, columns=["start", "end", "score", *names])

    def cues_to_pandas(self) -> pandas.DataFrame:
        """Every cue's own windows as a long DataFrame: ``cue``, ``channel`` (``None`` for a cue measured on the
        whole clip; 0, 1, ... for each channel of a call), ``start``, ``end``, ``score``, ``valid``. Where
        :meth:`to_pandas` has one column per cue (the most suspicious channel), this keeps each channel."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("cues_to_pandas() needs pandas: pip install 'avsync[pandas]'") from e
        rows = [{"cue": c.name, "channel": w.channel, "start": w.start, "end": w.end, "score": w.score, "valid": w.valid}
                for c in self.cues for w in c.windows]
        return pd.DataFrame(rows, columns=["cue", "channel", "start", "end", "score", "valid"])

    def cue(self, name: str) -> Cue | None:
        """The cue called ``name``, if it ran."""
        return next((c for c in self.cues if c.name == name), None)

    def summary(self) -> str:
        """One line for a terminal: label, probability, first reason."""
        p = "" if self.score is None else f" (p = {format_p(self.score)})"
        first = self.reasons[0] if self.reasons else ""
        first = f": {first.removeprefix(self.label.value + ': ')}" if first else ""
        return f"{self.label.value}{p}{first}"
