"""The model files avsync runs and their sha256 for provenance: weights bundles (:mod:`avsync.bundles`) and
models that ship inside a Python package (:data:`PACKAGE_MODELS`). Used by results' provenance and by
:mod:`avsync.catalog`; imports neither the pipeline nor the catalog."""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["ARTEFACT_ARCHITECTURE", "DEFAULT_SYNC_MODEL", "PACKAGE_MODELS", "SYNC_MODELS", "SYNC_MODEL_SPECS",
           "PackageModel", "SyncModelSpec", "file_sha256", "model_sha256", "sync_crops", "sync_model_name"]


@dataclass(frozen=True)
class SyncModelSpec:
    """A lip-sync model as ``sync`` / ``analyze`` / ``batch`` name it.

    ``factory`` is ``"module:function"``, imported only when the model is used: ``function(weights, device)``
    returns its :class:`avsync.sync.models.LagScorer` (``weights``: a checkpoint the caller gave, or ``None``).
    ``bundle`` names the weights bundle it runs by default (the catalog and the results' provenance report
    its sha256); ``None`` for a model without a weights file. ``crops`` is the face tracker's crop the model reads
    (``"mouth"`` or ``"face"``, as its scorer's ``crops``): the only one the tracker cuts for it.
    """

    factory: str
    bundle: str | None = None
    crops: Literal["mouth", "face"] = "mouth"


SYNC_MODEL_SPECS: dict[str, SyncModelSpec] = {
    "syncnet": SyncModelSpec("avsync.sync.models:syncnet_scorer", "syncnet-v3"),
    "syncnet-v3": SyncModelSpec("avsync.sync.models:syncnet_v3_scorer", "syncnet-v3"),
    "syncnet-v2": SyncModelSpec("avsync.sync.models:syncnet_v2_scorer", "syncnet-v2"),
    "syncnet-grid": SyncModelSpec("avsync.sync.models:syncnet_grid_scorer", "syncnet-grid"),
    "motion": SyncModelSpec("avsync.sync.models:motion_scorer"),
    "light-asd": SyncModelSpec("avsync.sync.models:lightasd_scorer", "light-asd-ava", crops="face"),
}
"""The lip-sync models, the default first: a new lip encoder is its module (network and factory) plus one entry
here (and its weights' :class:`avsync.bundles.Bundle`). Kept here, away from torch, so that command-line
choices, :func:`avsync.sync.models.make_scorer` and the catalog read one table."""

SYNC_MODELS = tuple(SYNC_MODEL_SPECS)
"""Names of the lip-sync models (keys of :data:`SYNC_MODEL_SPECS`; the default first)."""

DEFAULT_SYNC_MODEL = SYNC_MODELS[0]
"""The sync model of ``avsync sync`` / ``analyze`` / ``batch`` and :func:`avsync.sync.analyze_sync` (``"syncnet"``:
the shipped ``syncnet-v3`` bundle); :mod:`avsync.sync.models` re-exports it."""


def sync_crops(model: object) -> tuple[Literal["mouth", "face"], ...]:
    """The face tracker's crops (``crops=`` of :func:`avsync.face.track`) that the lip-sync model ``model`` reads:
    its spec's, or both for a model this table does not name (a scorer object, a plug-in)."""
    spec = SYNC_MODEL_SPECS.get(model) if isinstance(model, str) else None
    if spec is None:
        crops = getattr(model, "crops", None)
        return ("mouth",) if crops == "mouth" else ("face",) if crops == "face" else ("mouth", "face")
    return (spec.crops,)

ARTEFACT_ARCHITECTURE = "avsync.artefacts.model.ArtefactNet"
"""The ``architecture`` of artefact bundles in :mod:`avsync.bundles` (``bundles.names_of`` lists them; kept here,
away from torch, for the command-line choices)."""


@dataclass(frozen=True)
class PackageModel:
    """A model that ships inside a Python package (no weights file of its own), or needs no weights.

    ``module`` is located with :func:`importlib.util.find_spec` (never imported); ``data``, the model file
    in it, must exist too and gives the size; without ``data`` the size is that of the files of the
    installed ``distribution``.
    """

    name: str
    role: str
    license: str
    description: str
    module: str | None = None
    distribution: str | None = None
    data: str | None = None
    install_hint: str = ""
    restrictions: str = ""


PACKAGE_MODELS: tuple[PackageModel, ...] = (
    PackageModel("motion", "lip sync", "Apache-2.0",
                 "training-free mouth motion vs audio energy cross-correlation (no weights)"),
    PackageModel("yunet", "faces", "BSD-3-Clause",
                 "YuNet (libfacedetection) compiled into the yuface wheel: box + 5 points",
                 module="yuface", distribution="yuface", data="libfacedetection.so",
                 install_hint="pip install yuface (wheels for CPython 3.10/3.11 on Linux x86_64 and Windows)"),
    PackageModel("haar", "faces", "BSD-style (Intel)",
                 "OpenCV frontal-face Haar cascade (fallback when yuface is missing)",
                 module="cv2", distribution="opencv-python-headless",
                 data="data/haarcascade_frontalface_default.xml",
                 install_hint="pip install 'opencv-python-headless<5'"),
    PackageModel("mediapipe", "landmarks", "Apache-2.0",
                 "Google's MediaPipe face mesh, lip landmarks (landmarks='mediapipe'); its model ships in the wheel",
                 module="mediapipe", distribution="mediapipe", data="modules/face_landmark/face_landmark.tflite",
                 install_hint="pip install 'avsync[mediapipe]' && pip install --no-deps mediapipe==0.10.21"),
)
"""Models that come with a Python package (or need no weights), beside the weights bundles."""


def sync_model_name(model: str) -> str:
    """Catalog name of a lip-sync model as ``sync``/``analyze`` name it (``"syncnet"`` → its bundle)."""
    spec = SYNC_MODEL_SPECS.get(model)
    return spec.bundle if spec is not None and spec.bundle else model


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, mtime: float) -> str:
    from avsync.bundles import sha256_file

    return sha256_file(path)


def file_sha256(path: str) -> str:
    """sha256 of the file at ``path``, computed once per path and modification time."""
    return _file_sha256(path, os.stat(path).st_mtime)


def model_sha256(name: str) -> str | None:
    """sha256 of the weights a model runs with, for provenance.

    A bundle: its registered (load-time verified) sha256. A model inside a Python package: the sha256 of
    the installed file that holds it (YuNet: the ``yuface`` library it is compiled into). ``None`` for a
    model without weights (``motion``) or one that is not installed.
    """
    from avsync import bundles

    if name in bundles.REGISTRY:
        return bundles.REGISTRY[name].sha256
    m = next((m for m in PACKAGE_MODELS if m.name == name), None)
    if m is None or m.module is None or m.data is None:
        return None
    where = _find_module(m.module)
    f = where / m.data if where is not None else None
    if f is None or not f.is_file():
        return None
    return _file_sha256(str(f), f.stat().st_mtime)


def _find_module(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin) if spec.origin else None
