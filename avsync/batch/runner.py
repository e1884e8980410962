"""The batch pipeline: discover → sniff → hash → skip what is done → score in workers → append.

:func:`run_batch` is what ``avsync batch`` calls. It is resumable: each result line carries a
``key`` (sha256 of the file's bytes + task + task version + model + avsync version + config) and a
rerun with the same arguments skips every input whose (path, key) already has a line, copies the
result for content already scored under another path (``reused_from``), and appends the rest.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any, Literal

import avsync
from avsync.batch.engines import WORKER_NAME, Engine, Job, make_engine
from avsync.batch.inputs import InputItem, listed_inputs, unique_inputs
from avsync.batch.log import ResultsLog, is_result_record
from avsync.batch.sniff import MEDIA_SUFFIXES, sniff
from avsync.batch.summary import BatchSummary, summarize
from avsync.batch.tasks import TaskSpec, check_options, resolve_task, task_models, task_version
from avsync.errors import ConfigError
from avsync.results import Status

__all__ = ["RECORD_SCHEMA_VERSION", "VOLATILE_FIELDS", "is_results_file", "result_key", "run_batch"]

RECORD_SCHEMA_VERSION = 1
# fields that legitimately differ between two runs over the same inputs
VOLATILE_FIELDS = ("timings", "worker", "engine", "finished_at", "mtime_ns")
# statuses that --retry-errors scores again (failures of the run, not of the file)
RETRYABLE = frozenset({Status.ERROR.value, Status.MODEL_ERROR.value})

_CHUNK = 1 << 20


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def result_key(sha256: str, *, task: str, task_version: str, model: str | None,
               config: Mapping[str, Any] | None = None, models: Mapping[str, Any] | None = None) -> str:
    """Resume key of one file's result: what must match for an earlier line to count as done. ``models``: the
    models the task computes with, by name and sha256 (:func:`avsync.evaluation.tasks.task_models`)."""
    fields: dict[str, Any] = {"sha256": sha256, "task": task, "task_version": task_version, "model": model,
                              "avsync": avsync.__version__, "config": dict(config or {})}
    if models:
        fields["models"] = dict(models)
    blob = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class _Progress:
    def __init__(self, total: int, initial: int, enabled: bool):
        self.bar = None
        self.t0 = time.monotonic()
        self.scored = 0
        self.failed = 0
        self.running: dict[int, float] = {}  # job idx -> fraction of the file done, while it runs
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, file=sys.stderr, unit="file", dynamic_ncols=True,
                            smoothing=0.1, desc="avsync batch")

    def update(self, scored: bool, failed: bool) -> None:
        self.scored += scored
        self.failed += failed
        if self.bar is not None:
            self.bar.set_postfix_str(self._postfix(), refresh=False)
            self.bar.update(1)

    def file_progress(self, job: Job, fraction: float) -> None:
        """How far the file ``job`` has got (a long file in a worker): shown after the file counts."""
        self.running[job.idx] = fraction
        if self.bar is not None:
            self.bar.set_postfix_str(self._postfix(), refresh=True)

    def _postfix(self) -> str:
        el = time.monotonic() - self.t0
        fph = self.scored / el * 3600 if el > 0 and self.scored else 0.0
        text = f"{fph:,.0f} files/h, {self.failed} failed"
        if self.running:
            text += ", in progress " + " ".join(f"{100 * f:.0f}%" for f in list(self.running.values())[:4])
        return text

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def is_results_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a results file of ``avsync batch`` (JSONL whose first line is one of its records)."""
    if not os.fspath(path).lower().endswith((".jsonl", ".ndjson")):
        return False
    try:
        with open(path, "rb") as fh:
            first = json.loads(fh.readline(1 << 20) or b"null")
    except (OSError, ValueError):
        return False
    return is_result_record(first)


