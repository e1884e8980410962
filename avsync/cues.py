"""What a cue is called and how it is drawn, and the protocol of an analysis that adds cues to ``avsync analyze``.

A cue (:class:`avsync.fusion.Cue`) is one analysis's evidence reduced for fusion. Its *kind* —
:class:`CueKind`: the words a reason uses ("lip sync", "voice") and the colour of its line in the HTML
report — is looked up here by the cue's name, so the fusion's reasons, the report and the CLI read one table.
The four built-in kinds are registered below; :func:`register_cue_kind` adds one.

An :class:`Analysis` is what :class:`avsync.pipeline.Detector` runs: the built-in audio-visual analysis
(faces → lip sync → mouth-region artefacts) and voice analysis (spoof + speaker), and any objects passed as
``Detector(analyses=[...])``. Adding a cue therefore takes one module with an ``Analysis`` (and, for nicer
words and colour, a ``register_cue_kind`` call) plus its weight in the fusion YAML (``weights: {name: w}``);
a cue without a weight is reported but does not move the fused score. See docs/plugins.md.

This module imports nothing of avsync (a leaf of the import graph) and nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["CUE_KINDS", "Analysis", "AnalysisContext", "CueKind", "cue_color", "cue_words", "register_cue_kind"]


_GREY = "#7f7f7f"


@dataclass(frozen=True)
class CueKind:
    """How a cue named ``name`` is spoken of and drawn."""

    name: str
    words: str
    """Noun phrase used in reasons: "lip sync points to manipulation (p = 0.91)"."""
    color: str = _GREY
    """Matplotlib colour of its line in the HTML report's timeline."""
    description: str = ""


CUE_KINDS: dict[str, CueKind] = {}
"""Registered cue kinds by name (built-ins: ``sync``, ``spoof``, ``speaker``, ``artefact``)."""


def register_cue_kind(kind: CueKind) -> CueKind:
    """Register (or replace) the words and colour of the cues named ``kind.name``; returns ``kind``."""
    CUE_KINDS[kind.name] = kind
    return kind


def cue_words(name: str) -> str:
    """Words for the cue ``name`` in reasons (its name when it has no registered kind)."""
    k = CUE_KINDS.get(name)
    return k.words if k is not None else name


def cue_color(name: str) -> str:
    """Report colour of the cue ``name`` (grey when it has no registered kind)."""
    k = CUE_KINDS.get(name)
    return k.color if k is not None else _GREY


for _k in (
    CueKind("sync", "lip sync", "#1f77b4", "lips against the audio: offset and how well they follow it"),
    CueKind("spoof", "voice", "#d62728", "the voice model's probability that the speech is synthetic"),
    CueKind("speaker", "speaker consistency", "#9467bd", "whether one voice speaks throughout (GE2E)"),
    CueKind("artefact", "mouth region", "#ff7f0e", "generation / blending artefacts of the main face"),
):
    register_cue_kind(_k)


@dataclass
class AnalysisContext:
    """What an analysis may read and add to while a :class:`~avsync.pipeline.Detector` analyses one input.

    ``models`` (each model used, with its sha256: the verdict's provenance), ``details`` (JSON-able results
    per analysis, ``Verdict.details``) and ``timings`` (seconds per stage) are the verdict's; ``faces`` is the
    face tracking of the audio-visual analysis when it ran before (``None`` otherwise); ``progress`` is the
    caller's callback, if any. ``cancelled``, given to an analysis running beside the others, returns ``True``
    once its result is no longer wanted (another analysis failed the verdict): a long analysis may check it and
    stop early.
    """

    device: str = "cpu"
    models: list[Any] = field(default_factory=list)  # avsync.verdict.ModelRef
    details: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    faces: Any = None
    progress: Callable[[int, int], None] | None = None
    cancelled: Callable[[], bool] | None = None


@runtime_checkable
class Analysis(Protocol):
    """One analysis of :class:`~avsync.pipeline.Detector`: turns a media into cues.

    ``name`` names it in errors and timings; ``needs`` is a subset of ``{"audio", "video"}``: the analysis
    runs only on inputs that have all of them. ``run`` returns its cues (usually one, named as its
    :class:`CueKind`); an unusable cue has a non-``ok`` status and a ``message`` rather than raising. An
    exception that escapes ``run`` becomes a cue named ``name`` with status ``error`` and the message: the
    other analyses and the verdict go on.
    """

    name: str
    needs: frozenset[str]

    def run(self, media: Any, context: AnalysisContext) -> Sequence[Any]:
        """The cues (:class:`avsync.fusion.Cue`) of ``media`` (:class:`avsync.media.Media`)."""
        ...
