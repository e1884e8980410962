"""Shared fixtures: the synthetic media factory and the location of ../shared."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from avsync.synth import ClipSpec, make_clip

REPO = Path(__file__).resolve().parents[1]


def shared_path() -> Path | None:
    """``$AVSYNC_SHARED`` or ``../shared`` beside the repository, if it holds ``data/MANIFEST.csv``."""
    cand = os.environ.get("AVSYNC_SHARED")
    p = Path(cand) if cand else REPO.parent / "shared"
    return p if (p / "data" / "MANIFEST.csv").exists() else None


@pytest.fixture(scope="session")
def shared() -> Path:
    """Root of the shared real media and public weights; skips the test when absent."""
    p = shared_path()
    if p is None:
        pytest.skip("../shared (real media and public weights) is absent; set AVSYNC_SHARED to run this test")
    return p


@pytest.fixture(scope="session")
def shared_manifest(shared):
    import csv

    with open(shared / "data" / "MANIFEST.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(autouse=True)
def _signal_handlers_restored():
    """Every test ends with the SIGINT / SIGTERM handlers it started with: `avsync batch` run in-process (CliRunner)
    leaves its SIGTERM handler (and, stopped, ignores both signals, as its process is about to exit), `ray.init`
    installs its own; a later test that signals itself would otherwise meet them."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in before.items():
        if signal.getsignal(s) is not h and h is not None:
            signal.signal(s, h)


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch thread (steadier timing on shared machines), restoring the setting after."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip(media_dir):
    """Factory: ``clip(name, **ClipSpec fields)`` encodes (once per session) and returns the path."""
    cache: dict = {}

    def make(name: str = "default", **kw) -> str:
        key = (name, tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = make_clip(media_dir / name, ClipSpec(**kw))
        return cache[key]

    return make
