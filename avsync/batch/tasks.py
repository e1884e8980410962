"""What a batch run computes per file: a picklable *task factory* and the code that runs it.

A task factory is a picklable callable ``factory(model) -> scorer`` (it may also accept a
``device=`` keyword, and task options such as ``precision=`` as keywords); a scorer is ``path -> mapping`` with at least ``status`` and ``score``. The
engine sends the factory to each worker process or Ray actor, which builds the scorer **once**
and then scores many files.

A name ``"package.module:factory"`` loads a user's own factory (it must be importable by the
workers). Other task names resolve through the task registry :mod:`avsync.evaluation.tasks`
(``inspect``, ``spoof``, ``sync``, ``analyze``, ...), shared with ``avsync eval``.
"""

from __future__ import annotations

import importlib
import inspect as _pyinspect
import os
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeGuard

from avsync.errors import AvsyncError, ConfigError
from avsync.results import Status, to_jsonable

__all__ = ["NamedTask", "TaskSpec", "check_options", "refuse_unknown_options", "resolve_task", "run_scorer", "task_models", "task_version"]

Scorer = Callable[[str], Mapping[str, Any]]


class _ProgressScorer(Protocol):
    """A scorer that also takes ``progress=`` (see :func:`takes_progress`)."""

    def __call__(self, path: str, *, progress: Callable[[float, float], None]) -> Mapping[str, Any]: ...


def _registry():
    return importlib.import_module("avsync.evaluation.tasks")


def _lookup(name: str) -> tuple[Callable[..., Scorer], str]:
    if ":" in name:  # "package.module:factory" — a user's own task
        mod, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"cannot load task factory {name!r}: {e}",
                              hint="pass MODULE:FACTORY importable by the workers (check PYTHONPATH)") from e
        return factory, str(getattr(factory, "version", "0"))
    task = _registry().get_task(name)  # ConfigError naming the known tasks when unknown
    return task.factory, str(getattr(task, "version", "0"))


@dataclass(frozen=True)
class NamedTask:
    """Picklable factory that looks the task up by name *in the worker* (registry closures need not pickle)."""

    name: str

    def __call__(self, model: str | None = None, *, device: str | None = None, **options: Any) -> Scorer:
        factory, _ = _lookup(self.name)
        return _call_factory(factory, model, device, options, task=self.name)


def resolve_task(name: str) -> Callable[..., Scorer]:
    """Check that task ``name`` exists here and return a picklable factory for it.

    The factory itself when it pickles (a module-level function: also works for tasks registered
    at run time), else a :class:`NamedTask` that looks the name up again in each worker (the
    registry's lazily-importing closures).

    Raises
    ------
    ConfigError
        Unknown task name.
    """
    import pickle

    factory, _ = _lookup(name)
    try:
        pickle.loads(pickle.dumps(factory))
    except Exception:  # noqa: BLE001 - closures, lambdas, local functions
        return NamedTask(name)
    return factory


def task_version(name: str) -> str:
    """Version string of task ``name`` (part of the resume key)."""
    return _lookup(name)[1]


def task_models(name: str, model: str | None = None) -> dict[str, Any]:
    """The models task ``name`` computes with, by name and sha256 (part of the resume key): those of the task
    registry's :func:`avsync.evaluation.tasks.task_models`; empty for a ``module:factory`` task."""
    if ":" in name:
        return {}
    models_of = getattr(_registry(), "task_models", None)
    return dict(models_of(name, model)) if models_of is not None else {}


