"""Engines run a :class:`~avsync.batch.tasks.TaskSpec` over files: in-process, local worker
processes, or Ray actors. They all speak the small :class:`Engine` protocol, so the runner (input
discovery, hashing, resume, the results log, progress) is the same whichever runs the files.

Each worker (process or actor) builds the scorer once and then handles one file at a time, so
the engine always knows which file a worker was on when it died: that file gets an ``error`` line
and a fresh worker takes over.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from avsync.batch.tasks import Scorer, TaskSpec, run_scorer
from avsync.device import allocator_tuning_enabled, limit_omp_spinning, tune_cpu_allocator
from avsync.errors import ConfigError
from avsync.results import Status

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import BaseContext

__all__ = ["Engine", "InProcessEngine", "Job", "LocalEngine", "RayEngine", "make_engine"]

WORKER_NAME = "avsync-batch-worker"
"""The name of a local worker process (a spawned child imports the script that started the batch)."""


@dataclass(frozen=True)
class Job:
    """One file to score: ``idx`` is the runner's handle, ``path`` what the worker opens."""

    idx: int
    path: str


class Engine(Protocol):
    """What the runner needs from an engine."""

    name: str

    def start(self, spec: TaskSpec) -> None:
        """Start the workers; each builds the scorer once. Raises ``ConfigError`` if it cannot."""

    def free_slots(self) -> int:
        """How many more jobs can be submitted now."""

    def submit(self, job: Job) -> None:
        """Hand a job to an idle worker."""

    def poll(self, timeout: float | None) -> list[tuple[Job, dict[str, Any]]]:
        """Finished jobs with their outcome (see :func:`~avsync.batch.tasks.run_scorer`), waiting
        up to ``timeout`` seconds for at least one."""

    def close(self, *, abort: bool = False) -> None:
        """Stop the workers (``abort``: at once, dropping running jobs)."""

    # Optional: an engine with an ``on_progress`` attribute gets ``on_progress(job, fraction)`` set by the
    # runner and calls it while a long file is being processed (the task must take ``progress=``).


class _Throttle:
    """``(done, total)`` callback → ``send(fraction)`` at most every ``every`` seconds (and at the end)."""

    def __init__(self, send: Callable[[float], object], every: float = 1.0):
        self.send, self.every, self.last = send, every, 0.0

    def __call__(self, done: float, total: float) -> None:
        now = time.monotonic()
        if total and (now - self.last >= self.every or done >= total):
            self.last = now
            self.send(min(1.0, float(done) / float(total)))


def _failure(message: str, started: float) -> dict[str, Any]:
    return {
        "status": Status.ERROR.value,
        "score": None,
        "label": None,
        "result": None,
        "error": message,
        "task_s": round(time.monotonic() - started, 6),
    }


class InProcessEngine:
    """Runs files one after another in this process (``jobs=0``): no isolation, easiest to debug."""

    name = "inprocess"

    def __init__(self) -> None:
        self._scorer: Scorer | None = None
        self._done: list[tuple[Job, dict[str, Any]]] = []
        self.on_progress = None

    def start(self, spec: TaskSpec) -> None:
        """Build the scorer here, in this process (``spec.build()``); whatever that raises propagates unchanged."""
        self._scorer = spec.build()

    def free_slots(self) -> int:
        """1 when no finished job is waiting for :meth:`poll`, else 0 (one job at a time)."""
        return 0 if self._done else 1

    def submit(self, job: Job) -> None:
        """Run the job to completion before returning (blocking), and keep its outcome for :meth:`poll`.

        ``on_progress(job, fraction)``, when set, is called from this thread about once a second. The
        outcome's ``worker`` is ``"inprocess:<pid>"``; a failing file gives an ``error`` outcome, not an
        exception (:func:`~avsync.batch.tasks.run_scorer`).
        """
        report = None if self.on_progress is None else _Throttle(lambda f: self.on_progress(job, f))
        assert self._scorer is not None  # built by start()
        out = run_scorer(self._scorer, job.path, progress=report)
        out["worker"] = f"inprocess:{os.getpid()}"
        self._done.append((job, out))

    def poll(self, timeout: float | None) -> list[tuple[Job, dict[str, Any]]]:
        """The job :meth:`submit` ran, with its outcome, or ``[]``; returns at once (``timeout`` is ignored:
        the job already finished in :meth:`submit`)."""
        done, self._done = self._done, []
        return done

    def close(self, *, abort: bool = False) -> None:
        """Drop the scorer; ``abort`` changes nothing (no job runs in the background)."""
        self._scorer = None


