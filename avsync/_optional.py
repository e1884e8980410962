"""One helper for optional dependencies: import a module or raise a :class:`~avsync.errors.ConfigError` with the
install command as its hint."""

from __future__ import annotations

import importlib
from types import ModuleType

from avsync.errors import ConfigError
from avsync.results import Status

__all__ = ["OPENCV_INSTALL", "require"]

OPENCV_INSTALL = "pip install 'opencv-python-headless<5'"
"""The install command of OpenCV (``cv2``): the headless 4.x build (OpenCV 5 has no Haar cascades)."""


def require(module: str, what: str, install: str) -> ModuleType:
    """Import ``module`` for ``what`` (words for the message); on failure a ``ConfigError`` whose hint is ``install``.

    ``install`` is the command that provides it, e.g. :data:`OPENCV_INSTALL`.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(
            f"the {what} needs the '{module.split('.')[0]}' package, which could not be imported ({e})",
            status=Status.CONFIG_ERROR,
            hint=install,
        ) from e