def accepts_keyword(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` can be called with the keyword ``name`` (a named parameter or ``**kwargs``)."""
    try:
        params = _pyinspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any((p.name == name and p.kind is not p.POSITIONAL_ONLY) or p.kind is p.VAR_KEYWORD for p in params)


def refuse_unknown_options(task: str, factory: Callable[..., Any], options: Mapping[str, Any] | None) -> None:
    """Raise :class:`ConfigError` for the options ``factory`` does not take.

    A built-in task's factory answers through its ``takes_option`` (the feature module's
    ``eval_task``); any other factory by its signature.
    """
    takes = getattr(factory, "takes_option", None) or (lambda name: accepts_keyword(factory, name))
    unknown = [k for k in options or () if not takes(k)]
    if unknown:
        names = getattr(factory, "option_names", None)
        if names is not None:
            known = names()
        else:
            try:
                after_model = list(_pyinspect.signature(factory).parameters.values())[1:]  # factory(model, ...)
                known = [p.name for p in after_model
                         if p.name != "device" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
            except (TypeError, ValueError):
                known = []
        hint = (f"task {task!r} takes {', '.join(known)}" if known else f"task {task!r} takes no options")
        raise ConfigError(f"task {task!r} takes no option {', '.join(map(repr, unknown))}", hint=hint)


def check_options(spec: TaskSpec) -> None:
    """Refuse, before any worker starts, the task options that the task's factory does not take."""
    if not spec.options:
        return
    factory = spec.factory
    if isinstance(factory, NamedTask):  # look through to the registered factory
        factory, _ = _lookup(factory.name)
    refuse_unknown_options(spec.name, factory, spec.options)


def _call_factory(factory: Callable[..., Scorer], model: str | None, device: str | None,
                  options: Mapping[str, Any] | None = None, *, task: str = "this task") -> Scorer:
    refuse_unknown_options(task, factory, options)
    options = dict(options or {})
    if device and accepts_keyword(factory, "device"):
        options["device"] = device
    return factory(model, **options)


@dataclass(frozen=True)
class TaskSpec:
    """Everything a worker needs to build the per-file scorer (picklable).

    Attributes
    ----------
    name
        Task name written into every result line.
    factory
        Picklable ``factory(model[, device=][, **options]) -> scorer``.
    model
        Model name or path handed to the factory (``None``: the task's default).
    version
        Task version (part of the resume key).
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...: passed as ``device=`` when the factory accepts it,
        and exported to the worker as ``AVSYNC_DEVICE``; ``None`` leaves the choice to the task.
    threads
        Torch intra-op threads per worker (``None``: leave as is).
    options
        Task options passed to the factory as keywords (``{"precision": "bfloat16"}``); a factory
        that does not take one is a :class:`~avsync.errors.ConfigError` when the scorer is built.
    """

    name: str
    factory: Callable[..., Scorer]
    model: str | None = None
    version: str = "0"
    device: str | None = None
    threads: int | None = None
    options: Mapping[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:  # a plain dict pickles to workers whatever mapping was given
        if self.options is not None:
            object.__setattr__(self, "options", dict(self.options))

    def build(self) -> Scorer:
        """Build the scorer once (in the worker)."""
        if self.device:
            os.environ["AVSYNC_DEVICE"] = self.device
        if self.threads:
            os.environ.setdefault("OMP_NUM_THREADS", str(self.threads))
        scorer = _call_factory(self.factory, self.model, self.device, self.options, task=self.name)
        if self.threads:
            import sys

            torch = sys.modules.get("torch")
            if torch is not None:
                torch.set_num_threads(self.threads)
        return scorer


def _status_of(value: Any) -> str:
    try:
        return Status(str(value)).value
    except ValueError:
        return str(value)


def takes_progress(scorer: Scorer) -> TypeGuard[_ProgressScorer]:
    """Whether ``scorer`` accepts ``progress=`` (a ``(done, total)`` callback inside one file)."""
    try:
        return "progress" in _pyinspect.signature(scorer).parameters
    except (TypeError, ValueError):
        return False


def run_scorer(scorer: Scorer, path: str, progress: Callable[[float, float], None] | None = None) -> dict[str, Any]:
    """Score one file; never raises for a bad file or a failing task. ``progress`` reaches scorers that take it.

    Returns
    -------
    dict
        ``status``, ``score``, ``label`` (when the task gives one), ``result`` (the task's JSON),
        ``error`` (message when failed, else ``None``), ``task_s`` (seconds).
    """
    t0 = time.perf_counter()
    try:
        raw = scorer(path, progress=progress) if progress is not None and takes_progress(scorer) else scorer(path)
        result = to_jsonable(dict(raw))
        status = _status_of(result.pop("status", Status.OK))
        failed = status in Status._value2member_map_ and Status(status).is_failure
        reasons = result.get("reasons") if isinstance(result.get("reasons"), list) else []
        error = (result.get("message") or result.get("error") or (reasons[0] if reasons else None)
                 or status) if failed else None
    except AvsyncError as e:
        result, status, error = None, e.status.value, str(e)
    except MemoryError:
        result, status, error = None, Status.ERROR.value, "out of memory while processing this file"
    except Exception as e:  # noqa: BLE001 - a task bug must not stop the run
        tb = traceback.extract_tb(e.__traceback__)
        where = f" at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else ""
        result, status, error = None, Status.ERROR.value, f"{type(e).__name__}: {e}{where}"
    score = result.get("score") if result else None
    label = result.get("label") if result else None
    return {
        "status": status,
        "score": score,
        "label": label,
        "result": result,
        "error": error,
        "task_s": round(time.perf_counter() - t0, 6),
    }