def _send(conn: Connection, message: object) -> bool:
    """Send to the parent; ``False`` when it is gone (killed): the worker then ends quietly."""
    try:
        conn.send(message)
        return True
    except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
        return False


class _ParentGone(BaseException):
    """Raised inside a file's task by its progress report when the parent is gone (killed): the worker stops that
    file at once instead of finishing it for nobody (a ``BaseException``: the task's own error handling, which keeps
    a batch going past a failing file, does not swallow it)."""


def _reporter(conn: Connection, idx: int) -> Callable[[float], None]:
    """The progress report of job ``idx``: sends the fraction done, or raises :class:`_ParentGone`."""

    def report(f: float) -> None:
        if not _send(conn, ("progress", idx, f)):
            raise _ParentGone

    return report


def _worker_main(conn: Connection, spec: TaskSpec) -> None:  # runs in a child process
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    tune_cpu_allocator()  # a process of ours: reuse freed tensor memory
    limit_omp_spinning()  # and no spinning OpenMP threads (before the scorer loads torch)
    try:
        scorer = spec.build()
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which stops the run
        _send(conn, ("init_error", f"{type(e).__name__}: {e}" if not str(e).startswith(type(e).__name__) else str(e)))
        return
    if not _send(conn, ("ready", os.getpid())):
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        idx, path = msg
        try:
            out = run_scorer(scorer, path, progress=_Throttle(_reporter(conn, idx)))
        except _ParentGone:  # killed while this file ran: nobody is waiting for it
            return
        out["worker"] = f"local:{os.getpid()}"
        if not _send(conn, ("done", idx, out)):  # the parent was killed while this file ran
            return


class _Worker:
    def __init__(self, ctx: BaseContext, spec: TaskSpec):
        parent, child = ctx.Pipe(duplex=True)
        self.conn = parent
        # every concrete context (spawn, fork, forkserver) has Process; typeshed's BaseContext does not
        self.proc = ctx.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(child, spec), daemon=True, name=WORKER_NAME
        )
        self.proc.start()
        child.close()
        self.job: Job | None = None
        self.started = 0.0

    def wait_ready(self) -> None:
        from multiprocessing.connection import wait

        while True:
            ready = wait([self.conn, self.proc.sentinel], timeout=600)
            if not ready:
                self.kill()
                raise ConfigError("a batch worker took more than 10 minutes to start")
            if self.conn in ready or self.conn.poll():
                try:
                    kind, payload = self.conn.recv()
                except EOFError:
                    kind, payload = "init_error", None
                if kind == "ready":
                    return
                self.kill()
                raise ConfigError(f"the task could not be built in a worker: {payload or 'the worker exited'}")
            self.kill()
            raise ConfigError(f"a batch worker died while building the task (exit code {self.proc.exitcode})",
                              hint="its error is printed above; a script that calls run_batch needs "
                              "`if __name__ == \"__main__\":` (workers are spawned and import it)")

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()


