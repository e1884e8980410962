"""Evaluation tasks: a name → a scorer ``path -> dict``.

A scorer takes a media path and returns a mapping with at least

* ``status`` — a :class:`~avsync.results.Status` value (``"ok"`` when it produced a score);
* ``score`` — probability that the file is fake / manipulated in ``[0, 1]`` (``None`` when it
  abstained),

and optionally ``offset_frames`` (A/V offset in 25 fps frames, positive: audio leads video),
``segments`` (``[[confidence, start_s, end_s], ...]`` manipulated-segment proposals),
``windows`` (per-window timeline) and anything else JSON-serialisable (kept in the per-file
results). Scorers should raise :class:`~avsync.errors.AvsyncError` (or return a failure status) for
unusable input.

Tasks are registered with :func:`register_task` as a *factory* ``factory(model) -> scorer`` so
that models load once per run; a factory may also take ``device=`` and task options as keywords
(``precision=``, handed over by ``avsync eval --precision`` and ``avsync batch --precision``). The built-in ``spoof``, ``sync``, ``analyze`` and
``artefacts`` (the artefact model alone, :mod:`avsync.artefacts.task`) tasks import their feature module only when
used; a build without it says so (:class:`TaskUnavailable`).

Feature modules plug in by exposing ``eval_task(model: str | None, device=None, **options) -> scorer``
(``avsync.spoof`` and ``avsync.pipeline`` take ``precision``); without it the
adapter calls the module's ``score(path)`` (``avsync.spoof``, ``avsync.sync``) or
``avsync.analyze(path)`` and reads ``status``, ``score``/``probability``, ``offset_frames`` from
the result's ``to_dict()``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from avsync.errors import ConfigError

__all__ = ["Scorer", "Task", "TaskUnavailable", "get_task", "register_task", "task_models", "task_names", "unregister_task"]

Scorer = Callable[[str], Mapping[str, Any]]
Factory = Callable[[str | None], Scorer]


class TaskUnavailable(ConfigError):
    """The task's feature module is not part of this build."""


@dataclass(frozen=True)
class Task:
    """A registered task.

    Attributes
    ----------
    name
        Name used by ``avsync eval --task``.
    factory
        ``factory(model_name_or_None[, device=][, **options]) -> scorer``.
    version
        Part of the cache key: bump it when the scorer's output changes.
    """

    name: str
    factory: Factory
    version: str = "0"
    description: str = ""


_REGISTRY: dict[str, Task] = {}


def register_task(
    name: str,
    scorer: Scorer | None = None,
    *,
    factory: Factory | None = None,
    version: str = "0",
    description: str = "",
    replace: bool = False,
) -> Task:
    """Register a task under ``name``: either a fixed ``scorer`` or a ``factory(model) -> scorer``.

    Raises
    ------
    ConfigError
        ``name`` is taken (pass ``replace=True`` to override) or neither/both callables given.
    """
    if (scorer is None) == (factory is None):
        raise ConfigError("pass exactly one of scorer= or factory=")
    if name in _REGISTRY and not replace:
        raise ConfigError(f"task {name!r} is already registered; pass replace=True to override it")
    fac: Factory = factory if factory is not None else (lambda model, _s=scorer: _s)  # type: ignore[misc]
    task = Task(name, fac, str(version), description)
    _REGISTRY[name] = task
    return task


def unregister_task(name: str) -> None:
    """Remove a task (built-ins come back on the next :func:`get_task`)."""
    _REGISTRY.pop(name, None)


def _result_to_record(res: Any) -> dict[str, Any]:
    d = res.to_dict() if hasattr(res, "to_dict") else dict(res)
    score = d.get("score", d.get("probability"))
    out = {k: v for k, v in d.items() if k not in ("schema_version",)}
    out["status"] = str(d.get("status", "ok"))
    out["score"] = None if score is None else float(score)
    return out


