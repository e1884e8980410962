"""Torch device names: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (and any other torch device).

Every place that moves a network to a device resolves the name here first, so that asking for a GPU
on a machine without one is a :class:`~avsync.errors.ConfigError` with a hint, not an internal error.
"""

from __future__ import annotations

from avsync.errors import ConfigError

__all__ = ["resolve_device"]


def resolve_device(device: object = "cpu") -> str:
    """The torch device to use for ``device``.

    ``"auto"`` (or ``None``) is ``"cuda"`` when a CUDA device is available, else ``"cpu"``; a CUDA
    device that is not there raises :class:`ConfigError`; anything else is returned as a string.
    """
    name = "auto" if device is None else str(device)
    if name == "cpu":
        return name
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was asked for but no CUDA device is available",
                              hint="use --device cpu (or auto)")
        index = name.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)",
                              hint="use cuda:0 … or --device cpu")
    return name