class LocalEngine:
    """``jobs`` worker processes on this machine (``spawn`` start method: safe with torch and CUDA).

    Parameters
    ----------
    jobs
        Number of worker processes (>= 1).
    timeout
        Seconds one file may take; past it the worker is killed, the file gets ``status: error``
        and a new worker starts. ``None``: no limit.
    start_method
        ``multiprocessing`` start method (``"spawn"`` by default; ``"fork"`` starts faster but is
        unsafe once torch threads or CUDA are up).
    """

    name = "local"

    def __init__(self, jobs: int = 1, *, timeout: float | None = None, start_method: str = "spawn"):
        if jobs < 1:
            raise ConfigError("jobs must be >= 1 for the local engine (0 runs in-process)")
        import multiprocessing as mp

        self.jobs = jobs
        self.timeout = timeout
        self._ctx = mp.get_context(start_method)
        self._spec: TaskSpec | None = None
        self._workers: list[_Worker] = []
        self.on_progress = None

    def start(self, spec: TaskSpec) -> None:
        """Start ``jobs`` worker processes, each building the scorer, and wait until all are ready.

        Raises
        ------
        ConfigError
            A worker failed to build the task (its error is quoted), died while building it, or took more
            than 10 minutes to start; all workers are then killed.
        """
        self._spec = spec
        self._workers = [_Worker(self._ctx, spec) for _ in range(self.jobs)]
        try:
            for w in self._workers:
                w.wait_ready()
        except BaseException:
            self.close(abort=True)
            raise

    def free_slots(self) -> int:
        """Number of idle worker processes (0 before :meth:`start` and after :meth:`close`)."""
        return sum(w.job is None for w in self._workers)

    def submit(self, job: Job) -> None:
        """Send the job to an idle worker over its pipe and return at once (the file runs in that process).

        Call it only when :meth:`free_slots` is positive (there is no queue).
        """
        w = next(w for w in self._workers if w.job is None)
        w.job, w.started = job, time.monotonic()
        w.conn.send((job.idx, job.path))

    def _replace(self, w: _Worker) -> None:
        w.kill()
        i = self._workers.index(w)
        assert self._spec is not None  # workers exist only after start()
        fresh = _Worker(self._ctx, self._spec)
        self._workers[i] = fresh
        fresh.wait_ready()

    def poll(self, timeout: float | None) -> list[tuple[Job, dict[str, Any]]]:
        """Wait up to ``timeout`` seconds (``None``: no limit) for a busy worker to send a message or exit,
        and return the jobs that finished.

        The wait is cut short at the earliest per-file deadline (``self.timeout``). Progress messages are
        passed to ``on_progress(job, fraction)``, so the call can return ``[]`` early. A worker that died
        gives its job an ``error`` outcome ("the worker process died"), a worker past the per-file timeout
        is killed and its job gets an ``error`` outcome ("timed out"); either is replaced by a fresh
        worker before ``poll`` returns (which waits for it to build the scorer; ``ConfigError`` if it
        cannot). Returns ``[]`` at once when no worker is busy. Outcomes a worker sent carry ``worker`` =
        ``"local:<pid>"``.
        """
        from multiprocessing.connection import wait

        busy = [w for w in self._workers if w.job is not None]
        if not busy:
            return []
        if self.timeout is not None:
            now = time.monotonic()
            left = min(w.started + self.timeout - now for w in busy)
            timeout = max(0.0, left if timeout is None else min(timeout, left))
        waitables = [w.conn for w in busy] + [w.proc.sentinel for w in busy]
        ready = set(wait(waitables, timeout=timeout))
        done: list[tuple[Job, dict[str, Any]]] = []
        for w in busy:
            job = w.job
            assert job is not None  # a busy worker
            lost = False
            if w.conn in ready or (w.proc.sentinel in ready and w.conn.poll()):
                try:
                    finished = None
                    while w.conn.poll():  # progress notes, then perhaps the result
                        kind, _idx, out = w.conn.recv()
                        if kind == "progress":
                            if self.on_progress is not None:
                                self.on_progress(job, out)
                            continue
                        finished = out
                        break
                    if finished is not None:
                        w.job = None
                        done.append((job, finished))
                        continue
                except (EOFError, OSError):  # the pipe closed: the worker is gone
                    lost = True
            if lost or w.proc.sentinel in ready or not w.proc.is_alive():
                w.proc.join(timeout=5)
                code = w.proc.exitcode
                w.job = None
                done.append((job, _failure(
                    f"the worker process died (exit code {code}) while processing this file; "
                    "the decoder may have crashed or the machine ran out of memory", w.started)))
                self._replace(w)
            elif self.timeout is not None and time.monotonic() - w.started >= self.timeout:
                w.job = None
                done.append((job, _failure(f"timed out after {self.timeout:g} s (worker killed)", w.started)))
                self._replace(w)
        return done

    def close(self, *, abort: bool = False) -> None:
        """Stop the worker processes.

        Without ``abort``, idle workers are asked to exit and every worker gets up to 5 s to end before it
        is killed (a worker still on a file is killed then, its job dropped); with ``abort`` all are killed
        at once.
        """
        for w in self._workers:
            if not abort and w.job is None and w.proc.is_alive():
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        for w in self._workers:
            if not abort:
                w.proc.join(timeout=5)
            w.kill()
        self._workers = []