def _is_results_file(it: InputItem, out: str | os.PathLike) -> bool:
    """The run's own ``out``, or (in a folder or glob) another batch results file: never an input."""
    try:
        if os.path.exists(out) and os.path.samefile(it.path, out):
            return True
    except OSError:
        pass
    return it.origin in ("folder", "glob") and is_results_file(it.path)


def _where(rec: dict[str, Any]) -> str:
    """The file a result line is about, for resuming: its absolute path as written (``abspath``), or, for a line
    written before that field, its path taken from the current folder. The same file named relatively, absolutely
    or from another folder is one input, not three lines."""
    return str(rec.get("abspath") or os.path.abspath(str(rec.get("path"))))


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


HELD_INTERRUPTS_LIMIT = 3
"""While :func:`held_interrupts` holds them, this many further SIGINT / SIGTERM end the tidy-up after all."""


@contextlib.contextmanager
def held_interrupts() -> Iterator[list[int]]:
    """While inside: SIGINT and SIGTERM are noted (the yielded list of their numbers), not raised; the handlers before
    are restored on leaving. For a stopped batch writing its last lines, closing its workers and summarising: one
    Ctrl-C stops the run, a second one must not turn that into a traceback; the :data:`HELD_INTERRUPTS_LIMIT`-th
    raises ``KeyboardInterrupt`` (a tidy-up that hangs). Only the main thread can hold signals; elsewhere this does
    nothing."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def note(signum: int, frame: object) -> None:
        seen.append(signum)
        if len(seen) >= HELD_INTERRUPTS_LIMIT:  # insisted on: a tidy-up that hangs can still be stopped
            raise KeyboardInterrupt

    for s in before:
        signal.signal(s, note)
    try:
        yield seen
    finally:
        for s, h in before.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def run_batch(
    source: str | os.PathLike | list[str] | list[InputItem],
    out: str | os.PathLike,
    *,
    task: str | TaskSpec = "analyze",
    model: str | None = None,
    jobs: int = 1,
    device: str | None = None,
    engine: Literal["local", "ray"] | Engine = "local",
    ray_address: str | None = None,
    config: Mapping[str, Any] | None = None,
    max_files: int | None = None,
    timeout: float | None = None,
    retry_errors: bool = False,
    progress: bool = True,
    fsync: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> BatchSummary:
    """Run a task over many files, appending one JSON line per input to ``out``; resumable.

    Parameters
    ----------
    source
        Folder (recursive), glob, manifest (``.csv`` with a ``path``/``file`` column or ``.jsonl``),
        a file, a list of paths, or a list of :class:`~avsync.batch.inputs.InputItem`.
    out
        JSONL results file; lines already there are kept and their inputs skipped (resume).
    task
        Task name (``"analyze"``, ``"spoof"``, ``"sync"``, ``"inspect"``) or a :class:`TaskSpec`
        with any picklable factory.
    model
        Model name/path for the task's factory (``None``: its default).
    jobs
        Worker processes (local engine; ``0`` runs in this process) or Ray actors (``0``: one per
        cluster CPU/GPU).
    device
        ``"cpu"``, ``"cuda"``, ``"auto"``...: handed to the task (and to Ray for GPU actors).
    engine
        ``"local"``, ``"ray"`` or an :class:`~avsync.batch.engines.Engine` instance.
    ray_address
        Ray cluster address (``"auto"``, ``"ray://host:10001"``); default ``$RAY_ADDRESS`` or a
        local instance.
    config
        Task options, passed to the task's factory as keywords (``{"precision": "bfloat16"}`` for
        ``spoof`` and ``analyze``) and part of the resume key; a task that does not take one is a
        :class:`ConfigError`.
    max_files
        Stop after writing this many new lines (the rest is done by a rerun).
    timeout
        Seconds one file may take in a local worker before it is killed (``status: error``).
    retry_errors
        Score again inputs whose last line has status ``error`` / ``model_error``.
    progress
        Progress bar with ETA and files/hour on stderr.
    fsync
        ``fsync`` each line (durable against power loss).
    on_record
        Called with each new line (e.g. to stream results elsewhere).

    Returns
    -------
    BatchSummary
        Counts per status and label over the final lines of these inputs, this run's throughput,
        slowest files; ``interrupted`` when stopped by Ctrl-C.

    Raises
    ------
    ConfigError
        Unknown task, unusable source or manifest, the task cannot be built, ``out`` is in use.
    """
    import multiprocessing

    if multiprocessing.current_process().name == WORKER_NAME:  # a worker importing the script that started the batch
        raise ConfigError("run_batch was called again while a batch worker started: workers are spawned and import "
                          "the main script", hint="put the call under `if __name__ == \"__main__\":`")
    t_start = time.monotonic()
    if isinstance(task, str):
        spec = TaskSpec(task, resolve_task(task), model, task_version(task), device)
    else:
        spec = task if model is None else replace(task, model=model)
    if device and not spec.device:
        spec = replace(spec, device=device)
    if config:
        spec = replace(spec, options={**(spec.options or {}), **config})
    check_options(spec)  # before any worker (or Ray actor) starts
    # a device this machine lacks: said before any output file is made (Ray's workers have devices of their own)
    if engine == "local" and device not in (None, "cpu", "auto"):
        from avsync.device import resolve_device

        resolve_device(device)
    # one line per input: repeated paths dropped (the first row of each kept), and counted for the summary
    if isinstance(source, list) and source and isinstance(source[0], InputItem):
        items, repeated = unique_inputs(list(source))
    else:
        items, repeated = unique_inputs(listed_inputs(source))  # type: ignore[arg-type]
    items = [it for it in items if not _is_results_file(it, out)]  # a rerun must not score its own output
    if jobs < 0:
        raise ConfigError("jobs must be >= 0")
    if engine == "local" and jobs >= 1 and spec.threads is None:  # share the cores between workers
        cpus = os.cpu_count() or 1
        spec = replace(spec, threads=spec.threads or max(1, cpus // max(1, jobs)))
    identity = task_models(spec.name, spec.model)  # once per run: which weights the task computes with
    keyfn = lambda sha: result_key(sha, task=spec.name, task_version=spec.version, model=spec.model,
                                   config=spec.options, models=identity)

    with contextlib.ExitStack() as tidy:  # holds the interrupts a stopped run meets while it tidies up
        summary = _run_logged(items, out, spec, keyfn, tidy, t_start=t_start, engine=engine, jobs=jobs, device=device,
                              ray_address=ray_address, timeout=timeout, max_files=max_files, retry_errors=retry_errors,
                              progress=progress, fsync=fsync, on_record=on_record)
    return replace(summary, repeated=repeated) if repeated else summary


def _run_logged(items: list[InputItem], out: str | os.PathLike, spec: TaskSpec, keyfn: Callable[[str], str],
                tidy: contextlib.ExitStack, *, t_start: float, engine: str | Engine, jobs: int, device: str | None,
                ray_address: str | None, timeout: float | None, max_files: int | None, retry_errors: bool,
                progress: bool, fsync: bool, on_record: Callable[[dict[str, Any]], None] | None) -> BatchSummary:
    """:func:`run_batch` once its inputs and task are known: resume from ``out``, run, write, summarise. After an
    interrupt the run holds further ones (:func:`held_interrupts`, entered on ``tidy``) until it returns."""
    log = ResultsLog(out, fsync=fsync).open()
    try:
        done_pairs: set[tuple[str, str]] = set()
        by_key: dict[str, tuple[int, int]] = {}  # key -> (offset, length) of a line holding its result
        known: dict[str, tuple[int, int, str]] = {}  # path -> (size, mtime_ns, sha256) of earlier lines
        missing: set[str] = set()  # paths whose last line says they could not be found
        for offset, length, r in log.records():  # streamed: only this small index stays in memory
            k, p = r.get("key"), _where(r)
            if r.get("sha256") and r.get("size_bytes") is not None and r.get("mtime_ns") is not None:
                known[p] = (r["size_bytes"], r["mtime_ns"], r["sha256"])
            if r.get("task") == spec.name and r.get("model") == spec.model:  # this run's task: another's is its own
                if r.get("status") == Status.NOT_FOUND.value and not k:
                    missing.add(p)
                else:
                    missing.discard(p)
            if not k:
                continue
            if retry_errors and r.get("status") in RETRYABLE:
                done_pairs.discard((p, k))
                continue
            done_pairs.add((p, k))
            if not r.get("reused_from") and r.get("status") not in RETRYABLE:
                by_key[k] = (offset, length)
        # a path whose last line says it went missing: what was done before is not its last word, it is read again
        done_pairs = {q for q in done_pairs if q[0] not in missing} if missing else done_pairs

        # cheap pre-pass (stat only): inputs an earlier run finished count as done from the start
        todo: list[tuple[int, InputItem]] = []
        resumed = 0
        for i, it in enumerate(items):
            p = os.path.abspath(it.path)
            try:
                st = os.stat(it.path)
                prev = known.get(p)
                if prev and prev[0] == st.st_size and prev[1] == st.st_mtime_ns and (p, keyfn(prev[2])) in done_pairs:
                    resumed += 1
                    continue
            except OSError:
                if p in missing:  # still not there: its line stands (a file that appears is read then)
                    resumed += 1
                    continue
            todo.append((i, it))

        runner = _Runner(items, spec, keyfn, log, done_pairs, by_key, known, max_files, on_record)
        runner.resumed = resumed
        bar = _Progress(len(items), resumed, progress)
        runner.bar = bar
        eng = engine if not isinstance(engine, str) else make_engine(
            engine, jobs=jobs, timeout=timeout, device=device, ray_address=ray_address)
        runner.engine_name = getattr(eng, "name", type(eng).__name__)
        if progress and hasattr(eng, "on_progress"):
            eng.on_progress = bar.file_progress
        interrupted = False
        started = False
        try:
            runner.todo = todo
            if todo:
                eng.start(spec)
                started = True
                runner.loop(eng)
        except KeyboardInterrupt:
            interrupted = True
            tidy.enter_context(held_interrupts())  # a second Ctrl-C (or `timeout` signalling twice) must not abort the tidy-up
        finally:
            bar.close()
            if started:
                eng.close(abort=interrupted)
    finally:
        log.close()
    wall = time.monotonic() - t_start
    return summarize(
        out,
        task=spec.name,
        model=spec.model,
        paths=[it.path for it in items],
        inputs=len(items),
        processed=runner.processed,
        resumed=runner.resumed,
        reused=runner.reused,
        wall_s=round(wall, 3),
        files_per_hour=round(runner.processed / wall * 3600, 1) if runner.processed and wall > 0 else None,
        interrupted=interrupted or runner.stopped_early,
    )


class _Runner:
    def __init__(
        self,
        items: list[InputItem],
        spec: TaskSpec,
        keyfn: Callable[[str], str],
        log: ResultsLog,
        done_pairs: set[tuple[str, str]],
        by_key: dict[str, tuple[int, int]],
        known: dict[str, tuple[int, int, str]],
        max_files: int | None,
        on_record: Callable[[dict[str, Any]], None] | None,
    ):
        self.items = items
        self.spec = spec
        self.keyfn = keyfn
        self.log = log
        self.done_pairs = done_pairs
        self.by_key = by_key
        self.known = known
        self.max_files = max_files
        self.on_record = on_record
        self.todo: list[tuple[int, InputItem]] = []
        self.bar: _Progress | None = None
        self.engine_name = "local"
        self.processed = self.resumed = self.reused = self.written = 0
        self.stopped_early = False
        self.pending: dict[int, dict[str, Any]] = {}  # idx -> partial record of submitted jobs
        self.waiting: dict[str, list[dict[str, Any]]] = {}  # key in flight -> partial records of duplicates
        self.ready: deque[Job] = deque()  # prepared jobs not yet handed to a worker

    # -- records ---------------------------------------------------------------------------
    def _base(self, it: InputItem) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "path": it.path,
            "abspath": os.path.abspath(it.path),  # what resumes match on: the same file however the path was typed
            "sha256": None,
            "size_bytes": None,
            "mtime_ns": None,
            "task": self.spec.name,
            "task_version": self.spec.version,
            "model": self.spec.model,
            "key": None,
        }
        if it.meta:
            rec["meta"] = it.meta
        return rec

    def _write(self, rec: dict[str, Any], outcome: dict[str, Any], *, hash_s: float = 0.0, scored: bool) -> None:
        rec = dict(rec)
        result = outcome.get("result")
        if rec.get("model") is None and isinstance(result, dict) and isinstance(result.get("model"), str):
            rec["model"] = result["model"]  # the task's default model, by name (spoof, analyze)
        rec.update(
            status=outcome["status"],
            score=outcome.get("score"),
            label=outcome.get("label"),
            error=outcome.get("error"),
            result=outcome.get("result"),
            timings={"hash_s": round(hash_s, 6), "task_s": outcome.get("task_s", 0.0),
                     "total_s": round(hash_s + (outcome.get("task_s") or 0.0), 6)},
            worker=outcome.get("worker"),
            engine=self.engine_name,
            avsync_version=avsync.__version__,
            finished_at=_now(),
            schema_version=RECORD_SCHEMA_VERSION,
        )
        if "reused_from" in outcome:
            rec["reused_from"] = outcome["reused_from"]
        where = self.log.append(rec)
        self.written += 1
        if rec.get("key"):
            self.done_pairs.add((_where(rec), rec["key"]))
            if scored and rec["status"] not in RETRYABLE:
                self.by_key[rec["key"]] = where
        self.processed += scored
        if self.on_record is not None:
            self.on_record(rec)
        try:
            failed = Status(rec["status"]).is_failure
        except ValueError:
            failed = True
        if self.bar is not None:
            self.bar.update(scored, failed)

    def _copy(self, rec: dict[str, Any], where: tuple[int, int], hash_s: float) -> None:
        src = self.log.read_at(*where)
        self.reused += 1
        self._write(rec, {"status": src["status"], "score": src.get("score"), "label": src.get("label"),
                          "error": src.get("error"), "result": src.get("result"), "task_s": 0.0,
                          "reused_from": src["path"], "worker": None}, hash_s=hash_s, scored=False)

    @staticmethod
    def _status_only(status: Status | str, message: str) -> dict[str, Any]:
        return {"status": str(status), "score": None, "label": None, "result": None, "error": message,
                "task_s": 0.0, "worker": None}

    def _budget_left(self) -> bool:
        if self.max_files is None:
            return True
        return self.written + len(self.pending) < self.max_files

    # -- one input before the engine -------------------------------------------------------
    def _prepare(self, idx: int, it: InputItem) -> Job | None:
        """Sniff and hash one input; write its line now if it needs no task, else return its job."""
        rec = self._base(it)
        s = sniff(it.path)
        if s.kind == "unreadable":
            status = Status.NOT_FOUND
            self._write(rec, self._status_only(status, s.message or "cannot read"), scored=False)
            return None
        t0 = time.perf_counter()
        try:
            st = os.stat(it.path)
            p = os.path.abspath(it.path)
            prev = self.known.get(p)
            if prev and prev[0] == st.st_size and prev[1] == st.st_mtime_ns:
                sha = prev[2]
            else:
                sha = _sha256(it.path)
        except OSError as e:
            self._write(rec, self._status_only(Status.NOT_FOUND, f"cannot read {it.path}: {e.strerror or e}"),
                        scored=False)
            return None
        hash_s = time.perf_counter() - t0
        key = self.keyfn(sha)
        rec.update(sha256=sha, size_bytes=st.st_size, mtime_ns=st.st_mtime_ns, key=key)
        if (p, key) in self.done_pairs:  # done by an earlier run, found by content
            self.resumed += 1
            if self.bar is not None:
                self.bar.update(False, False)
            return None
        if s.kind == "empty":
            status, why = Status.EMPTY, s.message or "empty"
            if it.origin in ("folder", "glob") and os.path.splitext(it.path)[1].lower() not in MEDIA_SUFFIXES:
                status = Status.SKIPPED  # a found empty notes.txt, README or lock file: not a failed recording
                why = f"{why}; not named like media"
            self._write(rec, self._status_only(status, why), hash_s=hash_s, scored=False)
            return None
        if s.kind == "not_media":
            status, why = Status.DECODE_ERROR, s.message or "not media"  # a file asked for (manifest, argument)
            if it.origin in ("folder", "glob"):  # found: a stray document is skipped, unless named like media
                suffix = os.path.splitext(it.path)[1].lower()
                if suffix in MEDIA_SUFFIXES:  # a damaged recording
                    why = f"named {suffix} but {why}: damaged or not what its name says"
                else:
                    status = Status.SKIPPED
            self._write(rec, self._status_only(status, why), hash_s=hash_s, scored=False)
            return None
        if key in self.by_key:
            self._copy(rec, self.by_key[key], hash_s)
            return None
        if key in self.waiting:
            self.waiting[key].append({**rec, "_hash_s": hash_s, "_idx": idx})
            return None
        self.waiting[key] = []
        rec["_hash_s"] = hash_s
        self.pending[idx] = rec
        return Job(idx, it.path)

    def _finish(self, job: Job, outcome: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.running.pop(job.idx, None)  # no longer in progress
        rec = self.pending.pop(job.idx)
        rec.pop("_idx", None)
        hash_s = rec.pop("_hash_s", 0.0)
        self._write(rec, outcome, hash_s=hash_s, scored=True)
        dups = self.waiting.pop(rec["key"], [])
        src = self.by_key.get(rec["key"])
        if src is None and dups:  # the original failed (task error, crash): score the next copy itself
            first, dups = dups[0], dups[1:]
            self.waiting[rec["key"]] = dups
            self.pending[first["_idx"]] = first
            self.ready.appendleft(Job(first["_idx"], first["path"]))
            return
        for d in dups:  # drop the bookkeeping fields before the line is written
            h = d.pop("_hash_s", 0.0)
            d.pop("_idx", None)
            assert src is not None  # dups without a scored original returned above
            self._copy(d, src, h)

    def loop(self, eng: Engine, lookahead: int = 2) -> None:
        """Keep every worker busy: files are sniffed and hashed ahead (``lookahead`` per worker) so
        that a free worker gets its next file at once; results are written as they come."""
        queue = iter(self.todo)
        ready = self.ready
        exhausted = False
        ahead = max(1, lookahead * max(1, eng.free_slots()))
        while True:
            for job, outcome in eng.poll(0):
                self._finish(job, outcome)
            while ready and eng.free_slots() > 0:
                eng.submit(ready.popleft())
            while not exhausted and len(ready) < ahead:
                if not self._budget_left():
                    exhausted = self.stopped_early = True
                    break
                nxt = next(queue, None)
                if nxt is None:
                    exhausted = True
                    break
                prepared = self._prepare(nxt[0], nxt[1])
                if prepared is not None:
                    ready.append(prepared)
                    if eng.free_slots() > 0:
                        break  # hand it out before preparing more
            if exhausted and not self.pending:
                break
            if ready and eng.free_slots() > 0:
                continue
            wait = 0.5 if (exhausted or len(ready) >= ahead) else 0.0
            for job, outcome in eng.poll(wait):
                self._finish(job, outcome)
        if self.stopped_early and next(queue, None) is None:
            self.stopped_early = False
