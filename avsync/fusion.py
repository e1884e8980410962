"""Calibrated late fusion of evidence into one verdict, with abstention.

Each analysis (sync, spoof, speaker, artefact, ...) is reduced to a :class:`Cue`: a status, a clip-level
probability that the clip is manipulated according to that cue, and per-window probabilities with their
start/end times. :func:`fuse` combines the cues' log-odds; a cue that is missing or unusable contributes
nothing, or its fitted availability term (below). The default method, ``"max"``, is an OR of manipulations — a clip is as suspicious as its most
suspicious cue, so a convincingly real voice cannot cancel lips that do not follow the audio:

    p = sigmoid(bias + max_i weight_i * logit(score_i)).

``"logistic"`` (what :func:`avsync.calibration.fit` fits on labelled clips) adds them instead,

    p = sigmoid(bias + sum_i weight_i * logit(score_i)),

and ``"isotonic"`` maps the logistic output through a fitted monotone map. With the two summing methods a
cue that is weighted but not usable (it did not run, found no face, no speech...) adds its **availability
term** ``missing[name]`` instead of nothing, so a fit can learn what the absence of a cue says:

    p = sigmoid(bias + sum_{i usable} weight_i * logit(score_i) + sum_{j weighted, not usable} missing_j).

A missing required cue still never allows ``genuine`` (see below), whatever its term.

Weights, bias, the optional isotonic map and
every threshold live in :class:`FusionConfig` (YAML round-trip), fitted by :func:`avsync.calibration.fit`
(``avsync calibrate``), never in code.

Labels: ``manipulated`` when the fused probability reaches ``manipulated_threshold``; ``genuine`` when it is
below ``genuine_threshold`` **and** every cue that the input kind requires was usable; ``undetermined``
otherwise, with the reason (no face, no speech, too short, too little valid evidence, inconclusive).
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

import numpy as np

from avsync.cues import cue_words
from avsync.errors import ConfigError
from avsync.results import Serializable, Status

__all__ = [
    "Label",
    "CueWindow",
    "Cue",
    "Segment",
    "FusedWindow",
    "FusionConfig",
    "FusionOutcome",
    "fuse",
    "format_p",
    "logit",
    "sigmoid",
    "cue_from_windows",
]

_EPS = 1e-4
FUSION_METHODS = ("max", "max-mean", "logistic", "isotonic")
"""The fusion methods of :class:`FusionConfig`."""
_MAX_METHODS = ("max", "max-mean")


class Label(str, enum.Enum):
    """Verdict label."""

    GENUINE = "genuine"
    MANIPULATED = "manipulated"
    UNDETERMINED = "undetermined"

    def __str__(self) -> str:
        return self.value


@overload
def logit(p: float) -> float: ...
@overload
def logit(p: np.ndarray) -> np.ndarray: ...
def logit(p: float | np.ndarray) -> float | np.ndarray:
    """Log-odds of a probability, clipped to ``[1e-4, 1 - 1e-4]`` (a float for a float, an array for an array)."""
    q = np.clip(p, _EPS, 1 - _EPS)
    out = np.log(q / (1 - q))
    return float(out) if np.ndim(out) == 0 else out


@overload
def sigmoid(x: float) -> float: ...
@overload
def sigmoid(x: np.ndarray) -> np.ndarray: ...
def sigmoid(x: float | np.ndarray) -> float | np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))``, the inverse of :func:`logit`: log-odds to a probability in ``(0, 1)``.

    Computed in float64; a float (or 0-d input) gives a float, an array an array of the same shape.
    """
    out = 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True)
class CueWindow(Serializable):
    """One window of a cue: seconds ``[start, end)``, probability of manipulation, whether it is usable, and
    the audio channel it was measured on (``None``: the whole clip; a call's channels each have their own)."""

    start: float
    end: float
    score: float | None
    valid: bool = True
    channel: int | None = None