class _RayActor:
    """Body of the Ray actor: builds the scorer once, then scores one file per call."""

    def __init__(self, spec: TaskSpec, tune_allocator: bool = True):
        tune_cpu_allocator(tune_allocator)  # the actor's process is ours: reuse freed tensor memory
        limit_omp_spinning()
        self._scorer = spec.build()
        import socket

        self._name = f"ray:{socket.gethostname()}:{os.getpid()}"

    def ping(self) -> str:
        return self._name

    def run(self, path: str) -> dict[str, Any]:
        out = run_scorer(self._scorer, path)
        out["worker"] = self._name
        return out


def _import_ray():
    try:
        import ray
    except ImportError as e:
        raise ConfigError("the ray engine needs Ray", hint="pip install 'avsync[ray]'") from e
    return ray


class RayEngine:
    """Ray actors on a cluster (or a local Ray instance): one scorer per actor.

    Parameters
    ----------
    jobs
        Number of actors; ``None``: one per CPU of the cluster (one per GPU with ``device`` cuda).
    address
        Cluster to join: ``"auto"`` (a cluster started on this node with ``ray start``),
        ``"ray://host:10001"`` (Ray client), or ``None``: ``$RAY_ADDRESS`` if set, else a new local
        instance. Ignored when Ray is already initialised in this process.
    device
        ``"cuda"``/``"cuda:N"``: each actor reserves ``gpus_per_actor`` GPUs (error if the cluster
        has none); ``"auto"``: GPUs if the cluster has them; ``"cpu"``/``None``: CPU actors.
    gpus_per_actor
        GPU share per actor (``0.5`` packs two actors per GPU).
    """

    name = "ray"

    def __init__(self, jobs: int | None = None, *, address: str | None = None, device: str | None = None,
                 gpus_per_actor: float = 1.0):
        self.jobs = jobs
        self.address = address
        self.device = device
        self.gpus_per_actor = gpus_per_actor
        self._ray: ModuleType | None = None
        self._owns_ray = False
        self._actors: list[Any] = []
        self._idle: list[Any] = []
        self._inflight: dict[Any, tuple[Any, Job, float]] = {}

    def start(self, spec: TaskSpec) -> None:
        """Connect to Ray and start the actors, each building the scorer; wait until all are built.

        Ray is initialised (``address``, else ``$RAY_ADDRESS``, else a new local instance) unless it
        already is. Each actor reserves 1 CPU and, for GPU actors, ``gpus_per_actor`` GPUs; with
        ``device="auto"`` on a cluster with GPUs the task runs on ``cuda``. ``jobs=None`` starts one actor
        per cluster CPU (GPU actors: ``GPUs / gpus_per_actor``). Ray restarts an actor that dies.

        Raises
        ------
        ConfigError
            Ray is not installed, the cluster cannot be reached, GPU actors were asked for (``device``
            cuda) on a cluster without GPUs, or an actor could not build the task.
        """
        ray = self._ray = _import_ray()
        if not ray.is_initialized():
            address = self.address or os.environ.get("RAY_ADDRESS") or None
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=True)
            except Exception as e:
                raise ConfigError(f"cannot connect to the Ray cluster at {address or 'a new local instance'}: "
                                  f"{_ray_cause(e)}", hint="check --ray-address / RAY_ADDRESS") from e
            self._owns_ray = True
        res = ray.cluster_resources()
        gpus = float(res.get("GPU", 0))
        dev = (self.device or "cpu").lower()
        use_gpu = dev.startswith("cuda") or (dev == "auto" and gpus > 0)
        if use_gpu and gpus <= 0:
            self.close()
            raise ConfigError("--device cuda asked for GPU actors but the Ray cluster has no GPU",
                              hint="use --device cpu, or add GPU nodes to the cluster")
        if use_gpu and dev == "auto":
            spec = replace(spec, device="cuda")
        per = {"num_cpus": 1, "num_gpus": self.gpus_per_actor if use_gpu else 0}
        n = self.jobs or max(1, int(gpus / self.gpus_per_actor) if use_gpu else int(res.get("CPU", 1)))
        actor_cls = ray.remote(_RayActor).options(max_restarts=-1, max_task_retries=0, **per)
        # the driver's AVSYNC_ALLOCATOR_TUNING decides: actors on other nodes do not see its environment
        self._actors = [actor_cls.remote(spec, allocator_tuning_enabled()) for _ in range(n)]
        try:
            ray.get([a.ping.remote() for a in self._actors])
        except Exception as e:
            self.close(abort=True)
            raise ConfigError(f"the task could not be built in a Ray actor: {_ray_cause(e)}") from e
        self._idle = list(self._actors)

    def free_slots(self) -> int:
        """Number of idle actors (0 before :meth:`start` and after :meth:`close`)."""
        return len(self._idle)

    def submit(self, job: Job) -> None:
        """Call ``run`` on an idle actor (a Ray task) and return at once; call it only when :meth:`free_slots`
        is positive. Ray jobs have no progress reports and no per-file timeout."""
        actor = self._idle.pop()
        ref = actor.run.remote(job.path)
        self._inflight[ref] = (actor, job, time.monotonic())

    def poll(self, timeout: float | None) -> list[tuple[Job, dict[str, Any]]]:
        """Wait up to ``timeout`` seconds (``None``: no limit) for one Ray task to finish, then return it with
        every other one already finished (``[]`` on timeout, and at once when none is in flight).

        A task whose actor died or that raised gives an ``error`` outcome ("the Ray worker failed"); the
        actor becomes idle again either way (Ray restarts a dead one). Outcomes an actor returned carry
        ``worker`` = ``"ray:<host>:<pid>"``.
        """
        if not self._inflight:
            return []
        ray = self._ray
        assert ray is not None  # jobs in flight: start() imported it
        ready, _ = ray.wait(list(self._inflight), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(list(self._inflight), num_returns=len(self._inflight), timeout=0)
        done = []
        for ref in ready:
            actor, job, started = self._inflight.pop(ref)
            try:
                out = ray.get(ref)
            except Exception as e:  # noqa: BLE001 - actor died (restarted by Ray) or task raised
                out = _failure(f"the Ray worker failed while processing this file: {_ray_cause(e)}", started)
            self._idle.append(actor)
            done.append((job, out))
        return done

    def close(self, *, abort: bool = False) -> None:
        """Kill every actor at once, dropping running tasks whatever ``abort`` says, and shut Ray down when
        :meth:`start` initialised it. Does nothing before :meth:`start`."""
        ray = self._ray
        if ray is None:
            return
        for a in self._actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001
                pass
        self._actors, self._idle, self._inflight = [], [], {}
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False


def _ray_cause(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    last = [t for t in text if t.strip()]
    return last[-1][:300] if last else type(e).__name__


def make_engine(engine: str = "local", *, jobs: int = 1, timeout: float | None = None, device: str | None = None,
                ray_address: str | None = None) -> Engine:
    """Build an engine by name: ``"local"`` (``jobs`` processes; ``jobs=0`` in-process) or ``"ray"``."""
    if engine == "local":
        return InProcessEngine() if jobs == 0 else LocalEngine(jobs, timeout=timeout)
    if engine == "ray":
        return RayEngine(jobs or None, address=ray_address, device=device)
    raise ConfigError(f"unknown engine {engine!r}; choose local or ray")
