"""The one writer and reader of the checkpoints avsync trains: safetensors, tensors plus string metadata.

Metadata keys in use: ``class`` or ``format`` (the network or the kind of file), ``config`` (JSON of the
network's hyper-parameters), ``avsync_version`` (added when missing), ``threshold`` and ``polarity`` (calibrated
outputs), ``base`` / ``base_sha256`` (a fine-tune or a head of a public checkpoint), and each recipe's own keys
(``step``, ``loss``, ``train_config``, ...). Values that are not strings are stored as JSON. Nothing is unpickled:
a safetensors file holds only tensors and strings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["read_checkpoint", "read_metadata", "write_checkpoint"]


def write_checkpoint(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]) -> Path:
    """Write ``tensors`` (detached, on the CPU, contiguous) and ``metadata`` to ``path``; returns the path."""
    from safetensors.torch import save_file

    from avsync._version import __version__

    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    meta.setdefault("avsync_version", __version__)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path), metadata=meta)
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a checkpoint; :class:`~avsync.errors.BundleError` when ``path`` is missing or not safetensors."""
    from safetensors import SafetensorError, safe_open

    from avsync.errors import BundleError

    path = os.fspath(path)
    if not os.path.exists(path):
        raise BundleError(f"checkpoint not found: {path}")
    try:
        with safe_open(path, framework="pt") as fh:
            return dict(fh.metadata() or {})
    except (OSError, ValueError, SafetensorError) as e:
        raise BundleError(f"{path} is not a safetensors checkpoint: {e}") from None


def read_checkpoint(path: str | os.PathLike, *, device: str = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` of a checkpoint (see :func:`read_metadata` for the errors)."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    return load_file(os.fspath(path), device=device), meta
