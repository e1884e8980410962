"""Deterministic test-only batch tasks, importable by worker processes and Ray actors.

``content_factory(model)`` builds a scorer whose score is a function of the file's bytes (so two
engines must agree exactly); the file *name* steers failures:

* ``*boom*`` — the scorer raises ``RuntimeError`` (→ ``status: error``);
* ``*crash*`` — the worker process exits hard (``os._exit``), as a crashing decoder would;
* ``*absent*`` — the scorer returns ``no_speech`` (a non-failure status with no score).

``model="slow:S"`` sleeps S seconds per file (to interrupt a run midway).
"""

from __future__ import annotations

import hashlib
import os
import time

BUILDS_FILE_ENV = "AVSYNC_TEST_BUILDS_FILE"


def content_factory(model=None):
    delay = float(model.split(":", 1)[1]) if model and model.startswith("slow:") else 0.0
    log = os.environ.get(BUILDS_FILE_ENV)
    if log:  # record each build, to check that every worker builds the task once
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")

    def scorer(path):
        name = os.path.basename(path)
        if delay:
            time.sleep(delay)
        if "boom" in name:
            raise RuntimeError("scorer exploded on purpose")
        if "crash" in name:
            os._exit(13)
        if "absent" in name:
            return {"status": "no_speech", "score": None, "message": "no speech in this file"}
        with open(path, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        score = int(digest[:8], 16) / 2**32
        return {"status": "ok", "score": score, "label": "manipulated" if score > 0.5 else "genuine",
                "nbytes": os.path.getsize(path)}

    return scorer


def broken_factory(model=None):
    raise RuntimeError("cannot load the model")


def named_model_factory(model=None):
    """Like ``content_factory``, and each result names the model it used (as the spoof task does)."""
    inner = content_factory(model)

    def scorer(path):
        return {**inner(path), "model": model or "content-default"}

    return scorer


def killed_parent_main(path):  # run as a script by test_batch_edges: the parent dies while its worker scores
    import multiprocessing as mp

    from avsync.batch.engines import _Worker
    from avsync.batch.tasks import TaskSpec

    w = _Worker(mp.get_context("spawn"), TaskSpec("content", content_factory, "slow:1"))
    w.wait_ready()
    w.conn.send((0, path))
    os._exit(0)  # no cleanup: the worker finds a broken pipe when it sends its result


def progress_factory(model=None):
    """Like ``content_factory``; the scorer takes ``progress=`` and reports half-way and the end of each file."""
    inner = content_factory(model)

    def scorer(path, progress=None):
        if progress is not None:
            progress(1, 2)
            progress(2, 2)
        return inner(path)

    return scorer