@dataclass(frozen=True)
class Cue(Serializable):
    """The evidence of one analysis, reduced for fusion.

    Attributes
    ----------
    name
        ``"sync"``, ``"spoof"``, ``"speaker"``, ``"artefact"``, ...
    status
        ``ok`` when the cue is usable; otherwise why not (``no_face``, ``no_speech``, ...).
    score
        Clip-level probability that the clip is manipulated according to this cue (0..1), or ``None``.
    windows
        Per-window probabilities on the cue's own grid.
    reasons
        Plain-language findings of this cue ("audio leads video by 320 ms").
    coverage
        Fraction of the clip (or of its speech) where the cue is usable, 0..1.
    message
        Why the cue is unusable, in words (for ``undetermined`` reasons).
    notes
        Caveats that are not findings ("telephone-band audio: the voice model is less well tested on it").
    measured
        What the cue measured, in words, whichever way it points ("audio lags video by 120 ms"): an
        ``undetermined`` verdict quotes it.
    """

    name: str
    status: Status
    score: float | None = None
    windows: tuple[CueWindow, ...] = ()
    reasons: tuple[str, ...] = ()
    coverage: float | None = None
    message: str | None = None
    notes: tuple[str, ...] = ()
    measured: str | None = None

    @property
    def usable(self) -> bool:
        """Whether fusion can use this cue: ``status`` is ``ok`` and ``score`` is a finite number."""
        return self.status is Status.OK and self.score is not None and math.isfinite(self.score)


@dataclass(frozen=True)
class Segment(Serializable):
    """A stretch of the clip flagged by fusion: seconds ``[start, end)``, the cue that drives it, its score,
    and the audio channel where that cue found it (``None`` when the cue is not per channel)."""

    start: float
    end: float
    kind: str
    score: float
    channel: int | None = None


@dataclass(frozen=True)
class FusedWindow(Serializable):
    """One window of the fused timeline: per-cue scores (``None`` where a cue has no valid window) and the fusion."""

    start: float
    end: float
    score: float | None
    cues: dict[str, float | None] = field(default_factory=dict)


CUE_PARAM_CUES = ("sync", "speaker")
"""Cues whose analysis-to-probability parameters a fusion config may set (``FusionConfig.cue_params``)."""


