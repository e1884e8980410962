"""Helpers shared by the CLI commands: JSON output, status-to-exit-code mapping, shared options.

Rules every command follows (README, "Commands"):

* ``--json``: a command that takes several inputs (``FILE...``) prints a JSON array with one object per
  input, even for one input; a command that takes one input prints one object;
* ``--device``: ``auto`` by default (CUDA when available, else CPU); ``cpu``, ``cuda``, ``cuda:N``;
* a directory, a missing file or a symlink loop given as an input is a result like any unreadable
  input (status ``not_found`` with a message, in the JSON too), not a usage error; folders are for
  ``avsync batch``.

Exit codes (all commands):

* 0 — every input was processed (statuses such as ``no_audio`` or ``no_face`` are results, not failures);
* 1 — at least one input could not be read or processed (``decode_error``, ``not_found``, ``empty``, ...);
* 2 — usage error (bad option or argument);
* 3 — internal error (a bug: please report it with the traceback shown by ``--debug``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from avsync.device import PRECISIONS

if TYPE_CHECKING:
    from avsync import Status

EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

_F = TypeVar("_F", bound=Callable[..., Any])  # a function decorated by a shared click option


def artefact_models() -> list[str]:
    """Artefact model names for ``--artefact-model`` / ``--model``, from the bundle registry (without importing
    :mod:`avsync.artefacts`, which loads torch: ``--help`` stays fast)."""
    from avsync.bundles import names_of
    from avsync.model_files import ARTEFACT_ARCHITECTURE

    return names_of(ARTEFACT_ARCHITECTURE)


def echo_json(payload: Any) -> None:
    """Print ``payload`` as indented JSON on stdout."""
    click.echo(json.dumps(payload, indent=2, allow_nan=False))


def warn(message: str) -> None:
    click.echo(message, err=True)


def exit_code_for(statuses: Iterable[Status | str]) -> int:
    from avsync import Status

    return EXIT_INPUT_FAILED if any(Status(s).is_failure for s in statuses) else EXIT_OK


def setup_exit_code(e: BaseException) -> int:
    """Exit code of an error met while a command sets itself up (a model, a device, a reference): a configuration it
    cannot run with is a usage error (2); a file it could not read, 1."""
    from avsync import ConfigError

    return EXIT_USAGE if isinstance(e, ConfigError) else EXIT_INPUT_FAILED


def fail(message: str, code: int = EXIT_INPUT_FAILED) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def check_outputs(outputs: Iterable[tuple[str, Any]], inputs: Iterable[str]) -> None:
    """Before any work: every file a command will write (``(option, path)``) is neither one of its inputs (a
    recording would be overwritten by a report) nor unwritable (a folder of that name, a parent that is a file or
    read-only). Either is a usage error said up front (exit 2), not an internal error after the analysis."""
    import os
    from pathlib import Path

    ins = [Path(f) for f in inputs]
    real_ins = {os.path.realpath(f) for f in ins}
    for opt, out in outputs:
        p = Path(out)
        same = os.path.realpath(p) in real_ins
        if not same and p.exists():
            same = any(f.exists() and os.path.samefile(p, f) for f in ins)  # a hard link to an input
        if same:
            raise click.UsageError(f"{opt} {out} is one of the inputs: it would be overwritten; name another file")
        if p.is_dir():
            raise click.UsageError(f"{opt} {out} is a folder; name a file")
        folder = p.parent
        while not folder.exists() and folder != folder.parent:  # the folders the command would create
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
            raise click.UsageError(f"{opt} {out} cannot be written ({folder} is not a folder this user can write to)"
                                   if not p.exists() else f"{opt} {out} cannot be written (no write permission)")


DEVICE_HELP = "Torch device: auto (CUDA when available, else CPU), cpu, cuda or cuda:N."


def check_device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return value
    name = str(value).strip().lower()
    head, _, index = name.partition(":")
    if name in ("auto", "cpu") or (head == "cuda" and (not index or index.isdigit())):
        return name
    raise click.BadParameter(f"{value!r} is not a device; use auto, cpu, cuda or cuda:N")


def device_option(help: str = DEVICE_HELP) -> Callable[[_F], _F]:
    """The ``--device`` option, ``auto`` by default in every command."""
    return click.option("--device", default="auto", show_default=True, callback=check_device, help=help)


def precision_option(*, default: str | None, help: str) -> Callable[[_F], _F]:
    """The ``--precision`` option (choices: :data:`avsync.device.PRECISIONS`)."""
    return click.option("--precision", type=click.Choice(PRECISIONS), default=default,
                        show_default=default is not None, help=help)


@contextmanager
def progress_bar(enabled: bool, *, unit: str, desc: str) -> Iterator[Callable[[float, float], None] | None]:
    """A stderr progress bar (shown on a terminal only) for one input: yields ``update(done, total)`` or ``None``."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=0, unit=unit, desc=desc, leave=False, file=sys.stderr, disable=None)

    def update(done: float, total: float) -> None:
        total = round(total)
        if bar.total != total:
            bar.total = total
        bar.n = round(done)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