def _lazy(module: str, task: str, call: str) -> Factory:
    def feature_module():
        try:
            return importlib.import_module(module)
        except ImportError as e:
            if e.name == module:
                raise TaskUnavailable(f"task {task!r} needs {module}, not installed in this build") from e
            raise TaskUnavailable(f"task {task!r} needs {module}, which failed to import ({e})",
                                  hint="install the missing dependency") from e

    def takes_option(name: str) -> bool:
        """Whether the feature module's ``eval_task`` takes option ``name`` (imports the module)."""
        from avsync.batch.tasks import accepts_keyword  # here: importing avsync.batch up front is heavy

        hook = getattr(feature_module(), "eval_task", None)
        return hook is not None and accepts_keyword(hook, name)

    def factory(model: str | None, device: str | None = None, **options: Any) -> Scorer:
        from avsync.batch.tasks import refuse_unknown_options

        mod = feature_module()
        refuse_unknown_options(task, factory, options)
        hook = getattr(mod, "eval_task", None)
        if hook is not None:
            return hook(model, device=device, **options) if device else hook(model, **options)
        fn = getattr(mod, call, None)
        if fn is None:
            raise TaskUnavailable(f"task {task!r}: {module} has neither eval_task() nor {call}()")

        def scorer(path: str) -> Mapping[str, Any]:
            res = fn(path, model=model) if model else fn(path)
            return _result_to_record(res)

        return scorer

    def option_names() -> list[str]:
        """The options the feature module's ``eval_task`` takes (imports the module)."""
        import inspect

        hook = getattr(feature_module(), "eval_task", None)
        if hook is None:
            return []
        return [n for n, p in inspect.signature(hook).parameters.items()
                if n not in ("model", "device") and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]

    factory.takes_option = takes_option  # type: ignore[attr-defined]
    factory.option_names = option_names  # type: ignore[attr-defined]
    return factory


_BUILTINS: dict[str, tuple[str, str, str]] = {
    # task: (module, callable, description)
    "spoof": ("avsync.spoof", "score", "whole-file synthetic-speech probability"),
    "sync": ("avsync.sync.task", "score", "audio/video offset and out-of-sync probability"),
    "analyze": ("avsync.pipeline", "analyze", "full verdict (sync + spoof fusion)"),
    "artefacts": ("avsync.artefacts.task", "score", "generated-face artefact probability of the main face"),
}


def _silence_shortcut(model: str | None) -> Scorer:
    """Baseline task: the fraction of the file that is leading/trailing silence.

    Not a detector: it measures the *shortcut* some data sets carry (fakes and reals framed with
    different amounts of silence). An AUC far from 0.5 on a subset means a model can score well
    there without looking at the speech; rerun with ``--trim-silence`` to remove it.
    """
    from avsync.evaluation.perturb import silence_bounds
    from avsync.media import load_media

    def score(path: str) -> Mapping[str, Any]:
        m = load_media(path)
        if not m.has_audio:
            return {"status": "no_audio", "score": None}
        start, end = silence_bounds(m.audio, m.sample_rate, pad_s=0.0)
        dur = max(m.duration, 1e-9)
        return {"status": "ok", "score": float(min(1.0, (start + max(0.0, dur - end)) / dur)),
                "lead_s": start, "trail_s": max(0.0, dur - end), "duration_s": m.duration}

    return score


def _inspect_factory(model: str | None = None) -> Scorer:
    """The ``inspect`` task: container/stream facts from :func:`avsync.inspect_media`; no score."""
    if model:
        raise ConfigError("the inspect task takes no model", hint="drop --model")
    from avsync import inspect_media

    def scorer(path: str) -> Mapping[str, Any]:
        info = inspect_media(path, sha256=False)  # the batch engine hashes once already
        out = info.to_dict()
        out.pop("path", None)
        out.pop("sha256", None)
        out.pop("schema_version", None)
        out["kind"] = info.kind
        out["score"] = None
        return out

    return scorer


register_task("inspect", factory=_inspect_factory, version="1",
              description="container and stream facts (no score)")
register_task("silence", factory=_silence_shortcut, version="1",
              description="baseline: fraction of leading/trailing silence (data-set shortcut check)")


def task_models(name: str, model: str | None = None) -> dict[str, str | None]:
    """The models task ``name`` computes with, by name and sha256 (:func:`avsync.catalog.models_identity`), for the
    tasks built into avsync that run models (``spoof``, ``sync``, ``analyze``, ``artefacts``); empty for the others
    (``inspect``, ``silence``, a registered or ``module:factory`` task), whose results do not depend on them."""
    if name in _REGISTRY or name not in _BUILTINS:
        return {}
    from avsync.catalog import models_identity

    try:
        return models_identity(model)
    except ImportError:  # a build without a feature module: the task itself says so when it is built
        return {}


def task_names() -> list[str]:
    """Registered and built-in task names."""
    return sorted(set(_REGISTRY) | set(_BUILTINS))


def get_task(name: str) -> Task:
    """Look a task up (built-ins are created lazily; their module is imported only by the factory)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in _BUILTINS:
        module, call, desc = _BUILTINS[name]
        return Task(name, _lazy(module, name, call), "0", desc)
    raise ConfigError(f"unknown task {name!r}; choose from {', '.join(task_names())}")
