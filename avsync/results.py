"""Typed, serialisable results shared by every avsync command.

All result types are frozen dataclasses with ``to_dict()`` / ``from_dict()`` and a
``schema_version``. The :class:`Status` vocabulary is the one every command and batch line uses.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from typing import Any, ClassVar, TypeVar

__all__ = ["Status", "SCHEMA_VERSION", "Serializable", "to_jsonable"]

SCHEMA_VERSION = 1


class Status(str, enum.Enum):
    """Outcome of processing one input (or one face, one channel).

    ``ok`` is the only fully successful status. Statuses of *absence* (``no_face``,
    ``no_speech``, ``no_audio``, ``no_video``, ``too_short``) describe valid input that lacks what
    an analysis needs; ``skipped`` marks a file a batch run found but deliberately did not
    process (not media); the others are failures to read or process the input.
    """

    OK = "ok"
    NO_FACE = "no_face"
    NO_SPEECH = "no_speech"
    NO_AUDIO = "no_audio"
    NO_VIDEO = "no_video"
    TOO_SHORT = "too_short"
    TOO_LARGE = "too_large"
    EMPTY = "empty"
    NOT_FOUND = "not_found"
    DECODE_ERROR = "decode_error"
    UNSUPPORTED_CODEC = "unsupported_codec"
    OUT_OF_RANGE = "out_of_range"
    MODEL_ERROR = "model_error"
    CONFIG_ERROR = "config_error"
    ERROR = "error"
    SKIPPED = "skipped"  # batch: a file found in a folder/glob that is not media; deliberately not processed

    @property
    def is_failure(self) -> bool:
        """True when the input could not be read or processed at all."""
        return self in _FAILURES

    def __str__(self) -> str:  # "ok", not "Status.OK"
        return self.value


_FAILURES = frozenset(
    {
        Status.TOO_LARGE,
        Status.EMPTY,
        Status.NOT_FOUND,
        Status.DECODE_ERROR,
        Status.UNSUPPORTED_CODEC,
        Status.MODEL_ERROR,
        Status.CONFIG_ERROR,
        Status.ERROR,
    }
)


def to_jsonable(value: Any) -> Any:
    """Convert dataclasses, enums, numpy scalars/arrays and tuples into JSON-friendly values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # fields marked metadata={"json": False}:
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)  # working data only
                if f.metadata.get("json", True)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return to_jsonable(value.tolist())
    return value


T = TypeVar("T", bound="Serializable")


def _from_jsonable(tp: Any, value: Any) -> Any:
    """Rebuild a value of annotated type ``tp`` from its JSON form."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        for arg in args:
            try:
                return _from_jsonable(arg, value)
            except (TypeError, ValueError, KeyError):
                continue
        return value
    if origin in (tuple,):
        targs = typing.get_args(tp)
        if len(targs) == 2 and targs[1] is Ellipsis:
            return tuple(_from_jsonable(targs[0], v) for v in value)
        return tuple(_from_jsonable(a, v) for a, v in zip(targs, value))
    if origin in (list,):
        (arg,) = typing.get_args(tp)
        return [_from_jsonable(arg, v) for v in value]
    if origin in (dict,):
        _, varg = typing.get_args(tp)
        return {k: _from_jsonable(varg, v) for k, v in value.items()}
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return tp(value)
        if dataclasses.is_dataclass(tp):
            return tp.from_dict(value) if hasattr(tp, "from_dict") else tp(**value)
        if tp is float:
            return float(value)
        if tp is int and not isinstance(value, bool):
            return int(value)
    return value


class Serializable:
    """Mixin for frozen dataclasses: ``to_dict``, ``from_dict``, ``to_json`` with a schema version."""

    schema_version: ClassVar[int] = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (enums as strings, tuples as lists)."""
        out = to_jsonable(self)
        out["schema_version"] = self.schema_version
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        """Serialise to a JSON string."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """Rebuild an instance from :meth:`to_dict` output; unknown keys are ignored."""
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                kwargs[f.name] = _from_jsonable(hints[f.name], data[f.name])
        return cls(**kwargs)

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        """Rebuild an instance from :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))