@dataclass(frozen=True)
class FusionConfig(Serializable):
    """Everything fusion needs besides the evidence; tuned by ``avsync calibrate``, stored as YAML.

    Attributes
    ----------
    weights
        Weight of each cue's log-odds. A cue missing here is ignored. Under ``"max"`` a weight scales how far a
        cue's *suspicion* counts (log-odds above 0); a cue leaning to genuine counts as it is, so that a
        down-weighted cue can never be the most suspicious one because its weight pulled it towards 0.5, and a
        cue with weight 0 (or less) takes no part.
    bias
        Intercept of the logistic model.
    method
        ``"max"`` (default: the strongest cue decides), ``"max-mean"`` (as ``"max"`` while some cue leans to
        manipulation; when every cue leans to genuine, the mean of their log-odds, so one less reassuring cue
        does not decide alone), ``"logistic"`` (sum of weighted log-odds), or ``"isotonic"`` (logistic, then
        ``isotonic_x``/``isotonic_y``). Weights act under ``"max-mean"`` as under ``"max"``.
    manipulated_threshold, genuine_threshold
        Fused probability at or above which the label is ``manipulated``; below which it may be ``genuine``.
        Between the two the label is ``undetermined`` (inconclusive).
    required
        Cues that must be usable for a ``genuine`` label, per input kind (``audio+video``, ``audio``).
    window_s, hop_s
        Grid of the fused timeline.
    min_duration_s
        Shorter inputs are ``undetermined`` (too short).
    segment_threshold
        Fused windows at or above it form flagged segments.
    missing
        Availability terms (``"logistic"`` / ``"isotonic"`` only): log-odds added for each weighted cue
        that is not usable. Empty (the default, and every config written before it existed): absent cues
        add nothing.
    fitted_on
        What the config was fitted on (data, split, counts, models, command), for the record; empty when
        hand-set.
    cue_params
        How each cue's analysis result becomes its probability, per cue name: values that replace the
        defaults of :class:`avsync.pipeline.SyncCueParams` (``"sync"``, e.g. ``lead_tolerance_ms``) and
        :class:`avsync.pipeline.SpeakerCueParams` (``"speaker"``, e.g. ``identity_change``). Part of the
        config, so a calibration can set them and :meth:`config_hash` covers them; the
        :class:`~avsync.pipeline.Detector` checks the names. ``missing``, ``fitted_on`` and ``cue_params``
        are neither written to YAML nor hashed while empty, so older configs keep their :meth:`config_hash`.
    """

    weights: dict[str, float] = field(default_factory=lambda: {"sync": 1.0, "spoof": 1.0, "speaker": 0.5, "artefact": 1.0})
    bias: float = 0.0
    method: str = "max"
    isotonic_x: tuple[float, ...] = ()
    isotonic_y: tuple[float, ...] = ()
    manipulated_threshold: float = 0.5
    genuine_threshold: float = 0.5
    required: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {"audio+video": ("sync",), "audio": ("spoof",), "video": ("sync",)}
    )
    window_s: float = 2.0
    hop_s: float = 1.0
    min_duration_s: float = 1.0
    segment_threshold: float = 0.5
    version: str = "default"
    missing: dict[str, float] = field(default_factory=dict)
    fitted_on: dict[str, object] = field(default_factory=dict)
    cue_params: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.cue_params) - set(CUE_PARAM_CUES))
        if unknown:
            raise ConfigError(f"cue_params for unknown cues {unknown} (cues with parameters: {list(CUE_PARAM_CUES)})")
        for cue, params in self.cue_params.items():
            if not isinstance(params, dict) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for k, v in params.items()
            ):
                raise ConfigError(f"cue_params[{cue!r}] must map parameter names to finite numbers, not {params!r}")
        # numbers as floats, so that a config and its YAML round trip hash alike (150 and 150.0)
        object.__setattr__(self, "cue_params", {c: {k: float(v) for k, v in p.items()} for c, p in self.cue_params.items()})
        if self.method not in FUSION_METHODS:
            raise ConfigError(f"fusion method must be one of {', '.join(map(repr, FUSION_METHODS))}, not {self.method!r}")
        if not 0 <= self.genuine_threshold <= self.manipulated_threshold <= 1:
            raise ConfigError("thresholds must satisfy 0 <= genuine_threshold <= manipulated_threshold <= 1")
        if len(self.isotonic_x) != len(self.isotonic_y):
            raise ConfigError("isotonic_x and isotonic_y must have the same length")
        if self.method == "isotonic" and len(self.isotonic_x) < 2:
            raise ConfigError("the isotonic method needs a fitted map (at least two points)")

    # -------------------------------------------------------------- YAML / hashing
    def to_dict(self) -> dict:
        d = super().to_dict()
        for k in ("missing", "fitted_on", "cue_params"):  # optional keys: absent while empty (older configs unchanged)
            if not d.get(k):
                d.pop(k, None)
        return d

    def to_yaml(self) -> str:
        """The config as YAML text (keys sorted; ``missing``, ``fitted_on`` and ``cue_params`` left out while empty)."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=True)

    @classmethod
    def from_yaml(cls, text: str) -> FusionConfig:
        """Parse a config from YAML text (as :meth:`to_yaml` writes it); keys left out keep their defaults.

        Raises
        ------
        ConfigError
            The text is not valid YAML, not a mapping, has keys that are not fields of the config
            (``schema_version`` is allowed), or the values fail the config's checks (method, thresholds,
            isotonic map, ``cue_params``).
        """
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"fusion config is not valid YAML: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError("fusion config must be a YAML mapping")
        unknown = set(data) - {f for f in cls.__dataclass_fields__} - {"schema_version"}
        if unknown:
            raise ConfigError(f"unknown fusion config keys: {sorted(unknown)}")
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_yaml` to ``path`` (overwritten if it exists; its folder made if missing)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(self.to_yaml())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FusionConfig:
        """Read a config from a YAML file (:meth:`from_yaml`); ``ConfigError`` if it does not exist or is invalid."""
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"fusion config not found: {p}")
        return cls.from_yaml(p.read_text())

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of this config (for provenance)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    # -------------------------------------------------------------- the model
    def term(self, name: str, p: float) -> float | None:
        """What cue ``name`` at probability ``p`` adds to the fused log-odds; ``None`` if the config ignores it.

        ``"logistic"`` / ``"isotonic"``: ``weight × logit(p)``. ``"max"`` and ``"max-mean"``: the same for a
        suspicious cue (``p > 0.5``) and ``logit(p)`` itself for one leaning to genuine (see ``weights``); a weight
        of 0 or less leaves the cue out.
        """
        w = self.weights.get(name)
        if w is None:
            return None
        z = logit(p)
        if self.method in _MAX_METHODS:
            if w <= 0:
                return None
            return w * z if z > 0 else z
        return w * z

    def combine(self, scores: dict[str, float | None]) -> float | None:
        """Fused probability from per-cue probabilities; ``None`` if no weighted cue has a score.

        A weighted cue absent from ``scores`` (or ``None``) adds its availability term ``missing[name]``
        under the summing methods.
        """
        terms = [t for k, v in scores.items() if v is not None and (t := self.term(k, v)) is not None]
        if not terms:
            return None
        if self.method in _MAX_METHODS:
            z = float(np.max(terms))
            if self.method == "max-mean" and z <= 0:  # every cue leans to genuine: each one's reassurance counts
                z = float(np.mean(terms))
        else:
            absent = [k for k in self.weights if scores.get(k) is None]
            z = float(np.sum(terms)) + float(sum(self.missing.get(k, 0.0) for k in absent))
        p = sigmoid(self.bias + z)
        if self.method == "isotonic":
            p = float(np.interp(p, self.isotonic_x, self.isotonic_y))
        return float(p)


@dataclass(frozen=True)
class FusionOutcome(Serializable):
    """What :func:`fuse` decides: label, fused probability, reasons, segments and the fused timeline."""

    label: Label
    score: float | None
    reasons: tuple[str, ...]
    segments: tuple[Segment, ...]
    windows: tuple[FusedWindow, ...]
    undetermined_reason: str | None = None


MIN_COVER = 0.5
"""A cue speaks for a fused window only where its valid windows cover at least this share of it."""


def _covered(spans: list[tuple[float, float]]) -> float:
    """Length of the union of ``spans``."""
    total, reached = 0.0, -math.inf
    for a, b in sorted(spans):
        if b > reached:  # the part of [a, b) past what earlier spans covered
            total += b - max(a, reached)
            reached = b
    return total


class _CueTimeline:
    """A cue's valid, scored windows indexed by start time, so that the windows overlapping a span are found by
    bisection instead of a scan of every window (a fused timeline asks once per grid window: a scan made an hour of
    video quadratic). The sums run over the same windows in the same order as a scan, so they are the same."""

    def __init__(self, cue: Cue) -> None:
        self.windows = [w for w in cue.windows if w.valid and w.score is not None]
        starts = np.array([w.start for w in self.windows], np.float64)
        self.order = np.argsort(starts, kind="stable")
        self.sorted_starts = starts[self.order]
        # a window that ends after ``start`` starts after ``start - reach`` (a second's slack against rounding)
        self.reach = max((w.end - w.start for w in self.windows), default=0.0) + 1.0

    def channel_scores(self, start: float, end: float) -> dict[int | None, float]:
        """Per channel, the overlap-weighted mean of the window scores within ``[start, end)``, for the channels whose
        windows cover at least :data:`MIN_COVER` of the span (a window reaching half a second into a span of silence
        does not speak for all of it)."""
        lo = int(np.searchsorted(self.sorted_starts, start - self.reach, "left"))
        hi = int(np.searchsorted(self.sorted_starts, end, "left"))  # windows starting at or after ``end``: no overlap
        num: dict[int | None, float] = {}
        den: dict[int | None, float] = {}
        spans: dict[int | None, list[tuple[float, float]]] = {}
        for i in np.sort(self.order[lo:hi]):
            w = self.windows[i]
            a, b = max(start, w.start), min(end, w.end)
            if b > a:
                num[w.channel] = num.get(w.channel, 0.0) + (b - a) * float(w.score)
                den[w.channel] = den.get(w.channel, 0.0) + (b - a)
                spans.setdefault(w.channel, []).append((a, b))
        need = MIN_COVER * (end - start) - 1e-9
        return {ch: num[ch] / den[ch] for ch in num if _covered(spans[ch]) >= need}

    def score(self, start: float, end: float) -> float | None:
        """The cue's score within ``[start, end)``: the overlap-weighted mean of its valid windows, per channel, and
        the most suspicious channel (a cloned voice on one side of a call is not averaged away by the other)."""
        per = self.channel_scores(start, end)
        return max(per.values()) if per else None


def _not_checked(c: Cue) -> str:
    """``"voice not checked: only 0.00 s of speech found"``: which evidence is missing and why."""
    word = cue_words(c.name)
    msg = c.message or c.status.value
    return msg if msg.startswith(word) else f"{word} not checked: {msg}"


def format_p(p: float | None) -> str:
    """A probability for reading: two decimals, or as many more (up to four) as it takes not to print a round
    value (a multiple of 0.05, where thresholds sit) that ``p`` is not: 0.3546 → ``"0.355"``, 0.6996 →
    ``"0.6996"``, 0.35 → ``"0.35"``; ``"n/a"`` for ``None``."""
    if p is None:
        return "n/a"
    for digits in (2, 3, 4):
        text = f"{p:.{digits}f}"
        shown = float(text)
        if abs(shown * 20 - round(shown * 20)) > 1e-9 or abs(shown - p) < 5e-5:
            return text
    return text


def _leaning(c: Cue, push: float, cfg: FusionConfig) -> str:
    """``"lip sync leans to manipulation (p = 0.62: audio lags video by 120 ms)"``; a cue at p = 0.50 (as printed)
    "points neither way"; under ``"max"`` a cue leaning to genuine but not below the genuine threshold is the
    one that keeps the verdict from "genuine", and says so."""
    assert c.score is not None  # only usable cues lean one way or the other
    if abs(c.score - 0.5) < 0.005:
        side = "points neither way"
    elif push > 0:
        side = "leans to manipulation"
    elif cfg.method == "max" and push >= logit(cfg.genuine_threshold):
        side = f"leans to genuine, but not below the {format_p(cfg.genuine_threshold)} needed"
    else:
        side = "leans to genuine"
    what = f": {c.measured}" if c.measured else (f": {c.reasons[0]}" if c.reasons else "")
    return f"{cue_words(c.name)} {side} (p = {format_p(c.score)}{what})"


def _measured(c: Cue) -> str:
    """``"voice (p = 0.13: model score 0.13 over 7 s of speech)"``: a usable cue, its probability and what it read."""
    return f"{cue_words(c.name)} (p = {format_p(c.score)}{f': {c.measured}' if c.measured else ''})"


def _fmt_range(a: float, b: float) -> str:
    return f"{a:.0f}–{b:.0f} s" if b - a >= 2 else f"{a:.1f}–{b:.1f} s"


def _segments(windows: Sequence[FusedWindow], threshold: float,
              cues: Mapping[str, _CueTimeline] | None = None) -> list[Segment]:
    segs: list[Segment] = []
    cur: list[FusedWindow] = []
    for w in list(windows) + [None]:
        if w is not None and w.score is not None and w.score >= threshold:
            cur.append(w)
            continue
        if cur:
            totals: dict[str, list[float]] = {}
            for x in cur:
                for k, v in x.cues.items():
                    if v is not None:
                        totals.setdefault(k, []).append(v)
            kind = max(totals, key=lambda k: np.mean(totals[k])) if totals else "fused"
            start, end = cur[0].start, cur[-1].end
            channel = None
            if cues is not None and kind in cues:
                per = cues[kind].channel_scores(start, end)
                if len(per) > 1 or (per and None not in per):
                    channel = max(per, key=lambda ch: per[ch])
            # every window in cur has a score (the test above)
            segs.append(Segment(start, end, kind, float(max(x.score for x in cur if x.score is not None)), channel))
            cur = []
    return segs


def fuse(cues: Sequence[Cue], *, duration: float, kind: str, config: FusionConfig | None = None) -> FusionOutcome:
    """Combine cues into a label, a probability, reasons, segments and a fused timeline.

    Parameters
    ----------
    cues
        Evidence of each analysis that ran (usable or not).
    duration
        Length of the clip in seconds.
    kind
        Input kind: ``"audio+video"``, ``"audio"`` or ``"video"``.
    config
        Fusion weights and thresholds (default :class:`FusionConfig`).
    """
    cfg = config or FusionConfig()
    by_name = {c.name: c for c in cues}
    usable = {c.name: c for c in cues if c.usable}

    # fused timeline on a fixed grid
    from avsync.timebase import SlidingWindow

    grid = SlidingWindow(cfg.window_s, cfg.hop_s).bounds(duration, partial=True) if duration > 0 else np.zeros((0, 2))
    if len(grid) and duration >= cfg.window_s and grid[-1, 1] - grid[-1, 0] < cfg.window_s:
        # the window that covers the end spans a whole window back from it: a short one would read the last cue
        # window almost alone (an 8.01 s clip's 7-8.01 s) and flag what its full-length neighbours average away
        grid[-1, 0] = duration - cfg.window_s
        if len(grid) > 1 and grid[-1, 0] - grid[-2, 0] < cfg.hop_s / 2:  # next to a copy of its neighbour: merged
            grid[-2, 1] = duration
            grid = grid[:-1]
    timelines = {name: _CueTimeline(c) for name, c in usable.items()}
    windows = []
    for a, b in grid:
        per = {name: t.score(a, b) for name, t in timelines.items()}
        windows.append(FusedWindow(float(a), float(b), cfg.combine(per), per))
    segments = _segments(windows, cfg.segment_threshold, timelines)

    score = cfg.combine({n: c.score for n, c in usable.items()})
    # findings ordered by how much each cue pushes towards "manipulated"
    usable_scores = {n: c.score for n, c in usable.items() if c.score is not None}  # all of them: usable cues score
    pushes = {n: (t if (t := cfg.term(n, s)) is not None else 0.0) for n, s in usable_scores.items()}
    ranked = sorted(usable.values(), key=lambda c: -pushes[c.name])
    findings = [r for c in ranked if pushes[c.name] > 0 for r in c.reasons]
    contrary = [r for c in ranked if pushes[c.name] <= 0 for r in c.reasons]
    missing_notes = [(c, _not_checked(c)) for c in cues if not c.usable and c.message]
    cue_notes = [f"note: {n}" for c in cues for n in c.notes]
    notes = [n for _, n in missing_notes] + cue_notes
    # a stretch may reach the segment threshold while the clip as a whole stays below it: said, not left to the plot
    local = [f"note: {cue_words(g.kind) if g.kind != 'fused' else 'the evidence'} reaches p = {format_p(g.score)} in "
             f"{_fmt_range(g.start, g.end)}{'' if g.channel is None else f' on channel {g.channel}'}, not enough for the "
             "clip as a whole" for g in segments]

    def undetermined(why: str, *, leanings: bool = False) -> FusionOutcome:
        # the checks that ran but give no reason of their own are said too (a face that is missing does not
        # make the voice check that found nothing disappear from the reasons); ``leanings``: ``why`` names them all,
        # quoting the first reason of a cue that has no measurement, which is then not said twice
        silent = [] if leanings else [c for c in ranked[::-1] if not c.reasons]
        checked = ([f"checked: {', '.join(_measured(c) for c in silent)}"] if silent else [])
        quoted = {c.reasons[0] for c in ranked if leanings and not c.measured and c.reasons}
        # a finding of a cue below the manipulated threshold says so, as the genuine verdict's notes do: "looks
        # synthetic" under an undetermined headline must not read as the verdict
        weak = {r for c in ranked if pushes[c.name] > 0 and c.score is not None
                and c.score < cfg.manipulated_threshold for r in c.reasons}
        said = [f"{r}, not enough to call the clip manipulated" if r in weak else r
                for r in findings + contrary if r not in quoted]
        unsaid = [n for c, n in missing_notes if not (c.message and c.message in why)] + cue_notes  # why says it once
        return FusionOutcome(
            Label.UNDETERMINED, score, tuple([f"undetermined: {why}"] + said + checked + local + unsaid),
            tuple(segments), tuple(windows), why,
        )

    if duration < cfg.min_duration_s:
        return undetermined(f"the clip lasts {duration:.2f} s, shorter than the {cfg.min_duration_s:g} s needed")
    silent = "the file has no audio track, so neither lip sync nor the voice can be checked"
    # a silent video: only a cue of the picture that itself reaches the threshold makes it manipulated (a fitted
    # config's terms for the missing audio cues were fitted on clips with sound)
    pictured = kind != "video" or any(c.score >= cfg.manipulated_threshold for c in usable.values() if c.score is not None)
    if score is not None and score >= cfg.manipulated_threshold and pictured:
        lead = ranked[0]
        main = findings or [f"{cue_words(lead.name)} points to manipulation (p = {format_p(lead.score)})"]
        said = [f"note: {silent}"] if kind == "video" else []  # a silent video: the picture alone (mouth region)
        return FusionOutcome(Label.MANIPULATED, score, tuple(main + said + notes), tuple(segments), tuple(windows))
    if kind == "video":  # never "genuine": the speech cannot be judged without its sound
        return undetermined(silent)
    missing = [r for r in cfg.required.get(kind, ()) if r not in usable]
    if missing:
        whys = [by_name[m].message or f"{m}: {by_name[m].status}" if m in by_name else f"{m} analysis did not run" for m in missing]
        return undetermined("; ".join(whys))
    if score is None:
        return undetermined("too little valid evidence")
    if score >= cfg.genuine_threshold:
        return undetermined(f"the evidence is inconclusive (p = {format_p(score)}, between the "
                            f"{format_p(cfg.genuine_threshold)} needed for genuine and the "
                            f"{format_p(cfg.manipulated_threshold)} for manipulated): "
                            + "; ".join(_leaning(c, pushes[c.name], cfg) for c in ranked), leanings=True)
    checked = ", ".join(_measured(c) for c in ranked[::-1])
    # a cue pushing towards manipulation was outweighed; a cue leaning to genuine whose stretch reads otherwise was not
    reasons = ([f"no sign of manipulation in {checked}"] + [f"outweighed: {r}" for r in findings]
               + [f"note: {r}, not enough for the clip as a whole" for r in contrary] + local + notes)
    return FusionOutcome(Label.GENUINE, score, tuple(reasons), tuple(segments), tuple(windows))


def cue_from_windows(
    name: str,
    starts: Sequence[float],
    ends: Sequence[float],
    scores: Sequence[float | None],
    *,
    valid: Sequence[bool] | None = None,
    aggregate: str = "mean",
    reasons: Sequence[str] = (),
    message_if_empty: str | None = None,
    empty_status: Status = Status.NO_SPEECH,
) -> Cue:
    """Build a :class:`Cue` from per-window probabilities (clip score = mean or max of valid windows)."""
    valid = [True] * len(scores) if valid is None else list(valid)
    wins = tuple(
        CueWindow(float(a), float(b), None if s is None else float(s), bool(v and s is not None))
        for a, b, s, v in zip(starts, ends, scores, valid)
    )
    vals = [w.score for w in wins if w.valid and w.score is not None]  # a valid window has a score
    if not vals:
        return Cue(name, empty_status, None, wins, tuple(reasons), 0.0, message_if_empty)
    score = float(np.max(vals) if aggregate == "max" else np.mean(vals))
    return Cue(name, Status.OK, score, wins, tuple(reasons), len(vals) / max(1, len(wins)))
